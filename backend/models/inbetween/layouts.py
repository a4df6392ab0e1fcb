"""Random key layouts for training: which frames and joints an artist might key.

A layout is (joint_mask (T,22), root_mask (T,), valid (T,)) over a window of T frames, of which the first
``real`` are real motion. Frames that are not ``valid`` are ignored (attention and loss). The mix covers:

* the LaFAN1 benchmark layout: a block of context frames, a gap of 1-60 frames, one target frame;
* sparse keys: keys every 2-60 frames, jittered, sometimes with a context block and a free head or tail;
* partial-body keys: on some or all keys only a body part is keyed (arms, legs, upper or lower body, one chain,
  random joints), so the network learns to fill the rest naturally;
* root path: the root keyed on every frame (a drawn trajectory) while poses are sparse; or a root left unkeyed.
"""
from __future__ import annotations

import numpy as np

from ...motion.skeleton import CANONICAL

J = CANONICAL.num_joints
_IDX = CANONICAL.index_of
BODY_PARTS = {
    "left_arm": ["left_collar", "left_shoulder", "left_elbow", "left_wrist"],
    "right_arm": ["right_collar", "right_shoulder", "right_elbow", "right_wrist"],
    "left_leg": ["left_hip", "left_knee", "left_ankle", "left_foot"],
    "right_leg": ["right_hip", "right_knee", "right_ankle", "right_foot"],
    "spine_head": ["spine1", "spine2", "spine3", "neck", "head"],
}
PART_SETS = [
    ["left_arm", "right_arm"], ["left_arm"], ["right_arm"], ["left_leg", "right_leg"],
    ["spine_head", "left_arm", "right_arm"], ["left_leg", "right_leg", "pelvis"], ["spine_head"],
]


def part_mask(parts: list[str]) -> np.ndarray:
    m = np.zeros(J, bool)
    for p in parts:
        for n in (BODY_PARTS.get(p) or [p]):
            m[_IDX[n]] = True
    return m


def _sparse_frames(rng, start: int, end: int, spacing: float) -> list[int]:
    out, t = [], start
    while t < end:
        out.append(t)
        t += max(1, round(spacing * rng.uniform(0.5, 1.5)))
    return out


def sample_layout(rng: np.random.Generator, T: int, real: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random layout for a window of T frames whose first ``real`` frames are real (real >= 2)."""
    real = max(2, min(real, T))
    valid = np.zeros(T, bool)
    keyed = np.zeros(T, bool)
    context = 0
    u = rng.random()
    if u < 0.4 and real >= 3:  # benchmark layout
        context = 10 if rng.random() < 0.7 else int(rng.integers(1, 11))
        context = min(context, real - 2)
        gap = int(rng.integers(1, min(60, real - context - 1) + 1))
        end = context + gap
        keyed[:context] = True
        keyed[end] = True
        valid[:end + 1] = True
    else:  # sparse keys, maybe after a context block, maybe with a free head/tail
        spacing = float(np.exp(rng.uniform(np.log(2), np.log(60))))
        start = 0
        if rng.random() < 0.3:
            context = int(rng.integers(1, 11))
            context = min(context, real - 2)
            keyed[:context] = True
            start = context - 1
        elif rng.random() < 0.15:
            start = int(rng.integers(1, min(20, real - 1) + 1))
        last = real - 1
        frames = _sparse_frames(rng, start, last, spacing)
        if rng.random() < 0.85 or len(frames) < 2:
            frames.append(last)
        keyed[frames] = True
        valid[:real] = True
    joint_mask = np.repeat(keyed[:, None], J, 1)
    root_mask = keyed.copy()
    # partial-body keys (never on the context block)
    if rng.random() < 0.3:
        consistent = rng.random() < 0.5
        fixed = part_mask(PART_SETS[int(rng.integers(len(PART_SETS)))])
        for t in np.nonzero(keyed)[0]:
            if t < context or rng.random() < 0.25 and not consistent:
                continue
            if consistent:
                m = fixed
            elif rng.random() < 0.3:
                m = rng.random(J) < rng.uniform(0.2, 0.8)
            else:
                m = part_mask(PART_SETS[int(rng.integers(len(PART_SETS)))])
            joint_mask[t] = m
            if rng.random() < 0.5:
                root_mask[t] = False
    # the root: a dense path, or missing on some keys
    r = rng.random()
    if r < 0.15:
        root_mask[valid] = True
    elif r < 0.25:
        drop = (rng.random(T) < 0.5) & keyed
        drop[:max(context, 1)] = False
        root_mask[drop] = False
    if not (joint_mask[valid].any() or root_mask[valid].any()):
        joint_mask[0] = True
        root_mask[0] = True
    joint_mask &= valid[:, None]
    root_mask &= valid
    return joint_mask, root_mask, valid


def benchmark_layout(T: int, n_past: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The LaFAN1 layout: frames [0, n_past) and the last frame fully keyed."""
    keyed = np.zeros(T, bool)
    keyed[:n_past] = True
    keyed[-1] = True
    return np.repeat(keyed[:, None], J, 1), keyed.copy()
