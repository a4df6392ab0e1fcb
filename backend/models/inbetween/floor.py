"""Feet stay out of the floor where the artist did not key the legs.

With partial-body keys (arms keyed, the pelvis lowered into a crouch, legs left free) an interpolated leg can pass
through the floor. After the network, on every frame where none of a leg's joints is keyed, the ankle is lifted just
enough that ankle and toe keep their rest clearance over the floor, and analytic two-bone IK
(:func:`backend.retarget.ik.solve_limb`) bends hip and knee to get there (the foot keeps its world orientation).
The lift is spread over a few frames (a moving maximum, then a moving average, which never falls below the needed
lift) so nothing pops. Keyed joints are never touched. The floor is z = 0 (the canonical convention), or lower if
the artist's own keyed feet go lower.
"""
from __future__ import annotations

import numpy as np

from ...motion.motion import Motion
from ...motion.skeleton import CANONICAL

LEGS = [tuple(CANONICAL.index(f"{s}_{j}") for j in ("hip", "knee", "ankle", "foot")) for s in ("left", "right")]
KNEE_HINGE = np.array([-1.0, 0.0, 0.0])  # canonical rest: knees bend forward about -X (left is +X, facing -Y)


def _spread(x: np.ndarray, r: int) -> np.ndarray:
    if r <= 0 or not x.any():
        return x
    pad = np.pad(x, r, mode="edge")
    mx = np.max(np.lib.stride_tricks.sliding_window_view(pad, 2 * r + 1), axis=-1)
    pad = np.pad(mx, r, mode="edge")
    return np.mean(np.lib.stride_tricks.sliding_window_view(pad, 2 * r + 1), axis=-1)


def keep_feet_above_floor(m: Motion, keyed: np.ndarray, blend: int = 4) -> Motion:
    """``keyed`` (T,22) bool: joints the artist keyed on each frame (never moved)."""
    from ...retarget.ik import solve_limb
    rest = CANONICAL.rest_positions()
    rest_floor = min(0.0, float(rest[:, 2].min()) - 0.02)  # canonical toes rest 2 cm above z = 0
    pos = m.positions()
    floor = 0.0
    for h, k, a, t in LEGS:
        on = keyed[:, a] & keyed[:, t]
        if on.any():
            floor = min(floor, float(np.min(pos[on, a, 2] - (rest[a, 2] - rest_floor))),
                        float(np.min(pos[on, t, 2] - (rest[t, 2] - rest_floor))))
    out = m
    for h, k, a, t in LEGS:
        free = ~keyed[:, [h, k, a, t]].any(axis=1)
        need = np.maximum.reduce([np.zeros(len(pos)), floor + rest[a, 2] - rest_floor - pos[:, a, 2],
                                  floor + rest[t, 2] - rest_floor - pos[:, t, 2]]) * free
        if need.max() <= 1e-4:
            continue
        lift = _spread(need, blend) * free
        target = pos[:, a] + lift[:, None] * np.array([0.0, 0.0, 1.0])
        out = solve_limb(out, (h, k, a), target, (lift > 1e-6).astype(float), KNEE_HINGE)
    return out
