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

OWN_MIN_SPEED = 0.3  # m/s: slower than this a motion's own direction of travel is taken from its body heading


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


def travel_offset(motion: Motion, min_speed: float = 0.3, min_share: float = 0.25) -> float | None:
    """The body's heading minus its direction of travel (radians, circular mean) over the frames where the root
    moves faster than ``min_speed`` m/s: about 0 for a walk, pi for a backward walk, +-pi/2 for a sidestep. None
    when it travels on fewer than ``min_share`` of its frames (a motion that stays in place)."""
    xy = motion.root_pos[:, :2]
    if motion.num_frames < 3:
        return None
    travel = _heading_of_travel(xy, min_speed / motion.fps)
    moving = ~np.isnan(travel)
    if moving.mean() < min_share:
        return None
    d = motion.heading()[moving] - travel[moving]
    return float(np.angle(np.exp(1j * d).mean()))


def follow_path(motion: Motion, path: np.ndarray, timed: bool, facing: float | None = None) -> Motion:
    """Bend the motion's root path onto ``path`` ((N,3), metres; z = floor height); see the module docstring.
    Where the motion itself moves slower than :data:`OWN_MIN_SPEED` its direction of travel means little, so its
    body heading less ``facing`` stands in for it (the heading-minus-travel the body should keep: by default its
    own :func:`travel_offset`, else 0, facing where it goes): a clip that stays in place, put on a path, faces
    along it."""
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
    own = _heading_of_travel(xy, OWN_MIN_SPEED / motion.fps)
    slow = np.isnan(own)
    if slow.any():
        if facing is None:
            facing = travel_offset(motion)
        own[slow] = motion.heading()[slow] - (facing or 0.0)
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


def face_along(motion: Motion, path_xy: np.ndarray, offset: float, window: int, min_speed: float = 0.2) -> Motion:
    """Turn the body about the root towards the facing ``offset`` (body heading minus direction of travel, radians:
    0 forward, pi backward) along ``path_xy`` ((T, 2), one point per frame, the root's path), on frames where the
    path moves faster than ``min_speed`` m/s. The turn is the facing error low-passed over ``window`` frames (a
    moving circular mean; held where the path stands still), so a slow drift off the path and the lag into a turn
    go while the gait's own sway, a stride long, stays. The root position is kept; feet moved by the turn are for
    the foot cleanup to plant."""
    T = motion.num_frames
    if window < 2 or T < 3:
        return motion
    travel = _heading_of_travel(np.asarray(path_xy, np.float64)[:, :2], min_speed / motion.fps)
    moving = ~np.isnan(travel)
    if moving.sum() < 2:
        return motion
    err = np.zeros(T, complex)
    err[moving] = np.exp(1j * (travel[moving] + offset - motion.heading()[moving]))
    k = np.ones(min(window, T))
    num = np.convolve(err, k, mode="same")
    den = np.convolve(moving.astype(float), k, mode="same")
    ok = den > 0.5 * len(k)  # enough moving frames around to say where the body should face
    if not ok.any():
        return motion
    turn = np.full(T, np.nan)
    turn[ok] = np.angle(num[ok])
    turn = _fill_nan(turn)
    rot = motion.rotations.copy()
    rot[:, 0] = np_quat_mul(np_quat_about_z(turn), rot[:, 0])
    return motion.copy(rotations=rot)
