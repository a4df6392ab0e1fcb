"""Classical per-channel interpolation between keys, in each channel's own keyed frames (numpy, float64).

What Blender's linear / slerp interpolation gives: per bone, slerp between that bone's keyed frames and hold before
its first / after its last key (:func:`slerp_channels`); points lerp the same way (:func:`lerp_points`). A bone keyed
nowhere uses every key frame: its key values are context, the best guess there is. :func:`warp_rotations` bends a
motion onto keys it almost passes through (Witkin & Popovic's motion warping).
"""
from __future__ import annotations

import numpy as np

from ...motion.rotations import np_quat_inv, np_quat_mul, np_quat_slerp


def _segments(anchors: np.ndarray, out_frames: np.ndarray):
    """For each output frame: index of the anchor at or before it and the weight towards the next anchor."""
    n = len(anchors)
    if n == 1:
        return np.zeros(len(out_frames), int), np.zeros(len(out_frames))
    i0 = np.clip(np.searchsorted(anchors, out_frames, side="right") - 1, 0, n - 2)
    w = (out_frames - anchors[i0]) / (anchors[i0 + 1] - anchors[i0])
    return i0, np.clip(w, 0.0, 1.0)


def _anchor_groups(mask: np.ndarray):
    """Group bones (columns of the (K,B) key mask) that share the same keyed frames. A bone keyed nowhere uses
    every key frame (its key values are then context, the best guess there is)."""
    groups: dict[tuple, list[int]] = {}
    for b in range(mask.shape[1]):
        rows = tuple(np.nonzero(mask[:, b])[0]) or tuple(range(mask.shape[0]))
        groups.setdefault(rows, []).append(b)
    return groups.items()


def slerp_channels(key_frames, key_q, mask, out_frames) -> np.ndarray:
    """Per bone slerp between its keyed frames. key_q (K,B,4) XYZW, mask (K,B) bool -> (T,B,4)."""
    key_frames = np.asarray(key_frames, np.float64)
    out_frames = np.asarray(out_frames, np.float64)
    out = np.empty((len(out_frames), key_q.shape[1], 4))
    for rows, bones in _anchor_groups(np.asarray(mask, bool)):
        rows = np.array(rows)
        i0, w = _segments(key_frames[rows], out_frames)
        q = key_q[rows][:, bones]
        i1 = np.minimum(i0 + 1, len(rows) - 1)
        out[:, bones] = np_quat_slerp(q[i0], q[i1], np.broadcast_to(w[:, None], (len(w), len(bones))))
    return out


def lerp_points(key_frames, key_v, keyed, out_frames) -> np.ndarray:
    """Linear interpolation of (K,3) values between the keyed rows (all rows if none is keyed) -> (T,3)."""
    key_frames = np.asarray(key_frames, np.float64)
    rows = np.nonzero(keyed)[0]
    rows = rows if len(rows) else np.arange(len(key_frames))
    i0, w = _segments(key_frames[rows], np.asarray(out_frames, np.float64))
    v = np.asarray(key_v, np.float64)[rows]
    i1 = np.minimum(i0 + 1, len(rows) - 1)
    return v[i0] * (1 - w[:, None]) + v[i1] * w[:, None]


def warp_rotations(values, key_frames, out_frames, key_q, mask) -> np.ndarray:
    """Motion warping: left-multiply ``values`` (T,B,4) by per-bone offsets, slerped between keys, so that at
    every keyed (frame, bone) the result equals ``key_q``."""
    rows = np.searchsorted(out_frames, key_frames)
    offset = np_quat_mul(key_q, np_quat_inv(values[rows]))
    return np_quat_mul(slerp_channels(key_frames, offset, mask, out_frames), values)
