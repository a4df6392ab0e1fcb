"""Training windows cut from corpus clips, with the augmentations every model uses.

Augmentations (each drawn per window): left/right mirroring (p = 0.5), random facing (rotation about Z, uniform),
time warping (speed factor in [0.8, 1.25], slerp resampling). Windows are re-canonicalised so their first frame is
at the origin facing -Y unless ``canonicalize=False``. Clips shorter than the window are padded by holding the last
pose, and the returned mask says which frames are real.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.features import motion_to_features
from ..motion.motion import Motion
from .corpus import Clip


@dataclass
class Augment:
    mirror: float = 0.5
    random_facing: bool = True
    time_warp: tuple[float, float] = (0.8, 1.25)

    @classmethod
    def none(cls) -> Augment:
        return cls(mirror=0.0, random_facing=False, time_warp=(1.0, 1.0))


def cut_window(m: Motion, start: int, length: int) -> tuple[Motion, np.ndarray]:
    """Frames [start, start+length) of m, padded by repeating the last frame; returns (motion, real-frame mask)."""
    w = m.slice(start, start + length)
    real = np.ones(length, bool)
    if w.num_frames < length:
        n = w.num_frames
        pad = length - n
        real[n:] = False
        w = w.copy(root_pos=np.concatenate([w.root_pos, np.repeat(w.root_pos[-1:], pad, 0)]),
                   rotations=np.concatenate([w.rotations, np.repeat(w.rotations[-1:], pad, 0)]),
                   contacts=None if w.contacts is None else np.concatenate([w.contacts,
                                                                             np.repeat(w.contacts[-1:], pad, 0)]))
    return w, real


def sample_window(clip: Clip, length: int, rng: np.random.Generator, aug: Augment | None = None,
                  canonicalize: bool = True, contacts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One augmented window of ``length`` frames from ``clip``: (features (length, D), real-frame mask).
    ``aug``: the augmentations (default: :class:`Augment`'s defaults)."""
    aug = aug or Augment()
    m = clip.motion
    lo, hi = aug.time_warp
    speed = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else 1.0
    # take a slightly longer/shorter source span, then resample so the window has ``length`` frames
    span = int(np.ceil(length * speed)) + 1
    start = int(rng.integers(0, max(1, m.num_frames - span + 1)))
    seg = m.slice(start, start + span)
    if speed != 1.0 and seg.num_frames > 2:
        seg = seg.copy(fps=m.fps * (1.0 / speed)).resample(m.fps)
    if aug.mirror > 0 and rng.random() < aug.mirror:
        seg = seg.mirrored()
    if canonicalize:
        seg = seg.canonicalized()
    if aug.random_facing:
        seg = seg.rotated_about_z(float(rng.uniform(-np.pi, np.pi)))
    if contacts and seg.contacts is None:
        seg = seg.with_contacts()
    w, real = cut_window(seg, 0, length)
    return motion_to_features(w, contacts=contacts), real
