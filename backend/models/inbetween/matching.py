"""A data-driven base for the in-betweener: motion matching over the train split, warped onto the keys.

The spline base (:func:`.frames.continue_velocities`) bends an interpolation; it cannot make steps or arcs. This base
retrieves real motion instead. For a gap between two full-body keys ``a`` and ``b = a + L`` it looks for the training
window ``[i, i + L]`` whose

* start matches the state at ``a``: the pose (root height, a few joints relative to the root in the heading frame)
  and, where the frame before ``a`` is known (a context frame, or a frame an earlier gap was filled with), the
  velocity (root and ankles in the heading frame, turning rate);
* end matches the key at ``b``: its pose, the root's ground displacement from ``a`` to ``b`` in ``a``'s heading
  frame, and the heading change from ``a`` to ``b``;

then aligns the window to both keys and warps it through them (Witkin & Popovic 1995, "Motion warping"): the
rigid ground alignment (heading + ground position) of the window's first frame on key ``a`` and of its last frame
on key ``b`` are blended across the gap, and what is left (root height, every joint's local rotation, the root's
exact position) is a per-channel offset at each end (for rotations a quaternion offset on the left) blended with a
smooth weight. At the window's first frame the result is key ``a``, at its last frame key ``b``. The best ``k``
windows are each warped so and blended, weighted by how much worse than the best their matching cost is
(:func:`blend_weights`).

The index (:class:`MotionIndex`) holds every frame of the motions it is built from (float32), and candidate starts
every ``stride`` frames. A query is one matrix product over the candidates (per gap length, the candidates'
end and displacement descriptors are cached), vectorised over a batch of gaps. :func:`train_index` builds it from the
**train** split of a corpus only; the eval never sees its val/test takes in it.

Gaps where either end is not a full-body key (partial-body keys), or where a frame inside the gap is keyed, keep the
spline base: :func:`match_base` leaves them alone.
"""
from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...motion.kinematics import fk_positions
from ...motion.rotations import (
    np_quat_about_z,
    np_quat_apply,
    np_quat_inv,
    np_quat_mul,
    np_quat_slerp,
    np_quat_to_6d,
    np_sixd_to_quat,
)
from ...motion.skeleton import CANONICAL

# joints whose positions (relative to the root, in the heading frame) describe a pose; ankles also give velocities
POSE_JOINTS = ("left_ankle", "right_ankle", "left_foot", "right_foot", "left_wrist", "right_wrist", "head")
VEL_JOINTS = ("left_ankle", "right_ankle")
_POSE_IDX = [CANONICAL.index(n) for n in POSE_JOINTS]
_VEL_COLS = [POSE_JOINTS.index(n) for n in VEL_JOINTS]
POSE_DIM = 1 + 3 * len(POSE_JOINTS)  # root height + joints
VEL_DIM = 3 + 3 * len(VEL_JOINTS) + 1  # root velocity + ankle velocities + turning rate
GROUPS = ("pose", "vel", "end", "disp", "turn")


MAX_STEP_DEG = 60.0  # a joint turning more than this in one 30 fps frame is a capture glitch, not motion


class MatchingError(ValueError):
    """A matching index or query that cannot work (no frames, wrong shapes); the message says what to fix."""


@dataclass
class MatchConfig:
    """The knobs (chosen on the val split, see docs/inbetween.md). Weights are per descriptor group; every
    dimension is standardised over the index and each group's squared distance is divided by its size."""
    stride: int = 2  # frames between candidate starts
    w_pose: float = 1.0  # pose at a
    w_vel: float = 1.0  # velocity at a (where known)
    w_end: float = 1.0  # pose at b
    w_disp: float = 1.0  # root ground displacement a -> b
    w_turn: float = 1.0  # heading change a -> b
    k: int = 32  # candidates blended (after each is warped onto the keys)
    # blend weights exp(-(cost - best) / (blend_tau * best)): candidates as good as the best weigh alike, a worse one
    # fades; 0 weighs all k alike (the first matching base: k = 8, uniform)
    blend_tau: float = 0.5
    ease: str = "smoothstep"  # "smoothstep" or "linear": how the end offsets are blended across the gap
    chain: bool = True  # a gap whose previous frame was filled by matching uses that fill's velocity
    match_velocity: bool = True  # where the velocity at a is known, bend the fill to leave a with it exactly

    def weights(self) -> np.ndarray:
        return np.array([self.w_pose, self.w_vel, self.w_end, self.w_disp, self.w_turn], np.float64)


# --------------------------------------------------------------------------------------------------- descriptors
def yaw_of(pelvis_q: np.ndarray) -> np.ndarray:
    """Heading about Z (radians) the way :func:`.frames.heading_transform` measures it: the angle of the pelvis' +X
    axis on the ground (0 = facing -Y)."""
    a = np_quat_apply(pelvis_q, np.array([1.0, 0.0, 0.0]))
    return np.arctan2(a[..., 1], a[..., 0])


def _rotz(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (...,3) or (...,2) vectors about Z by ``angle`` (...)."""
    c, s = np.cos(angle), np.sin(angle)
    x, y = v[..., 0], v[..., 1]
    out = v.copy()
    out[..., 0] = c * x - s * y
    out[..., 1] = s * x + c * y
    return out


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def frame_features(root: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame of (...,3) roots and (...,22,4) local rotations: the pose descriptor (..., POSE_DIM), the world
    positions of :data:`POSE_JOINTS` (...,J,3) and the heading (...)."""
    pos = fk_positions(rot, root, CANONICAL.offsets, CANONICAL.parents, _POSE_IDX)
    yaw = yaw_of(rot[..., 0, :])
    rel = _rotz(pos - root[..., None, :], -yaw[..., None])
    pose = np.concatenate([root[..., 2:3], rel.reshape(rel.shape[:-2] + (-1,))], -1)
    return pose, pos, yaw


def velocity_features(root0, pos0, yaw0, root1, pos1, yaw1, fps: float = 30.0) -> np.ndarray:
    """Velocity descriptor of frame 1 from frame 0 before it: root and ankle velocities (m/s) in frame 1's heading
    frame, and the turning rate (rad/s)."""
    vr = _rotz((root1 - root0) * fps, -yaw1)
    va = _rotz((pos1[..., _VEL_COLS, :] - pos0[..., _VEL_COLS, :]) * fps, -yaw1[..., None])
    turn = _wrap(yaw1 - yaw0)[..., None] * fps
    return np.concatenate([vr, va.reshape(va.shape[:-2] + (-1,)), turn], -1)


def end_features(root_a, yaw_a, root_b, yaw_b) -> tuple[np.ndarray, np.ndarray]:
    """Root ground displacement a -> b in a's heading frame (...,2) and the heading change as (cos, sin) (...,2)."""
    d = _rotz(root_b - root_a, -yaw_a)[..., :2]
    dy = _wrap(yaw_b - yaw_a)
    return d, np.stack([np.cos(dy), np.sin(dy)], -1)


# ------------------------------------------------------------------------------------------------------ the index
@dataclass
class MotionIndex:
    """Frames of some motions (all of them, float32) with their descriptors, and candidate starts every ``stride``
    frames. ``source[c]`` names the motion ``c`` (a corpus clip id) and ``splits`` the splits it was built from."""
    root: np.ndarray  # (N,3) float32
    rot: np.ndarray  # (N,22,4) float32, sign-continuous along each motion
    clip: np.ndarray  # (N,) int32: which motion each frame belongs to
    clip_end: np.ndarray  # (N,) int64: one past the motion's last frame
    clip_begin: np.ndarray  # (N,) int64: the motion's first frame
    glitch: np.ndarray  # (N+1,) int64: cumulative count of frames a joint reaches by a jump (a mocap flip)
    pose: np.ndarray  # (N,POSE_DIM) float32
    vel: np.ndarray  # (N,VEL_DIM) float32
    yaw: np.ndarray  # (N,) float64
    starts: np.ndarray  # (M,) int64 candidate start frames
    source: list
    splits: tuple = ("train",)
    config: MatchConfig = field(default_factory=MatchConfig)
    fps: float = 30.0

    def __post_init__(self):
        # standardisation of every descriptor dimension over the candidates (displacement per gap length, later)
        s = self.starts
        self.pose_mean, self.pose_std = self.pose[s].mean(0), self.pose[s].std(0) + 1e-3
        self.vel_mean, self.vel_std = self.vel[s].mean(0), self.vel[s].std(0) + 1e-3
        self._per_len: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    @property
    def num_frames(self) -> int:
        return len(self.root)

    @classmethod
    def from_motions(cls, motions, names=None, config: MatchConfig | None = None, splits=("train",)) -> MotionIndex:
        cfg = config or MatchConfig()
        motions = list(motions)
        if not motions:
            raise MatchingError("a matching index needs at least one motion")
        roots, rots, clip, begin, end = [], [], [], [], []
        n = 0
        for c, m in enumerate(motions):
            if m.skeleton.names != CANONICAL.names:
                raise MatchingError("the matching index is built on the canonical skeleton; retarget first")
            if abs(m.fps - 30.0) > 1e-6:
                m = m.resample(30.0)
            T = m.num_frames
            if T < 2:
                continue
            q = m.rotations.copy()
            # sign-continuous along time, so blended candidates and offsets take short arcs
            flip = np.sum(q[1:] * q[:-1], -1) < 0
            sign = np.where(np.cumsum(flip, 0) % 2 == 1, -1.0, 1.0)
            q[1:] *= sign[..., None]
            roots.append(m.root_pos)
            rots.append(q)
            clip.append(np.full(T, c, np.int32))
            begin.append(np.full(T, n, np.int64))
            end.append(np.full(T, n + T, np.int64))
            n += T
        if n == 0:
            raise MatchingError("the matching index needs motions of at least two frames")
        root = np.concatenate(roots).astype(np.float64)
        rot = np.concatenate(rots).astype(np.float64)
        clip, clip_begin, clip_end = np.concatenate(clip), np.concatenate(begin), np.concatenate(end)
        pose, pos, yaw = frame_features(root, rot)
        # velocity into each frame from the one before it; a motion's first frame takes its second frame's
        t = np.arange(n)
        first = t == clip_begin
        prev = np.where(first, t, t - 1)
        vel = velocity_features(root[prev], pos[prev], yaw[prev], root, pos, yaw)
        vel[first] = vel[np.flatnonzero(first) + 1]
        # mocap glitches: a joint turning more than MAX_STEP_DEG in one frame (ankle flips of 90-120 degrees exist
        # in the corpus); a candidate window that contains one is never retrieved (see _length_table)
        step = np.zeros(n, bool)
        dots = np.abs(np.sum(rot[1:] * rot[:-1], -1)).min(-1)
        step[1:] = (np.degrees(2 * np.arccos(np.clip(dots, -1.0, 1.0))) > MAX_STEP_DEG) & ~first[1:]
        glitch = np.concatenate([[0], np.cumsum(step)]).astype(np.int64)
        starts = np.flatnonzero(((t - clip_begin) % cfg.stride == 0) & (clip_end - t >= 3))
        if len(starts) == 0:
            raise MatchingError("the matching index has no candidate start: its motions are too short")
        names = list(names) if names is not None else [m.meta.get("name", str(c)) for c, m in enumerate(motions)]
        return cls(root.astype(np.float32), rot.astype(np.float32), clip, clip_end, clip_begin, glitch,
                   pose.astype(np.float32), vel.astype(np.float32), yaw, starts, names, tuple(splits), cfg)

    # ------------------------------------------------------------------------------------------------- queries
    def _length_table(self, L: int):
        """Candidates that fit a gap of ``L`` frames, with their standardised descriptors (float32, one row each:
        pose | vel | end pose | displacement | turn), per-group squared norms, and the displacement scale."""
        with self._lock:
            if L in self._per_len:
                self._per_len.move_to_end(L)
                return self._per_len[L]
        s = self.starts[self.clip_end[self.starts] - self.starts > L]
        # no glitch on frames s - 1 .. s + L (the window with the frame before it)
        s = s[self.glitch[s + L + 1] - self.glitch[np.maximum(s - 1, self.clip_begin[s])] == 0]
        if len(s) == 0:
            raise MatchingError(f"no motion in the matching index is longer than the gap ({L} frames)")
        e = s + L
        d, t = end_features(self.root[s].astype(np.float64), self.yaw[s], self.root[e].astype(np.float64),
                            self.yaw[e])
        d_mean, d_std = d.mean(0), d.std(0) + 1e-2
        X = np.concatenate([(self.pose[s] - self.pose_mean) / self.pose_std,
                            (self.vel[s] - self.vel_mean) / self.vel_std,
                            (self.pose[e] - self.pose_mean) / self.pose_std,
                            (d - d_mean) / d_std, t / 0.5], -1).astype(np.float32)
        sl = _group_slices()
        norms = np.stack([np.square(X[:, g]).sum(1) for g in sl], 0).astype(np.float32)  # (5,M)
        # stored (D,M): a query is one pass over contiguous rows (4x faster than (M,D) on one core)
        table = (s, np.ascontiguousarray(X.T), norms, (d_mean, d_std))
        with self._lock:
            self._per_len[L] = table
            while len(self._per_len) > 8:
                self._per_len.popitem(last=False)
        return table

    def query(self, L: int, pose_a, vel_a, pose_b, disp, turn, has_vel=None, k: int | None = None,
              weights=None) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` training windows for ``Q`` gaps of ``L`` frames. ``pose_a``/``pose_b`` (Q,POSE_DIM),
        ``vel_a`` (Q,VEL_DIM) (ignored where ``has_vel`` is False), ``disp`` (Q,2), ``turn`` (Q,2) as
        :func:`end_features` gives them. Returns start frames (Q,k) and costs (Q,k), best first."""
        cfg = self.config
        k = k or cfg.k
        if L < 1:
            raise MatchingError(f"a gap needs at least one frame, got L={L}")
        pose_a = np.atleast_2d(pose_a)
        Q = len(pose_a)
        has_vel = np.ones(Q, bool) if has_vel is None else np.asarray(has_vel, bool)
        s, XT, norms, (d_mean, d_std) = self._length_table(int(L))
        q = np.concatenate([(pose_a - self.pose_mean) / self.pose_std,
                            (np.atleast_2d(vel_a) - self.vel_mean) / self.vel_std,
                            (np.atleast_2d(pose_b) - self.pose_mean) / self.pose_std,
                            (np.atleast_2d(disp) - d_mean) / d_std, np.atleast_2d(turn) / 0.5], -1)
        if not np.all(np.isfinite(q)):
            raise MatchingError("matching query has NaN or infinite descriptors")
        sl = _group_slices()
        w = np.tile(cfg.weights() if weights is None else np.asarray(weights, np.float64), (Q, 1))
        w[~has_vel, 1] = 0.0
        w = w / np.array([g.stop - g.start for g in sl])  # per-dimension weight within a group
        wd = np.concatenate([np.repeat(w[:, i:i + 1], g.stop - g.start, 1) for i, g in enumerate(sl)], 1)
        qn = np.stack([np.square(q[:, g]).sum(1) for g in sl], 1)
        const = (w * qn).sum(1)
        # cost = sum_g w_g |X_g - q_g|^2 = w @ norms - 2 (w q) @ X^T + const, for every candidate and query at once
        cost = w.astype(np.float32) @ norms
        cost += (-2.0 * wd * q).astype(np.float32) @ XT  # (Q,M)
        kk = min(k, cost.shape[1])
        vals, idx = torch.topk(torch.from_numpy(cost), kk, dim=1, largest=False)
        return s[idx.numpy()], vals.numpy().astype(np.float64) + const[:, None]

    def window(self, start: np.ndarray, L: int, before: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Frames [start - before, start + L] of the index: roots (...,before+L+1,3) and rotations
        (...,before+L+1,22,4), float64; frames before the start of a motion repeat its first frame."""
        start = np.asarray(start)
        t = start[..., None] + np.arange(-before, L + 1)
        t = np.maximum(t, self.clip_begin[start][..., None])
        return self.root[t].astype(np.float64), self.rot[t].astype(np.float64)


def _group_slices():
    P, V = POSE_DIM, VEL_DIM
    return [slice(0, P), slice(P, P + V), slice(P + V, 2 * P + V), slice(2 * P + V, 2 * P + V + 2),
            slice(2 * P + V + 2, 2 * P + V + 4)]


@lru_cache(maxsize=2)
def _train_index_cached(path: str, stride: int, exclude: tuple = ()) -> MotionIndex:
    from ...data.corpus import load_corpus
    corpus = load_corpus(path=path)
    clips = [c for c in corpus.clips if c.split == "train" and c.id not in set(exclude)]
    if not clips:
        raise MatchingError(f"the corpus at {path} has no train clip to match against")
    return MotionIndex.from_motions([c.motion for c in clips], [c.id for c in clips], MatchConfig(stride=stride),
                                    splits=("train",))


def train_index(path: str | Path | None = None, config: MatchConfig | None = None, exclude=()) -> MotionIndex:
    """The index over the **train** split of a corpus (default: corpus v3 where built, else the committed one),
    less the clip ids in ``exclude`` (an eval on train clips leaves them out), built once per process and stride
    (about 10 s and 1 GB for corpus v3's 847k train frames) and shared; a given ``config`` becomes its configuration
    (the stride is the one it was built with)."""
    if path is None:
        from ...data.corpus import CORPUS_V3, DEFAULT_CORPUS
        path = CORPUS_V3 if (Path(CORPUS_V3) / "manifest.json").exists() else DEFAULT_CORPUS
    cfg = config or MatchConfig()
    index = _train_index_cached(str(path), int(cfg.stride), tuple(sorted(exclude)))
    index.config = cfg
    return index


# ------------------------------------------------------------------------------------------------------- warping
def ease(u: np.ndarray, kind: str = "smoothstep") -> np.ndarray:
    if kind == "linear":
        return u
    if kind == "smoothstep":
        return u * u * (3 - 2 * u)
    raise MatchingError(f"unknown ease {kind!r}: use 'smoothstep' or 'linear'")


def warp_window(win_root, win_rot, root_a, rot_a, root_b, rot_b, kind: str = "smoothstep", first: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Warp windows (...,n,3), (...,n,22,4) so their frame ``first`` is key a (root (...,3), rotations (...,22,4))
    and their last frame key b (L = n - 1 - first frames later); frames before ``first`` take key a's offsets.
    Returns the warped roots and rotations (float64, unit quaternions)."""
    n = win_root.shape[-2]
    f0, last = first, n - 1
    u = ease(np.clip((np.arange(n) - f0) / max(last - f0, 1), 0.0, 1.0), kind)  # (n,)
    sh = win_root.shape[:-2]
    us = u.reshape((1,) * len(sh) + (n,))
    # rigid ground alignment of the window's first frame on a and of its last frame on b, blended
    yw0, ywL = yaw_of(win_rot[..., f0, 0, :]), yaw_of(win_rot[..., last, 0, :])
    phi_a = _wrap(yaw_of(rot_a[..., 0, :]) - yw0)
    phi_b = phi_a + _wrap(yaw_of(rot_b[..., 0, :]) - ywL - phi_a)
    pa = _rotz(win_root - win_root[..., f0:f0 + 1, :], phi_a[..., None]) + root_a[..., None, :]
    pb = _rotz(win_root - win_root[..., last:, :], phi_b[..., None]) + root_b[..., None, :]
    root = pa * (1 - us[..., None]) + pb * us[..., None]
    # the height follows the window plus blended end offsets (the rotation above left z alone)
    za = root_a[..., 2] - win_root[..., f0, 2]
    zb = root_b[..., 2] - win_root[..., last, 2]
    root[..., 2] = win_root[..., 2] + za[..., None] * (1 - us) + zb[..., None] * us
    rot = win_rot.copy()
    phi = phi_a[..., None] * (1 - us) + phi_b[..., None] * us
    rot[..., 0, :] = np_quat_mul(np_quat_about_z(phi), win_rot[..., 0, :])
    # per-joint quaternion offsets at both ends (on the left), slerped across the gap
    off_a = np_quat_mul(rot_a, np_quat_inv(rot[..., f0, :, :]))
    off_b = np_quat_mul(rot_b, np_quat_inv(rot[..., last, :, :]))
    off_b = np.where(np.sum(off_a * off_b, -1, keepdims=True) < 0, -off_b, off_b)
    full = rot.shape
    off = np_quat_slerp(np.broadcast_to(off_a[..., None, :, :], full), np.broadcast_to(off_b[..., None, :, :], full),
                        np.broadcast_to(us[..., None], full[:-1]))
    out = np_quat_mul(off, rot)
    out = out / np.linalg.norm(out, axis=-1, keepdims=True)
    return root, out


def blend_weights(costs: np.ndarray, tau: float) -> np.ndarray:
    """(k,) weights summing to 1 for candidates of matching ``costs`` (best first): ``exp(-(c - best) / (tau *
    best))``, so the weight depends on how much worse than the best a candidate is, relative to the best; ``tau``
    0 gives uniform weights."""
    c = np.asarray(costs, np.float64)
    if tau <= 0 or len(c) == 1:
        return np.full(len(c), 1.0 / len(c))
    w = np.exp(-(c - c.min()) / (tau * max(float(c.min()), 1e-6)))
    return w / w.sum()


def blend(roots: np.ndarray, rots: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted blend (default uniform) of k warped candidates (k,T,3), (k,T,22,4) (quaternions sign-aligned on the
    first, normalised after)."""
    if len(roots) == 1:
        return roots[0], rots[0]
    w = np.full(len(roots), 1.0 / len(roots)) if weights is None else np.asarray(weights, np.float64)
    s = np.where(np.sum(rots * rots[:1], -1, keepdims=True) < 0, -1.0, 1.0)
    q = np.tensordot(w, rots * s, 1)
    return np.tensordot(w, roots, 1), q / np.linalg.norm(q, axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------- the base over a batch
@dataclass
class MatchInfo:
    """What the last :func:`match_base` call retrieved, per filled gap: (batch row, a, b, start frames, costs)."""
    gaps: list = field(default_factory=list)


def full_gaps(keyed_row: np.ndarray) -> list[tuple[int, int]]:
    """Gaps (a, b), b - a >= 2, between consecutive full-body keyed frames of one window (keyed (T,23)), with
    nothing keyed strictly inside."""
    full = keyed_row.all(-1)
    anyk = keyed_row.any(-1)
    f = np.flatnonzero(full)
    out = []
    for a, b in itertools.pairwise(f):
        if b - a >= 2 and not anyk[a + 1:b].any():
            out.append((int(a), int(b)))
    return out


def _continue_velocity(win_root, win_rot, ctx_root, ctx_rot):
    """Bend a warped window (frame 0 = the frame before key a, frame 1 = key a, last = key b) so it leaves a with
    the context's velocity (``ctx_*``: the frame before a and a): the velocity difference, in feature space (root +
    6D), times the cubic Hermite term that has slope 1 at a and vanishes with its slope at b."""
    L = len(win_root) - 2
    f = np.concatenate([win_root, np_quat_to_6d(win_rot).reshape(L + 2, -1)], -1)
    c = np.concatenate([ctx_root, np_quat_to_6d(ctx_rot).reshape(2, -1)], -1)
    dv = (c[1] - c[0]) - (f[1] - f[0])
    u = np.clip((np.arange(L + 2) - 1) / L, 0.0, 1.0)[:, None]
    f = f + (u ** 3 - 2 * u ** 2 + u) * L * dv
    return f[:, :3], np_sixd_to_quat(f[:, 3:].reshape(L + 2, -1, 6))


def match_base(base: torch.Tensor, feats: torch.Tensor, keyed: torch.Tensor, index: MotionIndex,
               info: MatchInfo | None = None) -> torch.Tensor:
    """Replace ``base`` (B,T,135) on the frames inside every full-body-keyed gap by retrieved, warped training
    motion (:class:`MotionIndex`); other frames keep ``base``. ``feats`` are the canonical-frame windows (keyed
    channels exact), ``keyed`` (B,T,23). Gaps are filled in time order per window: a gap whose previous frame is
    a key or was just filled by matching matches on velocity too (``config.chain`` for the latter)."""
    cfg = index.config
    kn = keyed.cpu().numpy().astype(bool)
    B, T = kn.shape[:2]
    gaps = [full_gaps(kn[b]) for b in range(B)]
    if not any(gaps):
        return base
    rows = [b for b in range(B) if gaps[b]]
    x = feats[rows].detach().cpu().double().numpy()
    root = x[..., :3].copy()
    rot = np_sixd_to_quat(x[..., 3:].reshape(len(rows), T, -1, 6))
    known = kn[rows].all(-1)  # full-body keyed frames; filled frames join them (for chaining)
    filled = np.zeros_like(known)
    for r in range(max(len(g) for g in gaps)):
        items = [(i, *gaps[b][r]) for i, b in enumerate(rows) if r < len(gaps[b])]
        by_len: dict[int, list] = {}
        for it in items:
            by_len.setdefault(it[2] - it[1], []).append(it)
        for L, its in by_len.items():
            ii = np.array([it[0] for it in its])
            a = np.array([it[1] for it in its])
            b = a + L
            hv = np.array([a_ - 1 >= 0 and (kn[rows[i]][a_ - 1].all() or (cfg.chain and filled[i, a_ - 1]))
                           for i, a_ in zip(ii, a)], bool)
            ap = np.maximum(a - 1, 0)
            fr_idx = np.stack([ap, a, b], 1)  # (n,3)
            r_ = root[ii[:, None], fr_idx]
            q_ = rot[ii[:, None], fr_idx]
            pose, pos, yaw = frame_features(r_, q_)
            vel = velocity_features(r_[:, 0], pos[:, 0], yaw[:, 0], r_[:, 1], pos[:, 1], yaw[:, 1])
            disp, turn = end_features(r_[:, 1], yaw[:, 1], r_[:, 2], yaw[:, 2])
            starts, costs = index.query(L, pose[:, 1], vel, pose[:, 2], disp, turn, has_vel=hv)
            # each candidate with the frame before it, warped onto both keys, then blended
            wr, wq = index.window(starts, L, before=1)  # (n,k,L+2,3), (n,k,L+2,22,4)
            kk = starts.shape[1]
            gr, gq = warp_window(wr, wq, np.repeat(r_[:, 1:2], kk, 1), np.repeat(q_[:, 1:2], kk, 1),
                                 np.repeat(r_[:, 2:3], kk, 1), np.repeat(q_[:, 2:3], kk, 1), cfg.ease, first=1)
            for n, (i, a_, b_) in enumerate(zip(ii, a, b)):
                br, bq = blend(gr[n], gq[n], blend_weights(costs[n], cfg.blend_tau))
                if cfg.match_velocity and hv[n]:
                    br, bq = _continue_velocity(br, bq, root[i, a_ - 1:a_ + 1], rot[i, a_ - 1:a_ + 1])
                root[i, a_ + 1:b_] = br[2:-1]
                rot[i, a_ + 1:b_] = bq[2:-1]
                filled[i, a_ + 1:b_] = True
                if info is not None:
                    info.gaps.append((rows[i], int(a_), int(b_), starts[n].copy(), costs[n].copy()))
    out = base.clone()
    d6 = np_quat_to_6d(rot).reshape(len(rows), T, -1)
    new = torch.from_numpy(np.concatenate([root, d6], -1)).to(base)
    sel = torch.from_numpy(filled)
    rows_t = torch.tensor(rows)
    cur = out[rows_t]
    cur[sel] = new[sel]
    out[rows_t] = cur
    return out
