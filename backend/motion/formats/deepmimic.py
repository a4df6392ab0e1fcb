"""DeepMimic ``humanoid3d`` motion files (JSON despite the .txt name; the clips pybullet ships).

Frame layout (Peng et al. 2018): ``[dt, root pos (3), root rot (4, wxyz), chest (4), neck (4), right hip (4),
right knee (1), right ankle (4), right shoulder (4), right elbow (1), left hip (4), left knee (1), left ankle (4),
left shoulder (4), left elbow (1)]``; quaternions are **WXYZ** in the file, revolute joints (knees, elbows) turn
about their local Z axis; Y up, metres; the character faces +X with its left at -Z. The rest pose has the arms down.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..motion import Motion
from ..rotations import wxyz_to_xyzw
from ..skeleton import Skeleton
from .bvh import axis_change_quat, change_basis

# (name, parent, offset in metres, Y up) from data/characters/humanoid3d.txt
_JOINTS = [
    ("root", -1, (0.0, 0.0, 0.0)),
    ("chest", 0, (0.0, 0.236151, 0.0)),
    ("neck", 1, (0.0, 0.223894, 0.0)),
    ("right_hip", 0, (0.0, 0.0, 0.084887)),
    ("right_knee", 3, (0.0, -0.421546, 0.0)),
    ("right_ankle", 4, (0.0, -0.40987, 0.0)),
    ("right_shoulder", 1, (-0.02405, 0.2435, 0.18311)),
    ("right_elbow", 6, (0.0, -0.274788, 0.0)),
    ("right_wrist", 7, (0.0, -0.258947, 0.0)),
    ("left_hip", 0, (0.0, 0.0, -0.084887)),
    ("left_knee", 9, (0.0, -0.421546, 0.0)),
    ("left_ankle", 10, (0.0, -0.40987, 0.0)),
    ("left_shoulder", 1, (-0.02405, 0.2435, -0.18311)),
    ("left_elbow", 12, (0.0, -0.274788, 0.0)),
    ("left_wrist", 13, (0.0, -0.258947, 0.0)),
]
# end sites: head top above the neck, toes ahead of the ankles (the foot boxes), hand tips
_END_SITES = {2: (0.0, 0.20, 0.0), 5: (0.18, -0.05, 0.0), 11: (0.18, -0.05, 0.0), 8: (0.0, -0.08, 0.0),
              14: (0.0, -0.08, 0.0)}
# file layout: (joint index, number of values)
_LAYOUT = [(1, 4), (2, 4), (3, 4), (4, 1), (5, 4), (6, 4), (7, 1), (9, 4), (10, 1), (11, 4), (12, 4), (13, 1)]


class DeepMimicError(ValueError):
    """A DeepMimic motion file that cannot be read."""


def deepmimic_skeleton() -> Skeleton:
    return Skeleton(tuple(n for n, _, _ in _JOINTS), np.array([p for _, p, _ in _JOINTS]),
                    np.array([o for _, _, o in _JOINTS]), {k: np.array(v) for k, v in _END_SITES.items()})


def read_deepmimic(path: str | Path) -> Motion:
    """Read a clip in the file's own frame (Y up, metres). Frame durations must be uniform (they are in practice);
    the clip's fps is 1 / dt of the first frame."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        frames = np.asarray(data["Frames"], np.float64)
    except (OSError, ValueError, KeyError) as e:
        raise DeepMimicError(f"{path.name}: not a DeepMimic motion file ({e})") from None
    if frames.ndim != 2 or frames.shape[1] != 44:
        raise DeepMimicError(f"{path.name}: expected 44 values per frame, got shape {frames.shape}")
    if not np.all(np.isfinite(frames)):
        raise DeepMimicError(f"{path.name}: contains NaN or infinity")
    dt = frames[0, 0]
    if not dt > 0:
        raise DeepMimicError(f"{path.name}: first frame duration must be positive")
    sk = deepmimic_skeleton()
    T = frames.shape[0]
    rot = np.zeros((T, len(sk), 4))
    rot[..., 3] = 1.0
    rot[:, 0] = wxyz_to_xyzw(frames[:, 4:8])
    col = 8
    for j, n in _LAYOUT:
        if n == 4:
            rot[:, j] = wxyz_to_xyzw(frames[:, col:col + 4])
        else:  # revolute about local Z
            a = frames[:, col]
            rot[:, j] = np.stack([np.zeros(T), np.zeros(T), np.sin(a / 2), np.cos(a / 2)], axis=-1)
        col += n
    rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
    return Motion(sk, 1.0 / dt, frames[:, 1:4], rot, meta={"source_file": str(path), "loop": data.get("Loop")})


def load_deepmimic(path: str | Path) -> Motion:
    """Read a clip into the project's world (Z up, metres)."""
    m = change_basis(read_deepmimic(path), axis_change_quat("Y"), 1.0)
    m.meta["source_file"] = str(path)
    return m
