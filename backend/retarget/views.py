"""Other views of a rig, for solving on: a subset of its bones, its animator controls alone, and a lying rig stood up.

* :func:`sub_rig`: some of a rig's bones with a given hierarchy (Rigify's FK controls, a request's control bones).
* :func:`controls_rig`: the listed control bones, each parented to its nearest listed ancestor.
* :func:`up_fix` / :func:`turned` / :func:`turn_body`: a rig whose rest pose lies on its back (a Z-up BVH read as
  Y-up) is solved in an *upright view*, its object turned by the rotation that stands the rest pose up (pelvis above
  the ankles); motions are turned into and out of that view as a whole.
"""
from __future__ import annotations

import numpy as np

from ..motion.motion import Motion
from ..motion.rotations import np_matrix_to_quat, np_quat_apply, np_quat_between, np_quat_mul, np_quat_to_matrix
from ..motion.skeleton import SkeletonError
from .bonemap import rig_bone_map
from .rig import Rig, RigError


def sub_rig(rig: Rig, bones: list[str], parents: dict) -> Rig:
    """A rig made of some of ``rig``'s bones with a given hierarchy, keeping their rest frames and world matrix."""
    idx = [rig.index(b) for b in bones]
    par = [bones.index(parents[b]) if parents.get(b) else -1 for b in bones]
    sub = Rig.from_matrices(bones, par, rig.rest_local[idx], matrix_world=rig.matrix_world, name=rig.name)
    # keep end sites (leaf tips) from the full rig's tails for direction finding
    if rig.tails is not None:
        ends = {}
        for k, b in enumerate(sub.names):
            if not sub.skeleton.children(k):
                j = rig.index(b)
                ends[k] = rig.tails[j] - rig.skeleton.rest_positions()[j]
        object.__setattr__(sub.skeleton, "end_sites", ends)
    sub.floor = rig.floor_height()
    return sub


def controls_rig(rig: Rig, controls: list[str]) -> Rig:
    """The listed control bones as a rig of their own: each control's parent is its nearest listed ancestor. Raises
    :class:`RigError` when they do not form a usable rig."""
    listed = set(controls)
    sk = rig.skeleton
    parents = {}
    for b in controls:
        k = sk.parents[sk.index(b)]
        while k >= 0 and sk.names[k] not in listed:
            k = sk.parents[k]
        parents[b] = sk.names[k] if k >= 0 else None
    order = [b for b in sk.names if b in listed]  # topological, so parents come first
    try:
        return sub_rig(rig, order, parents)
    except (RigError, SkeletonError) as e:
        raise RigError(f"its control bones do not form a usable rig: {e}") from None


def up_fix(rig: Rig, overrides: dict) -> np.ndarray | None:
    """The turn (XYZW) that stands a lying rig up: the rest pose's ankles-to-pelvis direction onto +Z. None for rigs
    that stand (within 45 degrees) or whose pelvis and ankles the bone map does not find."""
    try:
        mapping = rig_bone_map(rig, overrides or None).mapping()
    except (ValueError, ArithmeticError, IndexError):
        return None
    if not all(j in mapping for j in ("pelvis", "left_ankle", "right_ankle")):
        return None
    pos = rig.skeleton.rest_positions()
    up = pos[rig.index(mapping["pelvis"])] - 0.5 * (pos[rig.index(mapping["left_ankle"])] +
                                                   pos[rig.index(mapping["right_ankle"])])
    n = np.linalg.norm(up)
    if n < 1e-9 or up[2] / n > np.cos(np.radians(45.0)):
        return None
    q = np.asarray(np_quat_between(up / n, np.array([0.0, 0.0, 1.0])), np.float64)
    # lying rigs come from axis conventions (Y up read as Z up, ...): prefer the exact quarter turn when one is near
    # (feet a little forward of the hips must not tilt the upright view)
    m = np_quat_to_matrix(q)
    best = min(_AXIS_TURNS, key=lambda a: -np.trace(m.T @ a))
    if np.degrees(np.arccos(np.clip((np.trace(m.T @ best) - 1) / 2, -1, 1))) < 20.0:
        q = np.asarray(np_matrix_to_quat(best), np.float64)
    return q


# the 24 rotations that permute the axes (with signs)
_AXIS_TURNS = [np.array(m, float) for m in
               (np.eye(3)[list(perm)] * np.array(signs)[:, None]
                for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
                for signs in ((a, b, c) for a in (1, -1) for b in (1, -1) for c in (1, -1)))
               if np.linalg.det(m) > 0]


def turned(spec, q: np.ndarray) -> Rig:
    """The rig of ``spec`` (a :class:`backend.schema.RigSpec`) with its object turned by ``q`` about the world
    origin (the upright view)."""
    mw = np.eye(4) if spec.matrix_world is None else spec.matrix_world.numpy().astype(np.float64)
    turn = np.eye(4)
    turn[:3, :3] = np_quat_to_matrix(q)
    rig = Rig.from_matrices(spec.bones, spec.parents, spec.rest_matrices.numpy(), turn @ mw,
                            None if spec.tails is None else spec.tails.numpy(), spec.deform, spec.controls or (),
                            spec.name)
    return rig  # its floor: the upright view's lowest bone (a floor given for the lying rig means nothing here)


def turn_body(motion: Motion, q: np.ndarray) -> Motion:
    """A motion turned as a whole by ``q`` about the world origin (root position and root rotation)."""
    rot = motion.rotations.copy()
    for r in motion.skeleton.roots:
        rot[:, r] = np_quat_mul(q, rot[:, r])
    return motion.copy(root_pos=np_quat_apply(q, motion.root_pos), rotations=rot)
