"""Test rigs built the way Blender stores imported characters, so rig-space code meets real-world awkwardness:
Mixamo bone names with a ``mixamorig:`` prefix, bones whose local Y axis runs head -> tail with a roll, an A-pose
rest, armature data in Y-up centimetres under an object matrix that rotates +90 degrees about X and scales by 0.01
(what the FBX/glTF importers produce), plus bones no canonical joint maps to (a root, a finger, a head-top end)."""
from __future__ import annotations

import numpy as np

from backend.motion.rotations import np_quat_apply, np_quat_to_matrix
from backend.motion.skeleton import CANONICAL, CANONICAL_JOINTS
from backend.schema import Array, RigSpec

MIXAMO = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "spine1": "Spine", "left_knee": "LeftLeg",
    "right_knee": "RightLeg", "spine2": "Spine1", "left_ankle": "LeftFoot", "right_ankle": "RightFoot",
    "spine3": "Spine2", "left_foot": "LeftToeBase", "right_foot": "RightToeBase", "neck": "Neck",
    "left_collar": "LeftShoulder", "right_collar": "RightShoulder", "head": "Head", "left_shoulder": "LeftArm",
    "right_shoulder": "RightArm", "left_elbow": "LeftForeArm", "right_elbow": "RightForeArm", "left_wrist": "LeftHand",
    "right_wrist": "RightHand",
}


def _bone_matrix(head, tail, roll):
    """Blender-style rest matrix: Y along head -> tail, X/Z from a fixed reference turned by ``roll``."""
    y = tail - head
    y = y / np.linalg.norm(y)
    ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(y, ref)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    c, s = np.cos(roll), np.sin(roll)
    x, z = c * x + s * z, -s * x + c * z
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, head
    return m


def mixamo_rig(a_pose_deg: float = 40.0, seed: int = 0, extra_bones: bool = True, prefix: str = "mixamorig:",
               name: str = "test_mixamo") -> RigSpec:
    """A Mixamo-named rig on the canonical proportions (A-pose, Y-up cm data, object matrix Rx(90) * 0.01)."""
    rng = np.random.default_rng(seed)
    pos = CANONICAL.rest_positions().copy()  # Z-up metres, T-pose
    idx = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
    # lower the arms into an A-pose: rotate each arm chain about the body's forward axis at the shoulder
    for side, sign in (("left", -1.0), ("right", 1.0)):
        pivot = pos[idx[f"{side}_shoulder"]].copy()
        ang = np.radians(a_pose_deg) * sign
        q = np.array([0.0, np.sin(ang / 2), 0.0, np.cos(ang / 2)])  # about Y (the forward/back axis)
        for j in (f"{side}_elbow", f"{side}_wrist"):
            pos[idx[j]] = pivot + np_quat_apply(q, pos[idx[j]] - pivot)
    names = [prefix + MIXAMO[c] for c in CANONICAL_JOINTS]
    parents = [int(p) for p in CANONICAL.parents]
    tails = {}
    for j in range(len(names)):
        kids = [c for c in range(len(names)) if parents[c] == j]
        if kids:
            tails[j] = pos[kids[-1] if CANONICAL_JOINTS[j] in ("spine3",) else kids[0]]
        else:
            par = parents[j]
            d = pos[j] - pos[par]
            tails[j] = pos[j] + 0.5 * d if np.linalg.norm(d) > 1e-6 else pos[j] + np.array([0, 0, 0.1])
    heads = [pos[j] for j in range(len(names))]
    tails = [tails[j] for j in range(len(names))]
    if extra_bones:
        # a root bone at the origin above the hips, a finger and a head-top end bone nobody maps
        names = [prefix + "Root"] + names
        parents = [-1] + [p + 1 for p in parents]
        parents[1] = 0
        heads = [np.zeros(3)] + heads
        tails = [np.array([0.0, 0.0, 0.2])] + tails
        hand = names.index(prefix + "LeftHand")
        names.append(prefix + "LeftHandIndex1")
        parents.append(hand)
        heads.append(tails[hand])
        tails.append(tails[hand] + np.array([0.06, 0.0, 0.0]))
        head = names.index(prefix + "Head")
        names.append(prefix + "HeadTop_End")
        parents.append(head)
        heads.append(tails[head])
        tails.append(tails[head] + np.array([0.0, 0.0, 0.08]))
    # Z-up metres -> armature data in Y-up centimetres (the object matrix below undoes it)
    to_data = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z) -> (x, z, -y)
    rest = []
    for h, t in zip(heads, tails):
        rest.append(_bone_matrix(100 * to_data @ h, 100 * to_data @ t, rng.uniform(-np.pi, np.pi)))
    rest = np.array(rest)
    tails_data = np.array([100 * to_data @ t for t in tails])
    mw = np.eye(4)
    mw[:3, :3] = 0.01 * np_quat_to_matrix(np.array([np.sin(np.pi / 4), 0.0, 0.0, np.cos(np.pi / 4)]))
    return RigSpec(name=name, bones=names, parents=parents, rest_matrices=Array.from_numpy(rest),
                   tails=Array.from_numpy(tails_data), matrix_world=Array.from_numpy(mw))
