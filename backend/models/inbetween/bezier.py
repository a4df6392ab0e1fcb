"""Blender's default keyframe interpolation, reproduced: Bezier F-curves, *Auto Clamped* handles, *Continuous
Acceleration* auto-smoothing (Blender 5.0's defaults for new keys and curves).

Bones the in-betweener cannot drive (fingers, props, face: nothing on the canonical skeleton maps to them) are filled
the way Blender itself would fill them from the same keys, so the artist sees what they would have seen without
MotionLoom. Per channel (each quaternion component and each location axis is its own F-curve in Blender):

* handles sit a third of the way to the neighbouring keys in time; the first and last keys and every local
  extremum get flat handles and stay fixed; between fixed keys, handle heights are solved so the curve's second
  derivative is continuous at every key (a tridiagonal system), with each handle clamped so a key never overshoots
  its neighbours or reverses direction (Blender's ``BKE_nurb_handle_smooth_fcurve``, re-written from its
  description);
* before the first / after the last key the value is held (constant extrapolation);
* rotations: components are interpolated independently and the result normalised, as Blender normalises a pose
  bone's quaternion before using it.

Checked against Blender 5.0 itself in ``tests/inbetween/test_bezier.py``.
"""
from __future__ import annotations

import numpy as np


def _clamp_range(hmax, hmin, i, dy):
    """Auto-clamp: a handle may not reverse its key's direction nor overshoot the neighbouring key."""
    if dy > 0:
        hmax[i], hmin[i] = min(hmax[i], dy), 0.0
    elif dy < 0:
        hmax[i], hmin[i] = 0.0, max(hmin[i], dy)
    else:
        hmax[i] = hmin[i] = 0.0


def _tridiagonal(A: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Thomas algorithm on the three diagonals of A (a pinned row, [0 1 0] = v, gives exactly v, as in Blender's
    solver; a general LU solve would leave ~1e-17 there and the clamping loop below would never settle)."""
    n = len(d)
    cp, dp = np.zeros(n), np.zeros(n)
    for i in range(n):
        a = A[i, i - 1] if i > 0 else 0.0
        c = A[i, i + 1] if i < n - 1 else 0.0
        den = A[i, i] - (a * cp[i - 1] if i > 0 else 0.0)
        cp[i] = c / den
        dp[i] = (d[i] - (a * dp[i - 1] if i > 0 else 0.0)) / den
    h = np.zeros(n)
    h[-1] = dp[-1]
    for i in range(n - 2, -1, -1):
        h[i] = dp[i] - cp[i] * h[i + 1]
    return h


def _solve_with_limits(A: np.ndarray, d: np.ndarray, hmin, hmax) -> np.ndarray:
    """Solve A h = d; handles that leave [hmin, hmax] are pinned to the limit (and released again, at most twice,
    when the unconstrained equation pulls them back inside), until no handle overshoots."""
    n = len(d)
    A0, d0 = A.copy(), d.copy()
    A, d = A.copy(), d.copy()
    locked = np.zeros(n, bool)
    unlocks = np.zeros(n, int)
    for _ in range(20 * n + 20):  # terminates long before: each handle is released at most twice
        h = _tridiagonal(A, d)
        overshoot = unlocked = False
        all_, did_lock = False, False
        while True:
            for i in range(n):
                if hmin[i] <= h[i] <= hmax[i]:
                    continue
                overshoot = True
                target = hmax[i] if h[i] > hmax[i] else hmin[i]
                if target != 0.0 or all_:
                    locked[i] = True
                    A[i] = 0.0
                    A[i, i] = 1.0
                    d[i] = target
                    did_lock = True
            all_ = True
            if not (overshoot and not did_lock):
                break
        if not did_lock:
            for i in range(n):
                if not locked[i] or unlocks[i] >= 2:
                    continue
                relax = -(A0[i] @ h - d0[i]) * A0[i, i]
                if (relax > 0 and h[i] < hmax[i]) or (relax < 0 and h[i] > hmin[i]):
                    A[i], d[i] = A0[i], d0[i]
                    locked[i] = False
                    unlocks[i] += 1
                    unlocked = True
        if not (overshoot or unlocked):
            return h
    return np.clip(h, hmin, hmax)


def auto_clamped_handles(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right handle heights (K,) of keys (x strictly increasing); handle times are a third of the way to
    the neighbouring keys."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    K = len(x)
    left, right = y.copy(), y.copy()
    if K < 3:
        return left, right  # two keys: both are end keys, flat
    # fixed keys: the ends and the local extrema (flat handles)
    fixed = np.zeros(K, bool)
    fixed[[0, -1]] = True
    for k in range(1, K - 1):
        d1, d2 = y[k - 1] - y[k], y[k + 1] - y[k]
        fixed[k] = (d1 <= 0 and d2 <= 0) or (d1 >= 0 and d2 >= 0)
    dx_all, dy_all = np.diff(x), np.diff(y)
    k0 = 0
    for k1 in range(1, K):
        if not fixed[k1]:
            continue
        n = k1 - k0 + 1  # a run of free keys between two fixed ones
        if n > 2:
            dx = np.r_[np.nan, dx_all[k0:k1]]
            dy = np.r_[np.nan, dy_all[k0:k1]]
            l = np.ones(n)
            l[1:-1] = dx[2:] / dx[1:-1]
            hmax, hmin = np.full(n, np.inf), np.full(n, -np.inf)
            for i in range(1, n):
                _clamp_range(hmax, hmin, i - 1, dy[i])
                _clamp_range(hmax, hmin, i, dy[i] * l[i])
            A = np.zeros((n, n))
            d = np.zeros(n)
            A[0, 0], d[0] = 1.0, 0.0  # fixed ends keep their flat handles
            A[-1, -1], d[-1] = 1.0, 0.0
            for i in range(1, n - 1):  # second-derivative continuity at key i
                A[i, i - 1] = l[i] ** 2
                A[i, i] = 2.0 * (l[i] + 1)
                A[i, i + 1] = 1.0 / l[i + 1]
                d[i] = dy[i] * l[i] ** 2 + dy[i + 1]
            h = _solve_with_limits(A, d, hmin, hmax)
            for i in range(1, n - 1):
                left[k0 + i] = y[k0 + i] - h[i] / l[i]
                right[k0 + i] = y[k0 + i] + h[i]
        k0 = k1
    return left, right


def evaluate(x: np.ndarray, y: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """One F-curve through keys (x, y), evaluated at ``frames``. With handles at thirds in time, the curve's time is
    linear in its parameter, so t = (frame - x0) / (x1 - x0)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    frames = np.asarray(frames, np.float64)
    out = np.empty(len(frames))
    if len(x) == 1:
        out[:] = y[0]
        return out
    left, right = auto_clamped_handles(x, y)
    k = np.clip(np.searchsorted(x, frames, side="right") - 1, 0, len(x) - 2)
    t = np.clip((frames - x[k]) / (x[k + 1] - x[k]), 0.0, 1.0)
    u = 1 - t
    out = u ** 3 * y[k] + 3 * u * u * t * right[k] + 3 * u * t * t * left[k + 1] + t ** 3 * y[k + 1]
    out[frames <= x[0]] = y[0]
    out[frames >= x[-1]] = y[-1]
    hit = np.searchsorted(x, frames)
    on_key = (hit < len(x)) & (x[np.minimum(hit, len(x) - 1)] == frames)
    out[on_key] = y[hit[on_key]]  # exactly on a key: its value
    return out


def bezier_channels(key_frames, values, keyed, out_frames) -> np.ndarray:
    """Per channel, Blender's F-curve through that channel's keyed rows. values (K,C), keyed (K,C) bool (a channel
    keyed nowhere uses every row) -> (T,C)."""
    values = np.asarray(values, np.float64)
    keyed = np.ones(values.shape, bool) if keyed is None else np.asarray(keyed, bool)
    kf = np.asarray(key_frames, np.float64)
    out = np.empty((len(out_frames), values.shape[1]))
    for c in range(values.shape[1]):
        rows = np.nonzero(keyed[:, c])[0]
        rows = rows if len(rows) else np.arange(len(kf))
        out[:, c] = evaluate(kf[rows], values[rows, c], out_frames)
    return out


def bezier_quaternions(key_frames, q, mask, out_frames) -> np.ndarray:
    """(K,B,4) quaternions (any component order), (K,B) key mask -> (T,B,4): each component its own F-curve, the
    result normalised."""
    K, B, _ = q.shape
    keyed = np.repeat(np.asarray(mask, bool)[:, :, None], 4, 2).reshape(K, B * 4)
    out = bezier_channels(key_frames, q.reshape(K, B * 4), keyed, out_frames).reshape(len(out_frames), B, 4)
    n = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.where(n < 1e-12, 1.0, n)
