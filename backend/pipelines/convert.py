"""Wire motions (:class:`backend.schema.MotionSpec`) <-> project motions (:class:`backend.motion.Motion`).

Two spaces travel on the wire (see :mod:`backend.schema`):

* ``canonical``: the 22 SMPL joints, world-aligned local rotations, pelvis world position. A spec may list the
  joints in any order or only some of them; missing joints are at rest (identity).
* ``rig``: a rig's own pose channels (``pose_bone.rotation_quaternion`` per bone, ``pose_bone.location`` of the
  ``root_bone``). Turning channels into a world-aligned :class:`Motion` needs the rig: :class:`backend.retarget.rig.Rig`
  does the maths; this module only puts bones in the right order and checks names.

Every function raises :class:`~backend.pipelines.context.RequestError` with a readable message on bad input.
"""
from __future__ import annotations

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, CANONICAL_JOINTS, FOOT_JOINTS
from ..schema import Array, MotionSpec
from .context import RequestError

_CANON_INDEX = {n: i for i, n in enumerate(CANONICAL_JOINTS)}


def unknown_names(names, known) -> list[str]:
    known = set(known)
    return [n for n in names if n not in known]


def check_canonical_bones(bones, what: str = "motion") -> None:
    bad = unknown_names(bones, CANONICAL_JOINTS)
    if bad:
        raise RequestError(f"{what} names bones that are not canonical SMPL joints: {', '.join(map(repr, bad[:5]))}"
                           f"{' ...' if len(bad) > 5 else ''}; canonical joints are {', '.join(CANONICAL_JOINTS[:4])}, "
                           f"... (send a rig to use your own bone names)")


def subset_parents(names: list[str], all_names, all_parents) -> list[int]:
    """Parents of ``names`` (a subset of a tree) inside the subset: nearest kept ancestor, -1 if none."""
    pos = {n: i for i, n in enumerate(names)}
    index = {n: i for i, n in enumerate(all_names)}
    out = []
    for n in names:
        p = int(all_parents[index[n]])
        while p >= 0 and all_names[p] not in pos:
            p = int(all_parents[p])
        out.append(pos[all_names[p]] if p >= 0 else -1)
    return out


def identity_quats(*shape) -> np.ndarray:
    q = np.zeros(shape + (4,))
    q[..., 3] = 1.0
    return q


# ------------------------------------------------------------------------------------------------- canonical
def canonical_motion_to_spec(motion: Motion, start_frame: int = 1) -> MotionSpec:
    """A :class:`Motion` on the canonical skeleton -> ``MotionSpec(space="canonical")`` with all 22 joints."""
    if motion.skeleton.names != CANONICAL_JOINTS:
        raise ValueError("motion is not on the canonical skeleton")
    contacts = None
    if motion.contacts is not None and tuple(motion.contact_joints) == FOOT_JOINTS:
        contacts = Array.from_numpy(motion.contacts.astype(np.float32))
    return MotionSpec(space="canonical", bones=list(CANONICAL_JOINTS), parents=[int(p) for p in CANONICAL.parents],
                      fps=float(motion.fps), start_frame=int(start_frame),
                      rotations=Array.from_numpy(motion.rotations), root_translation=Array.from_numpy(motion.root_pos),
                      root_bone="pelvis", contacts=contacts)


def spec_to_canonical_motion(spec: MotionSpec) -> Motion:
    """``MotionSpec(space="canonical")`` -> :class:`Motion` on the canonical skeleton (missing joints at rest)."""
    if spec.space != "canonical":
        raise RequestError("expected a motion in canonical space")
    check_canonical_bones(spec.bones)
    q = spec.rotations.numpy().astype(np.float64)
    T = q.shape[0]
    rot = identity_quats(T, len(CANONICAL_JOINTS))
    rot[:, [_CANON_INDEX[b] for b in spec.bones]] = q / np.linalg.norm(q, axis=-1, keepdims=True)
    contacts, cj = None, ()
    if spec.contacts is not None and spec.contacts.shape[1] == len(FOOT_JOINTS):
        contacts, cj = spec.contacts.numpy() > 0.5, FOOT_JOINTS
    return Motion(CANONICAL, spec.fps, spec.root_translation.numpy().astype(np.float64), rot, contacts=contacts,
                  contact_joints=cj)


# ------------------------------------------------------------------------------------------------------- rig
def channels_to_spec(bones: list[str], parents: list[int], pose_xyzw: np.ndarray, location: np.ndarray, fps: float,
                     start_frame: int, root_bone: str) -> MotionSpec:
    """Pose channels (T,B,4) of ``bones`` and the root bone's location (T,3) -> ``MotionSpec(space="rig")``."""
    return MotionSpec(space="rig", bones=list(bones), parents=[int(p) for p in parents], fps=float(fps),
                      start_frame=int(start_frame), rotations=Array.from_numpy(pose_xyzw),
                      root_translation=Array.from_numpy(location), root_bone=root_bone)


def spec_to_channels(spec: MotionSpec, rig_names, default_root: str) -> tuple[np.ndarray, np.ndarray, str]:
    """``MotionSpec(space="rig")`` -> (pose (T,J,4) in ``rig_names`` order, location (T,3), root bone name).

    Bones the spec does not list stay at rest (identity channel).
    """
    if spec.space != "rig":
        raise RequestError("expected a motion in rig space")
    bad = unknown_names(spec.bones, rig_names)
    if bad:
        raise RequestError(f"motion names bones the rig does not have: {', '.join(map(repr, bad[:5]))}")
    index = {n: i for i, n in enumerate(rig_names)}
    q = spec.rotations.numpy().astype(np.float64)
    pose = identity_quats(q.shape[0], len(rig_names))
    pose[:, [index[b] for b in spec.bones]] = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return pose, spec.root_translation.numpy().astype(np.float64), spec.root_bone or default_root
