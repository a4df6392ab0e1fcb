"""A folder of BVH files shaped like LaFAN1, made from canonical clips: LaFAN1's 22 joint names and hierarchy,
Y-up centimetres, ``<take>_subjectN.bvh`` names, and a rest pose that is not a T-pose (every joint's local X axis
runs along its bone, so with all rotations zero the skeleton lies along X, as LaFAN1's does).

The construction is exact and independent of the code under test: each LaFAN1 joint i copies canonical joint c(i)
with a fixed rest frame B_i (G'_i = G_c(i) B_i, offsets expressed in the parent's rest frame), so world joint
positions are the canonical ones."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from backend.motion.formats.bvh import write_bvh
from backend.motion.kinematics import fk, global_to_local
from backend.motion.motion import Motion
from backend.motion.rotations import np_matrix_to_quat, np_quat_apply, np_quat_inv, np_quat_mul
from backend.motion.skeleton import CANONICAL, Skeleton

NAMES = ["Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToe", "RightUpLeg", "RightLeg", "RightFoot", "RightToe",
         "Spine", "Spine1", "Spine2", "Neck", "Head", "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand",
         "RightShoulder", "RightArm", "RightForeArm", "RightHand"]
PARENTS = [-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 12, 11, 14, 15, 16, 11, 18, 19, 20]
TO_CANON = ["pelvis", "left_hip", "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
            "right_foot", "spine1", "spine2", "spine3", "neck", "head", "left_collar", "left_shoulder", "left_elbow",
            "left_wrist", "right_collar", "right_shoulder", "right_elbow", "right_wrist"]


def _rest_frames() -> np.ndarray:
    """Per joint, the world rotation of its rest frame in the canonical T-pose: local X along the bone."""
    crest = CANONICAL.rest_positions()
    cidx = [CANONICAL.index(n) for n in TO_CANON]
    B = np.zeros((22, 4))
    for i in range(22):
        kids = [k for k, p in enumerate(PARENTS) if p == i]
        if i == 0:
            x = crest[cidx[9]] - crest[cidx[0]]  # hips: X up the spine, like LaFAN1's
        elif kids:
            x = crest[cidx[kids[0]]] - crest[cidx[i]]
        else:
            B[i] = B[PARENTS[i]]
            continue
        x = x / np.linalg.norm(x)
        helper = np.array([0.0, -1.0, 0.0]) if abs(x[1]) < 0.9 else np.array([0.0, 0.0, 1.0])
        z = np.cross(x, helper)
        z /= np.linalg.norm(z)
        y = np.cross(z, x)
        B[i] = np_matrix_to_quat(np.stack([x, y, z], 1))
    return B


def lafan1_like(m: Motion) -> Motion:
    """A canonical motion re-expressed on the LaFAN1-like skeleton (same world joint positions)."""
    B = _rest_frames()
    crest = CANONICAL.rest_positions()
    cidx = [CANONICAL.index(n) for n in TO_CANON]
    offsets = np.zeros((22, 3))
    offsets[0] = crest[cidx[0]]
    for i in range(1, 22):
        p = PARENTS[i]
        offsets[i] = np_quat_apply(np_quat_inv(B[p]), crest[cidx[i]] - crest[cidx[p]])
    sk = Skeleton(tuple(NAMES), np.array(PARENTS), offsets)
    g, _ = fk(m.rotations, m.root_pos, CANONICAL.offsets, CANONICAL.parents)
    g_new = np_quat_mul(g[:, cidx], B[None])
    return Motion(sk, m.fps, m.root_pos, global_to_local(g_new, PARENTS))


def write_folder(folder: Path, clips: dict[str, Motion]) -> Path:
    """``clips``: file stem (``<take>_subjectN``) -> canonical motion. Written Y-up, centimetres."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, m in clips.items():
        write_bvh(lafan1_like(m), folder / f"{stem}.bvh", unit_scale=100.0, up="Y", rotation_order="ZYX")
    return folder
