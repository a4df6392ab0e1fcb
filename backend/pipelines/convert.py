"""Wire motions (:class:`backend.schema.MotionSpec`) <-> project motions (:class:`backend.motion.Motion`).

Two spaces travel on the wire (see :mod:`backend.schema`):

* ``canonical``: the 22 SMPL joints, world-aligned local rotations, pelvis world position. A spec may list the
  joints in any order or only some of them; missing joints are at rest (identity).
* ``rig``: a rig's own pose channels (``pose_bone.rotation_quaternion`` per bone, ``pose_bone.location`` of the
  ``root_bone`` and of ``location_bones``, pose-bone properties). Those need the rig:
  :class:`backend.pipelines.rigs.RigBinding` turns them into :class:`backend.retarget.api.RigPose` and back.

Every function raises :class:`~backend.pipelines.context.RequestError` with a readable message on bad input.
"""
from __future__ import annotations

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, CANONICAL_JOINTS, FOOT_JOINTS
from ..schema import Array, KeySpec, MotionSpec
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


# ------------------------------------------------------------------------------------------------------ keys
def key_masks(keys: KeySpec) -> tuple[np.ndarray, np.ndarray]:
    """(mask (K,B) bool, root_mask (K,) bool) of ``keys``: everything is keyed where the request leaves them out."""
    mask = np.ones((len(keys.frames), len(keys.bones)), bool) if keys.mask is None else keys.mask.numpy() > 0.5
    root_mask = np.ones(len(keys.frames), bool) if keys.root_mask is None else np.asarray(keys.root_mask, bool)
    return mask, root_mask


def write_keys_exactly(spec: MotionSpec, keys: KeySpec) -> MotionSpec:
    """``spec`` with the keys' float32 values written in bit for bit, as sent (nothing renormalised in between), on
    the rows of their frames (``frame - spec.start_frame``): the rotation of every keyed bone the spec carries, the
    root translation where it is keyed when the keys' root bone is the spec's (default: it is), and the
    ``location_bones`` the spec carries, keyed where their bone is (every key when the bone is not in ``keys.bones``).
    """
    rows = np.asarray(keys.frames) - spec.start_frame
    inside = (rows >= 0) & (rows < spec.num_frames)
    mask, root_mask = key_masks(keys)
    col = {b: i for i, b in enumerate(spec.bones)}
    q32 = keys.rotations.numpy()
    rot = spec.rotations.numpy().copy()
    for i, b in enumerate(keys.bones):
        if b in col:
            for k in np.nonzero(mask[:, i] & inside)[0]:
                rot[rows[k], col[b]] = q32[k, i]
    root = spec.root_translation.numpy().copy()
    if (keys.root_bone or spec.root_bone) == spec.root_bone:
        sent = keys.root_translation.numpy()
        for k in np.nonzero(root_mask & inside)[0]:
            root[rows[k]] = sent[k]
    update = {"rotations": Array.from_numpy(rot), "root_translation": Array.from_numpy(root)}
    if keys.location_bones and spec.location_bones:  # further location keys (feet parented to the root, ...)
        lcol = {b: i for i, b in enumerate(spec.location_bones)}
        locs, sent = spec.locations.numpy().copy(), keys.locations.numpy()
        for i, b in enumerate(keys.location_bones):
            if b in lcol:
                keyed = mask[:, keys.bones.index(b)] if b in keys.bones else np.ones(len(rows), bool)
                for k in np.nonzero(keyed & inside)[0]:
                    locs[rows[k], lcol[b]] = sent[k, i]
        update["locations"] = Array.from_numpy(locs)
    return spec.model_copy(update=update)
