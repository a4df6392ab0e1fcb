"""Controls for sampling, in feature space: observations (imputed) and joint targets (guided).

* :class:`Observation`: per-frame feature values with a 0/1 mask. The denoiser sees them as input and the sampler
  overwrites them on the predicted clean motion after every denoising step, so observed values come back exactly
  (hard keyframes, the root's ground trajectory, a prefix of earlier motion). Same semantics as in-betweening's
  keys: rotations of keyed bones and the keyed root translation are imposed; unkeyed channels are free.
* :class:`JointTargets`: "this joint at this world point on this frame". They are met by gradient steps on the
  predicted clean motion through differentiable forward kinematics (GMD / OmniControl-style guidance on x0), with
  the correction spread smoothly over neighbouring frames so no frame pops.
* :class:`Frame`: the rigid ground-plane transform (yaw about Z + xy offset) between the request's world and the
  model's frame, where frame 0 of a window sits above the origin facing -Y (how the model was trained).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ...motion.rotations import np_quat_to_6d
from ...motion.skeleton import CANONICAL
from ..features import FEATURE_DIM_CONTACTS, NUM_JOINTS
from .losses import chain_positions, positions


class ControlError(ValueError):
    """A control that cannot be honoured (a key outside the generated frames, an unknown joint, NaN values)."""


def joint_slice(j: int) -> slice:
    return slice(3 + 6 * j, 9 + 6 * j)


# ------------------------------------------------------------------------------------------------ observations
@dataclass
class Observation:
    values: np.ndarray  # (T, D) un-normalised features; anything where mask == 0
    mask: np.ndarray  # (T, D) float 0/1

    @classmethod
    def empty(cls, frames: int, dim: int = FEATURE_DIM_CONTACTS) -> Observation:
        return cls(np.zeros((frames, dim), np.float32), np.zeros((frames, dim), np.float32))

    @property
    def frames(self) -> int:
        return self.values.shape[0]

    def any(self) -> bool:
        return bool(self.mask.any())

    def copy(self) -> Observation:
        return Observation(self.values.copy(), self.mask.copy())

    def slice(self, start: int, stop: int) -> Observation:
        return Observation(self.values[start:stop].copy(), self.mask[start:stop].copy())

    def set(self, frames, dims, values) -> None:
        self.values[np.ix_(np.atleast_1d(frames), dims)] = values
        self.mask[np.ix_(np.atleast_1d(frames), dims)] = 1.0

    def merged(self, other: Observation) -> Observation:
        """``other`` wins where both observe a channel."""
        m = np.maximum(self.mask, other.mask)
        v = np.where(other.mask > 0, other.values, self.values)
        return Observation(v.astype(np.float32), m.astype(np.float32))


def trajectory_observation(xy: np.ndarray, frames: int, dim: int = FEATURE_DIM_CONTACTS) -> Observation:
    """The root's ground position on every frame ((frames, 2) metres); height is left to the model."""
    xy = np.asarray(xy, np.float64)
    if xy.shape != (frames, 2):
        raise ControlError(f"a timed trajectory needs one point per frame ({frames}), got {xy.shape[0]}")
    if not np.all(np.isfinite(xy)):
        raise ControlError("the trajectory contains NaN or infinity")
    obs = Observation.empty(frames, dim)
    obs.set(np.arange(frames), [0, 1], xy)
    return obs


@dataclass
class Keys:
    """Canonical keyframes: per key a frame (0-based in the generated range), local XYZW rotations of the listed
    joints with a keyed mask, and an optionally keyed root position (metres, world)."""
    frames: np.ndarray  # (K,) int
    joints: list[str]
    rotations: np.ndarray  # (K, B, 4) XYZW
    root: np.ndarray  # (K, 3)
    mask: np.ndarray  # (K, B) bool
    root_mask: np.ndarray  # (K,) bool

    def __post_init__(self):
        self.frames = np.asarray(self.frames, np.int64)
        self.rotations = np.asarray(self.rotations, np.float64)
        self.root = np.asarray(self.root, np.float64)
        K, B = len(self.frames), len(self.joints)
        self.mask = np.ones((K, B), bool) if self.mask is None else np.asarray(self.mask, bool)
        self.root_mask = np.ones(K, bool) if self.root_mask is None else np.asarray(self.root_mask, bool)
        if self.rotations.shape != (K, B, 4) or self.root.shape != (K, 3) or self.mask.shape != (K, B):
            raise ControlError(f"keys: {K} frames and {B} joints need rotations (K,B,4), root (K,3), mask (K,B)")
        if not (np.all(np.isfinite(self.rotations)) and np.all(np.isfinite(self.root))):
            raise ControlError("keys contain NaN or infinity")
        norms = np.linalg.norm(self.rotations, axis=-1)
        if np.any(norms < 1e-6):
            raise ControlError("a key rotation is a zero quaternion")
        self.rotations = self.rotations / norms[..., None]
        unknown = [j for j in self.joints if j not in CANONICAL.index_of]
        if unknown:
            raise ControlError(f"keys name joints the canonical skeleton does not have: {', '.join(unknown[:5])} "
                               f"(known: {', '.join(CANONICAL.names[:4])}, ...)")

    def observation(self, frames: int, dim: int = FEATURE_DIM_CONTACTS) -> Observation:
        bad = [int(f) for f in self.frames if not 0 <= f < frames]
        if bad:
            raise ControlError(f"key frame(s) {bad} fall outside the {frames} generated frames")
        obs = Observation.empty(frames, dim)
        six = np_quat_to_6d(self.rotations)  # (K, B, 6)
        for k, f in enumerate(self.frames):
            for b, name in enumerate(self.joints):
                if self.mask[k, b]:
                    obs.set(f, list(range(*joint_slice(CANONICAL.index(name)).indices(dim))), six[k, b])
            if self.root_mask[k]:
                obs.set(f, [0, 1, 2], self.root[k])
        return obs


# --------------------------------------------------------------------------------------------- joint targets
@dataclass
class JointTargets:
    joints: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    positions: list[tuple[float, float, float]] = field(default_factory=list)

    def add(self, joint: str | int, frame: int, position) -> None:
        j = CANONICAL.index(joint) if isinstance(joint, str) else int(joint)
        p = np.asarray(position, np.float64)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ControlError(f"joint target for {joint!r} needs a finite (x, y, z) position")
        self.joints.append(j)
        self.frames.append(int(frame))
        self.positions.append(tuple(float(v) for v in p))

    def __len__(self) -> int:
        return len(self.joints)

    def within(self, start: int, stop: int) -> JointTargets:
        out = JointTargets()
        for j, f, p in zip(self.joints, self.frames, self.positions):
            if start <= f < stop:
                out.joints.append(j)
                out.frames.append(f - start)
                out.positions.append(p)
        return out

    def transformed(self, frame: Frame) -> JointTargets:
        out = JointTargets(list(self.joints), list(self.frames))
        out.positions = [tuple(frame.point_to_model(np.asarray(p))) for p in self.positions]
        return out

    def errors(self, pos: np.ndarray) -> np.ndarray:
        """Distances (m) of the targets from joint positions ``pos`` (T, 22, 3)."""
        return np.array([np.linalg.norm(pos[f, j] - np.asarray(p)) for j, f, p in
                         zip(self.joints, self.frames, self.positions)])


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = int(np.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    return torch.exp(-0.5 * (x / sigma) ** 2)  # peak 1: the keyed frame gets the full correction


def guide_x0(x0_n: torch.Tensor, targets: JointTargets, normalizer, free: torch.Tensor, iters: int = 10,
             lr: float = 0.5, sigma: float = 6.0, tol: float = 0.0) -> torch.Tensor:
    """Move the normalised prediction ``x0_n`` (B, T, D) so the targeted joints reach their targets.

    Gradient descent on the squared distance, through FK evaluated only at the targeted frames; each gradient is
    smoothed over time with a Gaussian (``sigma`` frames) so the pose around the target bends smoothly towards it.
    ``free`` (B, T, D) is 1 on channels that may move (observed channels stay as imputed). Stops early once every
    target is within ``tol`` metres.
    """
    if not len(targets):
        return x0_n
    frames = sorted(set(targets.frames))
    fidx = {f: i for i, f in enumerate(frames)}
    tj = torch.tensor(targets.joints)
    tf = torch.tensor([fidx[f] for f in targets.frames])
    tp = torch.tensor(np.asarray(targets.positions), dtype=torch.float32)
    kernel = _gaussian_kernel(sigma)
    r = (len(kernel) - 1) // 2
    T = x0_n.shape[1]
    x = x0_n.detach().clone()
    for _ in range(iters):
        sub = x[:, frames].clone().requires_grad_(True)
        pos = chain_positions(normalizer.inverse(sub), set(targets.joints))  # joint -> (B, F, 3)
        err = torch.stack([pos[int(j)][:, int(f)] for j, f in zip(tj, tf)], 1) - tp  # (B, N, 3)
        if tol > 0 and float(err.detach().norm(dim=-1).max()) < tol:
            break
        loss = (err ** 2).sum()
        (g,) = torch.autograd.grad(loss, sub)
        grad = torch.zeros_like(x)
        grad[:, frames] = g
        # spread over time: conv along T, per channel
        gt = grad.permute(0, 2, 1).reshape(-1, 1, T)
        gt = torch.nn.functional.conv1d(torch.nn.functional.pad(gt, (r, r)), kernel.view(1, 1, -1))
        grad = gt.reshape(x.shape[0], x.shape[2], T).permute(0, 2, 1)
        x = x - lr * grad * free
    return x


# ------------------------------------------------------------------------------------------------ all controls
@dataclass
class Controls:
    """What a generation must honour besides its prompt (frames 0-based in the generated range, at its fps).

    ``trajectory``: the root's ground path (N,3), one point per frame when ``trajectory_timed``, else a path walked
    at the prompt's own pace; z is the floor under the character. ``trajectory_strength`` in [0, 1]: the fraction
    of denoising steps on which the root's ground position is overwritten with the path (1: exactly on it; 0: the
    network only sees the path as a condition). ``timeline``: (prompt, start, end) entries, end exclusive."""
    trajectory: np.ndarray | None = None
    trajectory_timed: bool = True
    trajectory_strength: float = 1.0
    keys: Keys | None = None
    joint_targets: JointTargets | None = None
    timeline: list[tuple[str, int, int]] | None = None


# ----------------------------------------------------------------------------------------- world <-> model frame
@dataclass
class Frame:
    """Model coordinates = Rz(-yaw) (world - origin) on the ground plane; heights are unchanged."""
    yaw: float = 0.0
    origin: tuple[float, float] = (0.0, 0.0)

    def _rz(self, angle: float) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        return np.array([[c, -s], [s, c]])

    def point_to_model(self, p: np.ndarray) -> np.ndarray:
        p = np.array(p, np.float64)
        p[..., :2] = (p[..., :2] - np.asarray(self.origin)) @ self._rz(-self.yaw).T
        return p

    def point_to_world(self, p: np.ndarray) -> np.ndarray:
        p = np.array(p, np.float64)
        p[..., :2] = p[..., :2] @ self._rz(self.yaw).T + np.asarray(self.origin)
        return p

    def features_to_model(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return self._features(x, -self.yaw, shift=-np.asarray(self.origin), shift_first=True)

    def features_to_world(self, x: np.ndarray) -> np.ndarray:
        return self._features(x, self.yaw, shift=np.asarray(self.origin), shift_first=False)

    def _features(self, x, angle, shift, shift_first):
        x = np.array(x, np.float32)
        rz = self._rz(angle).astype(np.float32)
        if shift_first:
            x[..., 0:2] += shift
        x[..., 0:2] = x[..., 0:2] @ rz.T
        x[..., 3:5] = x[..., 3:5] @ rz.T
        x[..., 6:8] = x[..., 6:8] @ rz.T
        if not shift_first:
            x[..., 0:2] += shift
        return x

    def observation_to_model(self, obs: Observation) -> Observation:
        """Rotate observed root positions and root rotations. A root channel pair must be observed together."""
        v = self.features_to_model(obs.values)
        return Observation(np.where(obs.mask > 0, v, 0.0).astype(np.float32), obs.mask.copy())


def heading_of_features(x: np.ndarray) -> float:
    """Facing angle (radians, 0 = -Y, counter-clockwise) of one frame of features, from its hips and shoulders."""
    pos = positions(torch.tensor(np.asarray(x, np.float32)[None]))[0].numpy()
    sk = CANONICAL
    across = (pos[sk.index("left_hip")] - pos[sk.index("right_hip")]
              + pos[sk.index("left_shoulder")] - pos[sk.index("right_shoulder")])
    fwd = np.cross(across, np.array([0.0, 0.0, 1.0]))
    return float(np.arctan2(fwd[0], -fwd[1]))


def travel_direction(xy: np.ndarray, min_dist: float = 0.25, max_frames: int = 30) -> float | None:
    """Direction (radians, 0 = -Y) from the first point to where the path first gets ``min_dist`` away (or the
    point ``max_frames`` later if it never does); None when it barely moves."""
    xy = np.asarray(xy, np.float64)
    d = np.linalg.norm(xy - xy[0], axis=-1)
    far = np.nonzero(d >= min_dist)[0]
    k = int(far[0]) if len(far) else min(len(xy) - 1, max_frames)
    v = xy[k] - xy[0]
    if np.linalg.norm(v) < 0.05:
        return None
    return float(np.arctan2(v[0], -v[1]))


def resample_path(path: np.ndarray, progress: np.ndarray) -> np.ndarray:
    """Points along a polyline ``path`` (N, 2+) at arc-length fractions ``progress`` (T,) in [0, 1]."""
    path = np.asarray(path, np.float64)
    seg = np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 1e-9:
        return np.repeat(path[:1], len(progress), 0)
    q = np.clip(progress, 0.0, 1.0) * s[-1]
    return np.stack([np.interp(q, s, path[:, a]) for a in range(path.shape[1])], -1)


def progress_profile(xy: np.ndarray) -> np.ndarray:
    """Cumulative distance along a root path, normalised to [0, 1] (linear when it does not move)."""
    d = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(np.asarray(xy)[:, :2], axis=0), axis=1))])
    if d[-1] < 0.05:
        return np.linspace(0.0, 1.0, len(d))
    return d / d[-1]


NUM_ROT = NUM_JOINTS
