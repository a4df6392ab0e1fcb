"""Foot-contact detection and foot-skating measures.

A foot joint is **in contact** on a frame when both hold:

* height: its height above the floor (z = 0) is at most its own rest height plus ``height_margin``
  (default 5 cm; rest height is how far the joint sits above the floor in the rest pose, so ankles and toes each
  get a fair threshold);
* speed: its horizontal speed, from central differences, is at most ``max_speed`` (default 0.4 m/s; a planted foot
  moves < 0.1 m/s in clean mocap, a swinging foot 2 to 5 m/s).

Isolated one-frame flickers are removed by a 3-frame majority filter. These are the contacts that retargeting holds
in place with IK and that the models' foot-skate numbers are measured on.
"""
from __future__ import annotations

import numpy as np

DEFAULT_HEIGHT_MARGIN = 0.05
DEFAULT_MAX_SPEED = 0.4


def horizontal_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T, K, 3) positions -> (T, K) horizontal speed in m/s (central differences, one-sided at the ends)."""
    p = np.asarray(positions, np.float64)[..., :2]
    if p.shape[0] < 2:
        return np.zeros(p.shape[:-1])
    v = np.gradient(p, axis=0) * fps
    return np.linalg.norm(v, axis=-1)


def detect_contacts(positions: np.ndarray, fps: float, rest_heights: np.ndarray,
                    height_margin: float = DEFAULT_HEIGHT_MARGIN, max_speed: float = DEFAULT_MAX_SPEED,
                    floor: float = 0.0) -> np.ndarray:
    """positions (T, K, 3) of K foot joints -> (T, K) bool contacts. See module docstring for the rule."""
    positions = np.asarray(positions, np.float64)
    height = positions[..., 2] - floor
    speed = horizontal_speed(positions, fps)
    c = (height <= np.asarray(rest_heights) + height_margin) & (speed <= max_speed)
    if c.shape[0] >= 3:  # majority filter over 3 frames
        padded = np.concatenate([c[:1], c, c[-1:]], axis=0).astype(np.int8)
        c = (padded[:-2] + padded[1:-1] + padded[2:]) >= 2
    return c


def foot_skate(positions: np.ndarray, fps: float, contacts: np.ndarray) -> float:
    """Mean horizontal speed (m/s) of foot joints over the frames where they are in contact (0 if none)."""
    speed = horizontal_speed(positions, fps)
    if not contacts.any():
        return 0.0
    return float(speed[contacts].mean())


def foot_skate_ratio_gmd(toe_positions: np.ndarray, fps: float, height_thresh: float = 0.05,
                         speed_thresh: float = 0.5, eval_fps: float = 20.0) -> float:
    """GMD / CondMDI foot-skating ratio: fraction of frames where a toe is below ``height_thresh`` and moves
    horizontally faster than ``speed_thresh`` m/s, measured at ``eval_fps`` (positions are resampled)."""
    p = np.asarray(toe_positions, np.float64)  # (T, K, 3)
    if p.shape[0] < 2:
        return 0.0
    t_src = np.arange(p.shape[0]) / fps
    t_dst = np.arange(0.0, t_src[-1] + 1e-9, 1.0 / eval_fps)
    q = np.stack([np.stack([np.interp(t_dst, t_src, p[:, k, a]) for a in range(3)], -1)
                  for k in range(p.shape[1])], 1)
    speed = np.linalg.norm(np.diff(q[..., :2], axis=0), axis=-1) * eval_fps  # (T-1, K)
    low = q[1:, :, 2] < height_thresh
    skating = (low & (speed > speed_thresh)).any(axis=1)
    return float(skating.mean())


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True in a (T,) mask: the contact spans the foot cleanups pin."""
    out, start = [], None
    for t, v in enumerate(mask):
        if v and start is None:
            start = t
        elif not v and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, len(mask)))
    return out
