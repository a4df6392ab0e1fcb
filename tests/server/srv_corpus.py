"""A small corpus of procedural canonical clips with descriptions, shaped like ``backend.data.corpus`` (``.clips``
with ``.motion``, ``.texts``, ``.id``, ``.source``, ``.split``), for testing the retrieval baseline's mechanics
(ranking, length fitting, path following) without the real corpus."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from backend.motion.motion import Motion
from backend.motion.skeleton import CANONICAL, CANONICAL_JOINTS

J = {n: i for i, n in enumerate(CANONICAL_JOINTS)}


def _axis_angle(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    angle = np.asarray(angle, float)[..., None]
    return np.concatenate([axis * np.sin(angle / 2), np.cos(angle / 2)], axis=-1)


def _rest(T):
    q = np.zeros((T, 22, 4))
    q[..., 3] = 1
    return q


def walk(T=90, fps=30.0, speed=1.2, heading=0.0) -> Motion:
    """Legs and arms swinging about X, pelvis moving forward (-Y) at ``speed`` m/s, facing ``heading``."""
    t = np.arange(T) / fps
    ph = 2 * np.pi * 1.0 * t
    q = _rest(T)
    q[:, J["left_hip"]] = _axis_angle([1, 0, 0], 0.5 * np.sin(ph))
    q[:, J["right_hip"]] = _axis_angle([1, 0, 0], -0.5 * np.sin(ph))
    q[:, J["left_knee"]] = _axis_angle([1, 0, 0], -0.6 * np.clip(np.sin(ph + 1), 0, None))
    q[:, J["right_knee"]] = _axis_angle([1, 0, 0], -0.6 * np.clip(-np.sin(ph + 1), 0, None))
    q[:, J["left_shoulder"]] = _axis_angle([0, 1, 0], 1.2 + 0 * t)  # arms down
    q[:, J["right_shoulder"]] = _axis_angle([0, 1, 0], -1.2 + 0 * t)
    root = np.tile(CANONICAL.offsets[0], (T, 1)).astype(float)
    root[:, 1] -= speed * t
    root[:, 2] += 0.02 * np.cos(2 * ph)
    m = Motion(CANONICAL, fps, root, q)
    return m.rotated_about_z(heading, pivot=root[0]) if heading else m


def jump(T=60, fps=30.0) -> Motion:
    t = np.arange(T) / fps
    q = _rest(T)
    crouch = 0.6 * np.clip(np.sin(2 * np.pi * t / (T / fps)), 0, None)
    q[:, J["left_knee"]] = _axis_angle([1, 0, 0], -crouch)
    q[:, J["right_knee"]] = _axis_angle([1, 0, 0], -crouch)
    root = np.tile(CANONICAL.offsets[0], (T, 1)).astype(float)
    root[:, 2] += 0.4 * np.clip(np.sin(2 * np.pi * t / (T / fps) + np.pi), 0, None)
    return Motion(CANONICAL, fps, root, q)


def wave(T=45, fps=30.0) -> Motion:
    t = np.arange(T) / fps
    q = _rest(T)
    q[:, J["right_shoulder"]] = _axis_angle([0, 1, 0], 1.0 + 0 * t)
    q[:, J["right_elbow"]] = _axis_angle([0, 0, 1], 0.6 * np.sin(2 * np.pi * 2 * t))
    root = np.tile(CANONICAL.offsets[0], (T, 1)).astype(float)
    m = Motion(CANONICAL, fps, root, q)
    return m.rotated_about_z(0.7, pivot=root[0])  # facing somewhere else: the baseline must turn it to -Y


def corpus():
    clips = [
        SimpleNamespace(id="walk_01", motion=walk(), texts=["a person walks forward", "walking"], source="test",
                        split="train"),
        SimpleNamespace(id="walk_02", motion=walk(T=120, speed=0.8), texts=["someone strolls slowly"],
                        source="test", split="train"),
        SimpleNamespace(id="jump_01", motion=jump(), texts=["a person jumps in place", "jumping up"],
                        source="test", split="train"),
        SimpleNamespace(id="wave_01", motion=wave(), texts=["a man waves with his right hand"], source="test",
                        split="train"),
    ]
    return SimpleNamespace(clips=clips)
