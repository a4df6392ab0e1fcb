"""The naive baseline: what a Blender user gets from per-bone Copy Rotation constraints.

Setup it stands for: the source armature and the target armature in one scene, the same bone map; on every mapped
target bone a **Copy Rotation** constraint (target: the mapped source bone; Target/Owner space: World; Mix: Replace,
with the bones' rest orientations matched, which is the best case for that constraint: a bone turns in the world by
exactly what its source bone turns from its own rest pose); on the hips a **Copy Location** constraint (World space,
no offset, no scaling). Unmapped bones follow their parents. No rest-pose alignment (an A-pose character driven by a
T-pose source gets the source's arm rotations on top of its A-pose), no leg-length scaling of the hips, no contact
handling. In formulas, for a mapped target bone d of source bone s::

    G_d(t) = G_s(t) G_s,rest^-1 G_d,rest          (world-aligned: G_d(t) = G_s(t) when both rest frames are identity)
    hips_d(t) = hips_s(t)

and back (rig -> canonical) the same with the roles swapped, so the naive round trip is lossless by construction:
its error is in the pose, not in invertibility.
"""
from __future__ import annotations

import numpy as np

from ..motion.kinematics import fk, global_to_local
from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, Skeleton
from .api import PreparedRig, RigPose, motion_to_pose, pose_to_motion


def _copy_rotations(src: Motion, dst: Skeleton, pairs: list[tuple[int, int]], src_hips: int, dst_hips: int) -> Motion:
    g_src, p_src = fk(src.rotations, src.root_pos, src.skeleton.offsets, src.skeleton.parents)
    T, J = src.num_frames, len(dst)
    mapped = dict(pairs)
    world = np.empty((T, J, 4))
    for j in range(J):
        p = dst.parents[j]
        if j in mapped:
            world[:, j] = g_src[:, mapped[j]]
        else:
            world[:, j] = [0, 0, 0, 1.0] if p < 0 else world[:, p]
    local = global_to_local(world, dst.parents)
    root0 = np.tile(dst.offsets[0], (T, 1))
    _, p0 = fk(local, root0, dst.offsets, dst.parents)
    root = root0 + (p_src[:, src_hips] - p0[:, dst_hips])
    return Motion(dst, src.fps, root, local)


def naive_from_canonical(prep: PreparedRig, motion: Motion) -> tuple[RigPose, Motion]:
    """Canonical motion -> (rig pose, world-aligned motion on the driving skeleton), the Copy Rotation way."""
    drv = prep.driving
    pairs = [(drv.index(b), motion.skeleton.index(c)) for c, b in prep.mapping.items()]
    out = _copy_rotations(motion, drv, pairs, motion.skeleton.index("pelvis"), drv.index(prep.mapping["pelvis"]))
    return motion_to_pose(prep, out), out


def naive_to_canonical(prep: PreparedRig, pose: RigPose, skeleton: Skeleton = CANONICAL) -> Motion:
    m = pose_to_motion(prep, pose)
    pairs = [(skeleton.index(c), prep.driving.index(b)) for c, b in prep.mapping.items()]
    return _copy_rotations(m, skeleton, pairs, prep.driving.index(prep.mapping["pelvis"]), skeleton.index("pelvis"))
