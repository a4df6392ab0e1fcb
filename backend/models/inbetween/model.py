"""The learned in-betweener: network + normaliser + the exact-keys contract, on canonical features.

``Inbetweener.predict`` is the batched, differentiable core shared by training and inference:

1. canonicalise each window on a reference keyed frame (:func:`frames.reference_frame`);
2. build the interpolation baseline from the keyed channels only (slerp / lerp per joint, hold outside keys);
3. normalise, add the network's residual on unkeyed channels, de-normalise;
4. put every keyed channel back from the input, go back to the world frame, and put keys back again there.

So keyed channels never depend on the network: the keys come back to float precision by construction, and
:meth:`Inbetweener.fill` then writes the exact input quaternions and root positions over them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...motion.foot_plant import cleanup_foot_contacts
from ...motion.motion import Motion
from ...motion.rotations import np_quat_fix_hemisphere, np_quat_slerp, np_quat_to_6d
from ...motion.skeleton import CANONICAL, CANONICAL_FPS
from ...paths import weights_file
from ...schema import MAX_FRAMES  # one limit for the wire and the maths
from ..features import FEATURE_DIM, NUM_JOINTS, Normalizer, features_to_motion
from . import frames as fr
from .floor import keep_feet_above_floor
from .network import DeltaTransformer, NetConfig

# the committed model; MOTIONLOOM_INBETWEEN_WEIGHTS points the service at other weights (e.g. trained on LaFAN1)
DEFAULT_WEIGHTS = Path(os.environ.get("MOTIONLOOM_INBETWEEN_WEIGHTS") or weights_file("inbetween"))
MODEL_NAME = "inbetween-delta-transformer"


class InbetweenError(ValueError):
    """Keys that cannot be in-betweened (NaN, wrong shapes, absurd lengths); the message says what to fix."""


@dataclass
class Prepared:
    """A batch of windows in their canonical frames, with everything the network sees."""
    feats: torch.Tensor  # (B,T,135) canonical frame (keyed channels exact, others whatever the caller had)
    yaw: torch.Tensor
    origin: torch.Tensor
    keyed: torch.Tensor  # (B,T,23) bool
    chan_keyed: torch.Tensor  # (B,T,135) bool
    base: torch.Tensor  # (B,T,135) interpolation baseline, canonical frame
    has_base: torch.Tensor  # (B,T,23)
    d_prev: torch.Tensor
    d_next: torch.Tensor
    v_prev: torch.Tensor  # (B,T,135) velocity at the previous / next key (canonical frame, feature units)
    v_next: torch.Tensor
    has_vp: torch.Tensor  # (B,T,23)
    has_vn: torch.Tensor


def prepare(feats: torch.Tensor, joint_mask: torch.Tensor, root_mask: torch.Tensor, spline: bool = True,
            matcher=None, match_info=None) -> Prepared:
    """``matcher`` (a :class:`.matching.MotionIndex`): inside gaps between full-body keys the base is retrieved,
    warped training motion instead of the spline (:func:`.matching.match_base`, which records what it retrieved in
    ``match_info``, a :class:`.matching.MatchInfo`); other frames keep the spline."""
    joint_mask, root_mask = joint_mask.bool(), root_mask.bool()
    ref = fr.reference_frame(joint_mask, root_mask)
    yaw, origin = fr.heading_transform(feats, ref, joint_mask, root_mask)
    fc = fr.rotate_translate(feats, yaw, origin)
    keyed = fr.group_mask(joint_mask, root_mask)
    base, has = fr.interpolate(fc, joint_mask, root_mask)
    if spline:
        base = fr.continue_velocities(base, fc, keyed)
    if matcher is not None:
        from .matching import match_base
        base = match_base(base, fc, keyed, matcher, match_info)
    d_prev, d_next = fr.key_distances(keyed)
    vp, vn, hvp, hvn = fr.boundary_velocities(fc, keyed)
    return Prepared(fc, yaw, origin, keyed, fr.channel_mask(joint_mask, root_mask), base, has, d_prev, d_next,
                    vp, vn, hvp, hvn)


class Inbetweener:
    """Fills every unkeyed frame/joint of canonical-skeleton windows; keys are law."""
    name = MODEL_NAME
    unmapped_fill = "bezier"  # how the task runner fills rig bones with no canonical joint: as Blender would
    max_window = 256  # longer timelines are filled in overlapping windows, cross-faded (see :meth:`fill_features`)
    overlap = 64

    def __init__(self, net: DeltaTransformer, normalizer: Normalizer, meta: dict | None = None,
                 use_residual: bool = True):
        self.net = net.eval()
        self.normalizer = normalizer
        self.meta = dict(meta or {})
        self.use_residual = use_residual
        self.use_network = True  # False: the spline base alone (an ablation the benchmark reports)
        self.floor = True  # feet out of the floor on frames where the legs are not keyed (see .floor)
        self.plant = True  # planted feet stay planted (motion.foot_plant, the artist's keys as anchors)
        self.plant_speed = PLANT_SPEED
        # what the residual sits on: "spline" (frames.continue_velocities) or "matching" (retrieved train-split
        # motion warped onto full-body keys, .matching; other gaps keep the spline). ``matcher`` is its index,
        # built from the train split on first use when left None. The default is "matching" (chosen on the val
        # split, docs/inbetween.md); MOTIONLOOM_INBETWEEN_BASE=spline serves the spline base.
        self.base = DEFAULT_BASE
        self.matcher = None

    def base_matcher(self):
        """The matching index when ``base == "matching"`` (built on first use), else None."""
        if self.base not in BASES:
            raise InbetweenError(f"unknown in-betweening base {self.base!r}: use one of {', '.join(BASES)}")
        if self.base != "matching":
            return None
        if self.matcher is None:
            from .matching import train_index
            self.matcher = train_index()
        return self.matcher

    # ---------------------------------------------------------------------------------------------- weights
    @classmethod
    def load(cls, path: str | Path = DEFAULT_WEIGHTS) -> Inbetweener:
        from ..weights import load_weights
        tensors, meta = load_weights(Path(path))
        cfg = NetConfig.from_dict(meta.get("config", {}).get("net", {}))
        net = DeltaTransformer(cfg)
        net.load_state_dict({k[4:]: v.float() for k, v in tensors.items() if k.startswith("net.")})
        norm = Normalizer.from_state_dict(tensors)
        return cls(net, norm, meta, use_residual=meta.get("config", {}).get("use_residual", True))

    def state_dict(self) -> dict[str, torch.Tensor]:
        sd = {"net." + k: v for k, v in self.net.state_dict().items()}
        sd.update(self.normalizer.state_dict())
        return sd

    # ------------------------------------------------------------------------------------------------- core
    def predict_prepared(self, p: Prepared, pad: torch.Tensor | None = None, net=None) -> torch.Tensor:
        """Canonical-frame prediction (B,T,135) with keyed channels equal to ``p.feats``."""
        net = net or self.net
        grp = fr.group_of_channel().to(p.feats.device)
        has_c = p.has_base[..., grp]
        base_n = torch.where(has_c, self.normalizer(p.base), torch.zeros_like(p.base))
        std = self.normalizer.std.to(p.feats)
        args = (base_n, p.keyed, p.has_base, p.d_prev, p.d_next, p.v_prev / std, p.v_next / std, p.has_vp, p.has_vn)
        tokens = (net.tokens if hasattr(net, "tokens") else net.module.tokens)(*args)
        delta = net(tokens, pad) if self.use_network else torch.zeros_like(base_n)
        x_n = base_n + delta if self.use_residual else delta
        x = self.normalizer.inverse(x_n)
        return torch.where(p.chan_keyed, p.feats, x)

    @torch.no_grad()
    def predict(self, feats: torch.Tensor, joint_mask: torch.Tensor, root_mask: torch.Tensor,
                pad: torch.Tensor | None = None) -> torch.Tensor:
        """World-frame prediction for a batch of windows (B,T,135); keyed channels are the input's."""
        p = prepare(feats, joint_mask, root_mask, matcher=self.base_matcher())
        xc = self.predict_prepared(p, pad)
        xw = fr.rotate_translate(xc, p.yaw, p.origin, inverse=True)
        return torch.where(p.chan_keyed, feats, xw)

    def postprocess(self, m: Motion, keyed: np.ndarray) -> Motion:
        """After the network, on frames and joints the artist did not key (``keyed`` (T,22) bool): feet out of the
        floor (:mod:`.floor`), then planted feet pinned where they plant, by two-bone IK
        (:func:`backend.motion.foot_plant.cleanup_foot_contacts` on the fill's own contacts; a leg keyed on a frame
        is an anchor there, so plants that hold a key stay on the key's foot). Keyed joints keep their values."""
        if self.floor:
            m = keep_feet_above_floor(m, keyed)
        if self.plant:
            contacts = m.with_contacts(max_speed=self.plant_speed).contacts
            m = cleanup_foot_contacts(m, contacts=contacts, keyed=keyed)[0]
        return m

    # -------------------------------------------------------------------------------------------- sequences
    def fill_features(self, feats: np.ndarray, joint_mask: np.ndarray, root_mask: np.ndarray,
                      cancelled=None) -> np.ndarray:
        """One timeline (T,135) -> (T,135). Timelines longer than ``max_window`` are cut into windows that overlap
        by ``overlap`` frames and cross-faded linearly; every window keeps the keys, so the blend does too.
        ``cancelled()`` is called between windows and may raise to stop."""
        T = feats.shape[0]
        W = self.max_window
        starts = [0] if T <= W else list(range(0, T - W, W - self.overlap)) + [T - W]
        acc = np.zeros((T, FEATURE_DIM))
        wsum = np.zeros((T, 1))
        for s in starts:
            if cancelled is not None:
                cancelled()
            e = min(T, s + W)
            out = self.predict(torch.from_numpy(feats[None, s:e]).float(),
                               torch.from_numpy(joint_mask[None, s:e]), torch.from_numpy(root_mask[None, s:e]))
            w = np.ones((e - s, 1))
            if len(starts) > 1:
                ramp = np.linspace(0, 1, self.overlap + 2)[1:-1, None]
                if s > 0:
                    w[:self.overlap] = ramp
                if e < T:
                    w[-self.overlap:] = ramp[::-1]
            acc[s:e] += out[0].double().numpy() * w
            wsum[s:e] += w
        return acc / wsum

    def fill(self, keys, out_frames, fps: float = CANONICAL_FPS, ctx=None) -> Motion:
        """The task seam used by ``backend.pipelines.inbetween``: ``keys`` has ``frames`` (K,), ``rotations``
        (K,22,4) XYZW local, ``root`` (K,3), ``mask`` (K,22) and ``root_mask`` (K,) (a ``CanonicalKeys``);
        returns the canonical motion on ``out_frames`` with every keyed value exactly as given."""
        frames = np.asarray(keys.frames, np.int64)
        q = np.asarray(keys.rotations, np.float64)
        root = np.asarray(keys.root, np.float64)
        mask = np.asarray(keys.mask, bool)
        root_mask = np.asarray(keys.root_mask, bool)
        out_frames = np.asarray(out_frames, np.int64)
        check_keys(frames, q, root, mask, root_mask, out_frames)
        cancelled = getattr(ctx, "check_cancelled", None)
        motion = self.fill_keys(frames, q, root, mask, root_mask, out_frames, fps, cancelled)
        return motion

    def fill_keys(self, frames, q, root, mask, root_mask, out_frames, fps=CANONICAL_FPS, cancelled=None) -> Motion:
        speed = CANONICAL_FPS / float(fps)
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            return self._fill_resampled(frames, q, root, mask, root_mask, out_frames, fps, cancelled)
        lo, hi = int(min(frames[0], out_frames[0])), int(max(frames[-1], out_frames[-1]))
        T = hi - lo + 1
        rows = frames - lo
        q = q / np.linalg.norm(q, axis=-1, keepdims=True)
        feats = np.zeros((T, FEATURE_DIM), np.float32)
        ident6 = np_quat_to_6d(np.array([0, 0, 0, 1.0]))
        feats[:, 3:] = np.tile(ident6, NUM_JOINTS)
        feats[rows, :3] = root
        feats[rows, 3:] = np_quat_to_6d(q).reshape(len(frames), -1)
        # keys are rows of the timeline; the output covers out_frames (keys outside it still shape the fill)
        jm = np.zeros((T, NUM_JOINTS), bool)
        rm = np.zeros(T, bool)
        jm[rows] = mask
        rm[rows] = root_mask
        out = self.fill_features(feats, jm, rm, cancelled)
        m = self.postprocess(features_to_motion(out, fps), jm)
        rot = m.rotations
        rootp = m.root_pos
        # keys are law: the exact input values, bit for bit, on keyed (frame, joint)s
        for k, r in enumerate(rows):
            rot[r, mask[k]] = q[k, mask[k]]
            if root_mask[k]:
                rootp[r] = root[k]
        sel = out_frames - lo
        return Motion(CANONICAL, fps, rootp[sel], rot[sel])


    def _fill_resampled(self, frames, q, root, mask, root_mask, out_frames, fps, cancelled) -> Motion:
        """Frame rates the model never saw (trained at 30 fps, time-warped 0.8-1.25x): run it on a 30 fps grid
        (keys on their nearest grid frame; of two keys on one grid frame the later wins), read the result back at
        the scene's frames (slerp / lerp), and put the keys back exactly."""
        lo = int(min(frames[0], out_frames[0]))
        scale = CANONICAL_FPS / float(fps)
        g = np.rint((frames - lo) * scale).astype(np.int64)
        keep = np.r_[g[1:] != g[:-1], True]
        gf = g[keep]
        gout = np.arange(0, int(np.ceil((max(frames[-1], out_frames[-1]) - lo) * scale)) + 1)
        coarse = self.fill_keys(gf, q[keep], root[keep], mask[keep], root_mask[keep], gout, CANONICAL_FPS, cancelled)
        t = np.clip((out_frames - lo) * scale, 0, gout[-1])
        i0 = np.minimum(np.floor(t).astype(np.int64), max(len(gout) - 2, 0))
        i1 = np.minimum(i0 + 1, len(gout) - 1)
        w = (t - i0)[:, None]
        qq = np_quat_fix_hemisphere(coarse.rotations)
        rot = np_quat_slerp(qq[i0], qq[i1], np.broadcast_to(w, (len(t), NUM_JOINTS)))
        rootp = coarse.root_pos[i0] * (1 - w) + coarse.root_pos[i1] * w
        rows = np.searchsorted(out_frames, frames)
        for k, r in enumerate(rows):
            if r < len(out_frames) and out_frames[r] == frames[k]:
                rot[r, mask[k]] = q[k, mask[k]]
                if root_mask[k]:
                    rootp[r] = root[k]
        return Motion(CANONICAL, fps, rootp, rot)


# a fill's foot counts as planted below this horizontal speed (m/s; the contact detector's default is 0.4): chosen
# on the val split's sparse walks as the value whose skate is nearest real motion's (docs/inbetween.md)
PLANT_SPEED = 0.6
SPEED_RANGE = (0.8, 1.25)  # the training time warp: 30 fps models run as is on 24-37.5 fps scenes
BASES = ("spline", "matching")  # Inbetweener.base
DEFAULT_BASE = os.environ.get("MOTIONLOOM_INBETWEEN_BASE") or "matching"


def check_keys(frames, q, root, mask, root_mask, out_frames) -> None:
    """Raise :class:`InbetweenError` with a readable message for unusable keys."""
    K = len(frames)
    if K == 0:
        raise InbetweenError("no keys: give at least one keyed frame")
    if q.shape != (K, NUM_JOINTS, 4) or root.shape != (K, 3) or mask.shape != (K, NUM_JOINTS) or \
            root_mask.shape != (K,):
        raise InbetweenError(f"key arrays disagree: {K} frames, rotations {q.shape}, root {root.shape}, "
                             f"mask {mask.shape}, root_mask {root_mask.shape}")
    if np.any(np.diff(frames) <= 0):
        raise InbetweenError("key frames must be strictly increasing")
    if not np.all(np.isfinite(q)) or not np.all(np.isfinite(root)):
        raise InbetweenError("keys contain NaN or infinity")
    n = np.linalg.norm(q, axis=-1)
    if np.any(n[mask] < 1e-6):
        raise InbetweenError("a keyed rotation is a zero quaternion")
    if len(out_frames) == 0:
        raise InbetweenError("nothing to fill: the output frame range is empty")
    span = max(frames[-1], out_frames[-1]) - min(frames[0], out_frames[0]) + 1
    if span > MAX_FRAMES:
        raise InbetweenError(f"the timeline spans {span} frames; the in-betweener handles at most {MAX_FRAMES}")
    if not (mask.any() or root_mask.any()):
        raise InbetweenError("nothing is keyed: every mask entry is 0")


def build(cfg: NetConfig, normalizer: Normalizer, use_residual: bool = True) -> Inbetweener:
    """A fresh model for training: its residual is trained on the spline base (``prepare`` without a matcher),
    so it is validated on that base too."""
    model = Inbetweener(DeltaTransformer(cfg), normalizer, use_residual=use_residual)
    model.base = "spline"
    return model
