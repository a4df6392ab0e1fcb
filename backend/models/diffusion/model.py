"""The text-to-motion model as the rest of the backend uses it: prompt and controls in, canonical Motion out.

:meth:`Text2MotionModel.generate_motion` does, in order:

1. **Anchor.** The model works in a frame where the first frame stands above the origin facing -Y. Controls in
   world coordinates are moved into it by a yaw and a ground offset (:class:`.control.Frame`): a trajectory anchors
   at its first point, turned so the path's initial direction matches the direction this prompt naturally travels
   in (a quick unconstrained pre-pass tells: forward for "walk", sideways for "sideways dribble"); a keyed root at
   frame 0 anchors at that key's position and facing; a later root key anchors where the pre-pass would be at that
   frame. With no trajectory or keys the world *is* the model frame.
2. **Trajectory.** Timed: the root's ground position is observed on every frame. Path only: the path is walked with
   the pre-pass's own progress profile (its accelerations and pauses), stretched to cover the path in the requested
   frames. Heights come from the model.
3. **Windows.** Up to 120 frames are sampled at once. Longer motions and prompt timelines are sampled window by
   window; each new window observes the previous one's last ``overlap`` frames (a prefix: the first of them hard,
   the last ``seam_blend`` eased from old to new after sampling), so windows agree on the overlap and the seam is
   continuous. Each window gets the prompt of the timeline entry it starts in.
4. **Sampling** (:func:`.sampler.sample_window`): DDIM, classifier-free guidance, keys/trajectory imputed after
   every step, joint targets by FK guidance; a progress callback per denoising step with an x0 preview. With an
   exemplar bank (:mod:`.exemplar`) and ``exemplar_strength`` < 1, each window starts part-way down the schedule
   from the prompt's nearest training clip (bent onto the path when there is one), noised: retrieval-augmented
   sampling, so the prompt decides *what* happens and the network makes the motion.
5. **Cleanup**: foot contacts pinned (:mod:`.cleanup`), then keys re-imposed (keys win).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ...motion.edit import smoothstep
from ...motion.foot_plant import cleanup_foot_contacts
from ...motion.motion import Motion
from ...motion.skeleton import CANONICAL_FPS
from ...paths import weights_file
from ...schema import MAX_FRAMES  # one limit for the wire and the maths
from ..features import (
    CONTACT_DIMS,
    FEATURE_DIM_CONTACTS,
    NUM_JOINTS,
    POSE_DIMS,
    ROT_DIMS,
    Normalizer,
    features_to_motion,
)
from ..retrieval.path import face_along, travel_offset
from ..text.direction import facing_offsets, travel_facing
from ..timeline import Segment, TimelineError, split_timeline
from .control import (
    ControlError,
    Controls,
    Frame,
    JointTargets,
    Keys,
    Observation,
    heading_of_features,
    joint_slice,
    progress_profile,
    resample_path,
    travel_direction,
)
from .denoiser import DenoiserConfig, ExpertDenoisers, MotionDenoiser, denoiser_state_dict
from .exemplar import warp_to_observation
from .sampler import DEFAULT_GUIDANCE, Denoising, SamplingOptions, WindowConditions, sample_window, seeded_generator
from .schedule import CosineSchedule

DEFAULT_WEIGHTS = weights_file("text2motion")
MODEL_NAME = "text2motion-diffusion"
_POSE_CHANNELS = np.arange(POSE_DIMS.start, POSE_DIMS.stop)  # for Observation.set (index arrays)
IDENTITY_6D = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], np.float32)


class GenerationCancelled(Exception):
    """Raised from inside generation when the caller's ``cancelled()`` says so."""


ProgressFn = Callable[[int, int, str], None]
PartialFn = Callable[[Motion], None]


class Text2MotionModel:
    name = MODEL_NAME

    def __init__(self, denoiser: MotionDenoiser, normalizer: Normalizer, meta: dict | None = None, encoder=None,
                 window: int = 120, overlap: int = 20, seam_blend: int = 8, default_steps: int = 10,
                 pre_steps: int = 5, exemplars=None):
        self.denoiser = denoiser.eval()
        self.normalizer = normalizer
        self.meta = meta or {}
        self.schedule = CosineSchedule(denoiser.cfg.diffusion_steps)
        self.window = int(self.meta.get("training", {}).get("window", window))
        self.overlap = overlap
        self.seam_blend = seam_blend
        self.default_steps = default_steps
        self.pre_steps = pre_steps
        self._encoder = encoder
        self.exemplars = exemplars  # an .exemplar.ExemplarBank (training clips by text), or None
        # the strength used when a request does not say (chosen on val; 1.0: sample from pure noise)
        self.exemplar_strength = float(self.meta.get("sampling", {}).get("exemplar_strength", 1.0))
        self.guidance_scale = float(self.meta.get("sampling", {}).get("guidance_scale", DEFAULT_GUIDANCE))

    def default_guidance(self, exemplar_strength: float) -> float:
        """The guidance scale a request that names none samples with: the sidecar's (chosen on val together with
        its exemplar strength) when sampling from an exemplar, :data:`.sampler.DEFAULT_GUIDANCE` from noise."""
        return self.guidance_scale if exemplar_strength < 1.0 and self.exemplars is not None else DEFAULT_GUIDANCE

    # ------------------------------------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: Path | str | None = None, encoder=None, exemplars=None) -> Text2MotionModel:
        path = Path(path) if path else DEFAULT_WEIGHTS
        net, normalizer, meta = _load_denoiser(path)
        expert = meta.get("sampling", {}).get("low_noise_expert")
        if expert:  # {"weights": file beside this one, "max_t": the highest noise level it takes}
            low, other, _ = _load_denoiser(path.parent / expert["weights"])
            if not (torch.equal(other.mean, normalizer.mean) and torch.equal(other.std, normalizer.std)):
                raise ValueError(f"the low-noise expert {expert['weights']} was trained with another feature "
                                 f"normaliser than {path.name}")
            net = ExpertDenoisers(net, low, int(expert["max_t"]))
        return cls(net, normalizer, meta, encoder, exemplars=exemplars)

    @property
    def encoder(self):
        if self._encoder is None:
            from ..text import default_encoder
            self._encoder = default_encoder()
        return self._encoder

    def embed(self, prompt: str) -> torch.Tensor:
        return torch.tensor(self.encoder.encode([prompt])[0])

    # ------------------------------------------------------------------------------------------- generation
    def generate_motion(self, prompt: str, frames: int = 120, controls: Controls | None = None,
                        options: SamplingOptions | None = None, *, fps: float = CANONICAL_FPS,
                        on_progress: ProgressFn | None = None, on_partial: PartialFn | None = None,
                        cancelled: Callable[[], bool] | None = None) -> tuple[Motion, dict]:
        """Generate ``frames`` frames at ``fps`` honouring ``controls`` (:class:`.control.Controls`; frame numbers
        of keys/targets/timeline are 0-based in that fps), sampled as ``options`` says
        (:class:`.sampler.SamplingOptions`). Returns (canonical Motion at ``fps``, info). Raises
        :class:`.control.ControlError` for unusable controls and :class:`GenerationCancelled` when ``cancelled()``
        turns true (checked every denoising step)."""
        t_start = time.perf_counter()
        c, o = controls or Controls(), options or SamplingOptions()
        trajectory, trajectory_timed, trajectory_strength = c.trajectory, c.trajectory_timed, c.trajectory_strength
        keys, joint_targets, timeline = c.keys, c.joint_targets, c.timeline
        seed, variation, steps = o.seed, o.variation, o.steps
        prompt = (prompt or "").strip()
        if not prompt and not timeline:
            raise ControlError("the prompt is empty: describe the motion, e.g. 'a person walks forward'")
        frames = int(frames)
        if not 2 <= frames <= MAX_FRAMES:
            raise ControlError(f"frames must be between 2 and {MAX_FRAMES}, got {frames}")
        steps = int(self.default_steps if steps is None else steps)
        if steps < 1:
            raise ControlError(f"steps must be at least 1, got {steps}")
        steps = min(steps, self.schedule.num_steps)  # more steps than the model was trained with: use them all
        if not (np.isfinite(trajectory_strength) and 0.0 <= trajectory_strength <= 1.0):
            raise ControlError(f"trajectory_strength must be in [0, 1], got {trajectory_strength}")
        if not (np.isfinite(fps) and fps > 0):
            raise ControlError(f"fps must be positive, got {fps}")
        strength = self.exemplar_strength if o.exemplar_strength is None else float(o.exemplar_strength)
        if not (np.isfinite(strength) and 0.0 <= strength <= 1.0):
            raise ControlError(f"exemplar_strength must be in [0, 1], got {strength}")
        if strength < 1.0 and self.exemplars is None:
            if o.exemplar_strength is not None:
                raise ControlError("this model has no exemplar bank (the training corpus is not installed): "
                                   "leave exemplar_strength unset or 1.0")
            strength = 1.0  # the default asks for exemplars but none are installed: sample from noise
        guidance_scale = self.default_guidance(strength) if o.guidance_scale is None else float(o.guidance_scale)
        if not np.isfinite(guidance_scale) or guidance_scale < 0:
            raise ControlError(f"guidance_scale must be a finite number >= 0, got {guidance_scale}")
        fps_scale = CANONICAL_FPS / float(fps)
        F = max(2, round((frames - 1) * fps_scale) + 1)  # frames at the model's 30 fps
        to30 = lambda f: round(f * fps_scale)
        segments = self._segments(prompt, F, [(p, to30(s), to30(e)) for p, s, e in timeline] if timeline else None)
        if keys is not None:
            keys = Keys(np.array([to30(f) for f in keys.frames]), keys.joints, keys.rotations, keys.root,
                        keys.mask, keys.root_mask)
            keys.observation(F)  # refuses keys outside the frames before any work
        targets = JointTargets()
        for j, f, p in zip(*(joint_targets.joints, joint_targets.frames, joint_targets.positions)) \
                if joint_targets else ():
            if not 0 <= f < frames:
                raise ControlError(f"joint target frame {f} is outside the {frames} generated frames")
            targets.add(j, min(F - 1, to30(f)), p)
        path = None
        if trajectory is not None:
            path = np.asarray(trajectory, np.float64)
            if path.ndim != 2 or path.shape[1] != 3 or path.shape[0] < 2:
                raise ControlError(f"trajectory must have shape (N>=2, 3), got {tuple(path.shape)}")
            if not np.all(np.isfinite(path)):
                raise ControlError("the trajectory contains NaN or infinity")
            if trajectory_timed and path.shape[0] != frames:
                raise ControlError(f"a timed trajectory needs one point per frame ({frames}), got {path.shape[0]}")
            if trajectory_timed and F != frames:
                path = resample_path_timed(path, F)

        texts = {s.prompt for s in segments}
        emb = {p: self.embed(p) for p in texts}
        gen = seeded_generator(seed, variation)
        run_steps = len(self.schedule.timesteps_from(strength, steps)) if strength < 1.0 else steps
        pre_steps = len(self.schedule.timesteps_from(strength, self.pre_steps)) if strength < 1.0 else self.pre_steps
        total = run_steps * self._count_windows(segments)
        need_pre = path is not None or (keys is not None and keys.root_mask.any()
                                        and keys.frames[keys.root_mask].min() > 0)
        total += pre_steps if need_pre else 0
        timeline30 = [(sg.prompt, sg.start, sg.stop) for sg in segments] if len(segments) > 1 else None

        def exemplar(n: int, path_xy=None):
            if strength >= 1.0:
                return None
            tl = _cut_timeline(timeline30, n)
            return self.exemplars.exemplar(segments[0].prompt if tl is None else prompt, n, seed=seed,
                                           variation=variation, timeline=tl, path_xy=path_xy)
        done = [0]

        def tick(msg: str, x0=None, assemble=None):
            done[0] += 1
            if cancelled is not None and cancelled():
                raise GenerationCancelled("generation was cancelled")
            if on_progress is not None:
                on_progress(done[0], total, msg)
            if on_partial is not None and x0 is not None and assemble is not None:
                on_partial(assemble(x0))

        # 1. pre-pass: how does this prompt move on its own? (direction of travel, progress profile)
        natural = None
        if need_pre:
            n_pre = min(F, self.window)
            ex = exemplar(n_pre)
            natural = self._sample(emb[segments[0].prompt], n_pre, Observation.empty(n_pre), JointTargets(),
                                   self.pre_steps, guidance_scale, gen, lambda i, n, x0: tick("pre-pass"),
                                   guide=None if ex is None else ex.features, guide_strength=strength)
        # 2. anchor and controls in the model frame
        frame, world_xy = self._anchor(path, trajectory_timed, keys, natural, F)
        obs = Observation.empty(F)
        soft = None
        if world_xy is not None:
            obs = obs.merged(frame.observation_to_model(_traj_obs(world_xy, F)))
            if trajectory_strength < 1.0:
                soft = obs.mask.copy()  # trajectory channels (keys merged below stay hard)
        if keys is not None:
            kobs = keys.observation(F)
            obs = obs.merged(frame.observation_to_model(kobs))
            if soft is not None:
                soft = soft * (1.0 - kobs.mask)
        targets_m = targets.transformed(frame)
        soft_steps = round(trajectory_strength * run_steps)
        ex = exemplar(F, None if world_xy is None else frame.point_to_model(world_xy))
        if ex is not None and keys is not None:  # bent through the keys, so denoising starts from agreement
            ex.features = warp_to_observation(ex.features, obs.values, obs.mask)
        # 3-4. windows
        feats = self._sample_windows(segments, emb, F, obs, targets_m, steps, guidance_scale, gen, tick,
                                     frame, fps_scale, soft, soft_steps,
                                     None if ex is None else ex.features, strength)
        # back to the world
        world = frame.features_to_world(feats)
        motion = features_to_motion(world)
        constrained = path is not None or keys is not None or len(targets)
        if not constrained:
            motion = motion.canonicalized(0)
        info: dict = {"model": MODEL_NAME, "steps": steps, "guidance_scale": float(guidance_scale),
                      "windows": self._count_windows(segments), "seed": int(seed), "variation": int(variation),
                      "exemplar_strength": float(strength)}
        if ex is not None:
            info.update({"exemplar_clip": ex.clips[0], "exemplar_text": ex.texts[0]})
        # 5. facing along a path (not with keys or joint targets, which the turn would move), cleanup, keys win
        if world_xy is not None and o.face_path_window and keys is None and not len(targets):
            kind = travel_facing(prompt, default=None)
            if kind is not None:
                own = travel_offset(motion)
                offs = facing_offsets(kind)
                off = min(offs, key=lambda a: abs(np.angle(np.exp(1j * (a - (own or 0.0))))))
                motion = face_along(motion, world_xy, off, o.face_path_window)
        if o.contact_cleanup:
            motion, cinfo = cleanup_foot_contacts(motion, contacts=world[:, CONTACT_DIMS] > 0.5)
            info.update({f"cleanup_{k}": v for k, v in cinfo.items()})
        if keys is not None:
            motion = _impose_keys(motion, keys)
        if fps_scale != 1.0:
            motion = motion.resample(fps)
            motion = motion.slice(0, frames) if motion.num_frames >= frames else motion
            if keys is not None:  # keys land on the caller's frames exactly
                motion = _impose_keys(motion, Keys(np.array([round(f / fps_scale) for f in keys.frames]),
                                                   keys.joints, keys.rotations, keys.root, keys.mask,
                                                   keys.root_mask))
        if motion.num_frames != frames:  # rounding at odd fps: hold or trim the last frame
            motion = _fit_frames(motion, frames)
        info.update(self._report(motion, path if path is not None and trajectory_timed else world_xy, keys,
                                 joint_targets, fps_scale))
        info["latency_s"] = round(time.perf_counter() - t_start, 4)
        return motion, info

    # -------------------------------------------------------------------------------------------- internals
    @staticmethod
    def _segments(prompt: str, F: int, timeline) -> list[Segment]:
        try:
            return split_timeline(prompt, F, timeline)
        except TimelineError as e:
            raise ControlError(str(e)) from None

    def _plan(self, segments: list[Segment]) -> list[tuple[int, int, str]]:
        """Windows (start, stop, prompt): each at most ``window`` frames, later ones start ``overlap`` frames
        before the first frame they add."""
        out, cur = [], 0
        for seg in segments:
            while cur < seg.stop:
                s = max(0, cur - self.overlap) if cur > 0 else 0
                stop = min(seg.stop, s + self.window)
                out.append((s, stop, seg.prompt))
                cur = stop
        return out

    def _count_windows(self, segments) -> int:
        return len(self._plan(segments))

    def _sample(self, text, frames, obs, targets, steps, guidance_scale, gen, on_step, soft=None, soft_steps=0,
                guide=None, guide_strength=1.0):
        x0 = sample_window(Denoising(self.denoiser, self.schedule, self.normalizer), frames,
                           WindowConditions(text, obs, targets, soft, soft_steps, guide, guide_strength), steps=steps,
                           guidance_scale=guidance_scale, generator=gen, on_step=on_step)
        return self.normalizer.inverse(x0)[0].numpy()

    def _anchor(self, path, timed, keys, natural, F):
        """(Frame, world root xy per frame or None)."""
        frame = Frame()
        world_xy = None
        if path is not None:
            if timed:
                world_xy = path[:, :2]
            else:
                prof = progress_profile(natural[:, :2]) if natural is not None else np.linspace(0, 1, F)
                if len(prof) < F:  # pre-pass covers the first window only: continue at its mean rate
                    prof = np.concatenate([prof * (len(prof) / F),
                                           np.linspace(len(prof) / F, 1.0, F - len(prof) + 1)[1:]])
                world_xy = resample_path(path[:, :2], prof)
            phi_path = travel_direction(world_xy if timed else path[:, :2], max_frames=len(path))
            phi_nat = travel_direction(natural[:, :2]) if natural is not None else None
            yaw = (phi_path if phi_path is not None else 0.0) - (phi_nat if phi_nat is not None else 0.0) \
                if phi_path is not None else 0.0
            frame = Frame(yaw, (float(world_xy[0, 0]), float(world_xy[0, 1])))
        elif keys is not None and keys.root_mask.any():
            k = int(np.argmin(np.where(keys.root_mask, keys.frames, 10 ** 9)))
            obs = keys.observation(F)
            f_k = int(keys.frames[k])
            pose = np.tile(IDENTITY_6D, NUM_JOINTS)  # unkeyed joints at rest, keyed ones as keyed
            pose = np.where(obs.mask[f_k, ROT_DIMS] > 0, obs.values[f_k, ROT_DIMS], pose)
            key_feat = np.concatenate([keys.root[k], pose]).astype(np.float32)
            pelvis_keyed = bool(obs.mask[f_k, joint_slice(0)].all())
            nat_k = natural[f_k] if natural is not None and f_k < len(natural) else None
            h_nat = heading_of_features(nat_k) if nat_k is not None else 0.0
            h_key = heading_of_features(key_feat) if pelvis_keyed else h_nat
            xy = keys.root[k, :2]
            if f_k == 0 or nat_k is None:
                frame = Frame(h_key, (float(xy[0]), float(xy[1])))
            else:
                nk = nat_k
                yaw = h_key - h_nat
                c, s = np.cos(yaw), np.sin(yaw)
                off = xy - np.array([[c, -s], [s, c]]) @ nk[:2]
                frame = Frame(yaw, (float(off[0]), float(off[1])))
        return frame, world_xy

    def _sample_windows(self, segments, emb, F, obs, targets, steps, guidance_scale, gen, tick, frame, fps_scale,
                        soft=None, soft_steps=0, guide=None, guide_strength=1.0):
        D = FEATURE_DIM_CONTACTS
        out = np.zeros((F, D), np.float32)
        plan = self._plan(segments)
        for wi, (s, stop, prompt) in enumerate(plan):
            n = stop - s
            local = Frame()
            if wi > 0:  # the window's own frame: its first frame above the origin, facing -Y
                local = Frame(heading_of_features(out[s]), (float(out[s, 0]), float(out[s, 1])))
            w_obs = obs.slice(s, stop)
            k = hard = 0
            if wi > 0:  # the previous window's frames: the first ones observed, the last ``seam_blend`` crossfaded
                pre = Observation.empty(n)
                k = min(self.overlap, plan[wi - 1][1] - s)
                hard = max(1, k - self.seam_blend)
                pre.set(np.arange(hard), _POSE_CHANNELS, out[s:s + hard, POSE_DIMS])
                w_obs = w_obs.merged(pre)
            w_obs = local.observation_to_model(w_obs)
            w_tg = targets.within(s, stop).transformed(local)

            def assemble(x0, s=s, stop=stop, local=local):
                cur = out.copy()
                cur[s:stop] = local.features_to_world(self.normalizer.inverse(x0)[0].numpy())
                m = features_to_motion(frame.features_to_world(cur[:stop]))
                return m.resample(CANONICAL_FPS / fps_scale) if fps_scale != 1.0 else m

            w_soft = None if soft is None else soft[s:stop] * (1.0 - (pre.mask if wi > 0 else 0.0))
            w_guide = None if guide is None else local.features_to_model(guide[s:stop])
            x = self._sample(emb[prompt], n, w_obs, w_tg, steps, guidance_scale, gen,
                             lambda i, tot, x0, wi=wi, assemble=assemble:
                             tick(f"window {wi + 1}/{len(plan)}: step {i}/{tot}", x0, assemble),
                             w_soft, soft_steps, w_guide, guide_strength)
            new = local.features_to_world(x)
            if k > hard:  # ease from the previous window's frames into this one's over the blend frames
                u = (np.arange(k - hard) + 1.0) / (k - hard + 1.0)
                w = smoothstep(u)[:, None]
                new[hard:k] = (1 - w) * out[s + hard:s + k] + w * new[hard:k]
            out[s:stop] = new
        return out

    def _report(self, motion: Motion, xy, keys, targets, fps_scale) -> dict:
        info = {}
        if xy is not None:
            root = motion.root_pos[:, :2]
            ref = np.asarray(xy)[:, :2]
            if len(ref) != len(root):
                idx = np.round(np.linspace(0, len(ref) - 1, len(root))).astype(int)
                ref = ref[idx]
            info["traj_error_cm"] = round(float(np.linalg.norm(root - ref, axis=1).mean() * 100), 3)
        if keys is not None:
            info["key_error_max_cm"] = round(key_position_error(motion, keys, fps_scale) * 100, 4)
        if targets is not None and len(targets):
            pos = motion.positions()
            errs = [np.linalg.norm(pos[min(f, len(pos) - 1), j] - np.asarray(p)) for j, f, p in
                    zip(targets.joints, targets.frames, targets.positions)]
            info["joint_target_error_cm"] = round(float(max(errs)) * 100, 3)
        return info


# ------------------------------------------------------------------------------------------------- helpers
def _load_denoiser(path: Path) -> tuple[MotionDenoiser, Normalizer, dict]:
    """A weights file's denoiser (built from its sidecar's config), feature normaliser and sidecar."""
    from ..weights import load_weights
    tensors, meta = load_weights(path)
    net = MotionDenoiser(DenoiserConfig.from_dict(meta.get("config", {})))
    net.load_state_dict(denoiser_state_dict(tensors))
    return net, Normalizer.from_state_dict(tensors), meta


def _traj_obs(xy: np.ndarray, F: int) -> Observation:
    obs = Observation.empty(F)
    obs.set(np.arange(F), [0, 1], np.asarray(xy, np.float32)[:F])
    return obs


def _cut_timeline(timeline, n: int):
    """A 30 fps timeline's entries that start before frame ``n``, the last one ending at ``n``; None for none."""
    if timeline is None:
        return None
    out = [(p, s, min(e, n)) for p, s, e in timeline if s < n]
    return out if len(out) > 1 else None


def resample_path_timed(path: np.ndarray, n: int) -> np.ndarray:
    """A per-frame path resampled in time to ``n`` frames (linear)."""
    t = np.linspace(0, len(path) - 1, n)
    return np.stack([np.interp(t, np.arange(len(path)), path[:, a]) for a in range(path.shape[1])], -1)


KEY_WARP_RADIUS = 8  # frames over which a key's correction fades out (see _impose_keys)


def _side_weights(f: int, others: np.ndarray, T: int, radius: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames on one side of key frame ``f`` (side -1: before, +1: after) and their weights: easing (smoothstep)
    from 1 at ``f`` to 0 at ``radius`` frames or at the neighbouring key of the same channel, whichever is nearer."""
    gaps = [abs(int(g) - f) for g in others if (g - f) * side > 0]
    r = min([radius] + gaps)
    idx = np.arange(f + side, f + side * r, side)
    idx = idx[(idx >= 0) & (idx < T)]
    u = 1.0 - np.abs(idx - f) / max(r, 1)
    return idx, smoothstep(u)


def _impose_keys(m: Motion, keys: Keys, radius: int = KEY_WARP_RADIUS) -> Motion:
    """Keys win: the keyed values are written on their frames. The sampler imputes keys, but with few steps the
    frames next to a key need not agree with it; so on each side of a key the motion is warped (Witkin & Popovic)
    by the turn or shift from where that side was heading (the key frame extrapolated from its two neighbours) to
    the key, eased out over ``radius`` frames. The key then joins the motion without a pop."""
    from ...motion.rotations import np_quat_inv, np_quat_mul, np_quat_slerp
    from ...motion.skeleton import CANONICAL
    rot, root = m.rotations.copy(), m.root_pos.copy()
    T = m.num_frames
    inside = (keys.frames >= 0) & (keys.frames < T)
    ident = np.array([0.0, 0.0, 0.0, 1.0])

    def warp_rot(j, kf, kq):
        src = rot[:, j].copy()
        for f, q in zip(kf, kq):
            for side in (-1, 1):
                n1, n2 = f + side, f + 2 * side
                if not 0 <= n1 < T:
                    continue
                ext = src[n1] if not 0 <= n2 < T else np_quat_mul(src[n1], np_quat_mul(np_quat_inv(src[n2]), src[n1]))
                delta = np_quat_mul(q, np_quat_inv(ext))
                delta = -delta if delta[3] < 0 else delta
                idx, w = _side_weights(f, kf, T, radius, side)
                if len(idx):
                    turn = np_quat_slerp(np.tile(ident, (len(idx), 1)), np.tile(delta, (len(idx), 1)), w)
                    rot[idx, j] = np_quat_mul(turn, rot[idx, j])  # corrections of neighbouring keys compose

    for b, name in enumerate(keys.joints):
        sel = np.nonzero(keys.mask[:, b] & inside)[0]
        if len(sel):
            warp_rot(CANONICAL.index(name), keys.frames[sel].astype(int), keys.rotations[sel, b])
    sel = np.nonzero(keys.root_mask & inside)[0]
    if len(sel):
        src = root.copy()
        kf = keys.frames[sel].astype(int)
        for f, v in zip(kf, keys.root[sel]):
            for side in (-1, 1):
                n1, n2 = f + side, f + 2 * side
                if not 0 <= n1 < T:
                    continue
                ext = src[n1] if not 0 <= n2 < T else 2 * src[n1] - src[n2]
                idx, w = _side_weights(f, kf, T, radius, side)
                root[idx] += w[:, None] * (v - ext)
    for k, f in enumerate(keys.frames):
        if not 0 <= f < m.num_frames:
            continue
        for b, name in enumerate(keys.joints):
            if keys.mask[k, b]:
                rot[f, CANONICAL.index(name)] = keys.rotations[k, b]
        if keys.root_mask[k]:
            root[f] = keys.root[k]
    return m.copy(rotations=rot, root_pos=root)


def _fit_frames(m: Motion, frames: int) -> Motion:
    if m.num_frames > frames:
        return m.slice(0, frames)
    pad = frames - m.num_frames
    return m.copy(root_pos=np.concatenate([m.root_pos, np.repeat(m.root_pos[-1:], pad, 0)]),
                  rotations=np.concatenate([m.rotations, np.repeat(m.rotations[-1:], pad, 0)]),
                  contacts=None, contact_joints=())


def key_position_error(motion: Motion, keys: Keys, fps_scale: float = 1.0) -> float:
    """Largest joint position error (m) at keyed frames between the motion and the keyed pose (keyed channels
    from the keys, the rest from the motion), over fully keyed frames; 0 if none."""
    worst = 0.0
    for k, f in enumerate(keys.frames):
        f = round(f / fps_scale)
        if not 0 <= f < motion.num_frames:
            continue
        key_m = _impose_keys(motion.slice(f, f + 1), Keys(np.array([0]), keys.joints, keys.rotations[k:k + 1],
                                                          keys.root[k:k + 1], keys.mask[k:k + 1],
                                                          keys.root_mask[k:k + 1]))
        err = np.linalg.norm(motion.slice(f, f + 1).positions() - key_m.positions(), axis=-1).max()
        worst = max(worst, float(err))
    return worst


_DEFAULT: Text2MotionModel | None = None


def load_default() -> Text2MotionModel:
    """The committed model (``weights/text2motion.safetensors``), loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Text2MotionModel.load()
    return _DEFAULT

