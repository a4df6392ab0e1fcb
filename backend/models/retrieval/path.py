"""Bend a motion's root path onto a requested one (a drawn trajectory), turning the body with it.

The root follows the path and the body turns by the difference between the path's heading and the motion's own
direction of travel. A timed path gives the root position per frame; an untimed path is walked at the motion's own
speed profile, stretched to cover the path in the motion's frames. The path's z is the floor height under the
character (0 on flat ground).
"""
from __future__ import annotations

import numpy as np

from ...motion.motion import Motion
from ...motion.rotations import np_quat_about_z, np_quat_mul


def _heading_of_travel(xy: np.ndarray, min_step: float) -> np.ndarray:
    """Per-frame direction of travel (radians, 0 = -Y, counter-clockwise), NaN where the root barely moves."""
    v = np.gradient(xy, axis=0)
    speed = np.linalg.norm(v, axis=1)
    ang = np.arctan2(v[:, 0], -v[:, 1])
    ang[speed < min_step] = np.nan
    return ang


def _fill_nan(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    if not ok.any():
        return np.zeros_like(a)
    idx = np.arange(len(a))
    return np.interp(idx, idx[ok], np.unwrap(a[ok]))


def _smooth(a: np.ndarray, width: int = 9) -> np.ndarray:
    if len(a) < 3:
        return a
    width = min(width, len(a) | 1)
    k = np.ones(width) / width
    pad = np.pad(a, width // 2, mode="edge")
    return np.convolve(pad, k, mode="valid")[:len(a)]


def follow_path(motion: Motion, path: np.ndarray, timed: bool) -> Motion:
    """Bend the motion's root path onto ``path`` ((N,3), metres; z = floor height); see the module docstring."""
    T = motion.num_frames
    xy = motion.root_pos[:, :2]
    path = np.asarray(path, np.float64)
    if timed:
        target = path[:, :2]
        floor = path[:, 2]
    else:
        seg = np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1)
        s_path = np.concatenate([[0.0], np.cumsum(seg)])
        d = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
        s = d / d[-1] * s_path[-1] if d[-1] > 1e-3 else np.linspace(0.0, s_path[-1], T)
        target = np.stack([np.interp(s, s_path, path[:, 0]), np.interp(s, s_path, path[:, 1])], axis=1)
        floor = np.interp(s, s_path, path[:, 2])
    step = 0.002 * 30.0 / motion.fps  # 6 cm/s: slower than that, the direction of travel means nothing
    own = _heading_of_travel(xy, step)
    want = _heading_of_travel(target, step)
    turn = _fill_nan(want) - _fill_nan(own)
    if np.isnan(want).all() or np.isnan(own).all():
        turn = np.zeros(T)
    turn = _smooth(np.unwrap(turn))
    rot = motion.rotations.copy()
    rot[:, 0] = np_quat_mul(np_quat_about_z(turn), rot[:, 0])
    root = motion.root_pos.copy()
    root[:, :2] = target
    root[:, 2] += floor
    return motion.copy(rotations=rot, root_pos=root)
