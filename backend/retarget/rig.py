"""Rigs with oriented bones (Blender armatures, glTF/FBX skins) <-> world-aligned skeletons and motions.

A Blender bone has a rest frame ``B_j`` (rotation of ``bone.matrix_local``, armature space) and animates with a pose
rotation ``Q_j`` (``pose_bone.rotation_quaternion``) in that frame. With the armature object's rotation ``W``, the
bone's rest frame in the world is ``Bw_j = W B_j`` and the world-aligned local rotation the rest of the backend uses
is::

    L_j = Bw_j  Q_j  Bw_j^-1          and back:   Q_j = Bw_j^-1  L_j  Bw_j

The translation bone (the hips, or whatever bone carries the root motion) stores ``pose_bone.location`` in its own
rest frame; :meth:`Rig.channels_to_motion` and :meth:`Rig.motion_to_channels` convert it to and from the world
position of that bone, taking the posed parents into account.

Units: the object's world matrix may scale the armature (imported glTF/FBX rigs often sit at 0.01); positions in the
backend are metres in the world.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion.kinematics import fk
from ..motion.motion import Motion
from ..motion.rotations import np_quat_apply, np_quat_from_matrix_safe, np_quat_inv, np_quat_mul, np_quat_to_matrix
from ..motion.skeleton import Skeleton, SkeletonError, topological_order, validate_tree


class RigError(ValueError):
    """A rig description that cannot be used."""


@dataclass(eq=False)
class Rig:
    """A rig in topological order. ``order[k]`` is the index, in the caller's bone list, of rig joint k."""
    name: str
    skeleton: Skeleton  # world-aligned, world positions in metres
    rest_rot: np.ndarray  # (J,4) XYZW world rotation of each bone's rest frame (W B_j)
    unit_scale: float  # armature units -> metres
    world_rot: np.ndarray  # (4,) XYZW rotation of the armature object
    world_loc: np.ndarray  # (3,) object location (metres)
    rest_local: np.ndarray  # (J,4,4) bone.matrix_local in armature space (for translation channels)
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    deform: np.ndarray | None = None
    controls: tuple[str, ...] = ()
    tails: np.ndarray | None = None  # (J,3) world rest tails (metres)
    floor: float | None = None  # world height of the floor the rig stands on; None: its rest pose's lowest joint

    @property
    def names(self) -> tuple[str, ...]:
        return self.skeleton.names

    @property
    def matrix_world(self) -> np.ndarray:
        """(4,4) the armature object's world matrix the rig was built with (rotation times uniform scale, location)."""
        mw = np.eye(4)
        mw[:3, :3] = np_quat_to_matrix(self.world_rot) * self.unit_scale
        mw[:3, 3] = self.world_loc
        return mw

    def caller_hierarchy(self) -> tuple[list[str], list[int]]:
        """Bone names and parent indices in the caller's bone order (what :meth:`from_matrices` was given); rest
        matrices in that order are ``reorder_to_caller(rest_local, axis=0)``."""
        names, parents = [""] * len(self.order), [-1] * len(self.order)
        for k, caller in enumerate(self.order):
            names[caller] = self.names[k]
            p = self.skeleton.parents[k]
            parents[caller] = int(self.order[p]) if p >= 0 else -1
        return names, parents

    def to_armature_space(self, points: np.ndarray) -> np.ndarray:
        """World points (metres) -> the armature's own space and units (inverse of the world matrix)."""
        local = np.asarray(points, np.float64) - self.world_loc
        return np_quat_apply(np_quat_inv(self.world_rot), local) / self.unit_scale

    def floor_height(self) -> float:
        """The floor this rig stands on (world z, metres): ``floor`` if given, else its rest pose's lowest joint."""
        return float(self.floor) if self.floor is not None else float(self.skeleton.rest_positions()[:, 2].min())

    # --------------------------------------------------------------------------------------------- building
    @classmethod
    def from_matrices(cls, names, parents, rest_matrices, matrix_world=None, tails=None, deform=None,
                      controls=(), name="rig") -> Rig:
        """Build from Blender-style data: ``rest_matrices`` (B,4,4) = bone.matrix_local (armature space)."""
        names = [str(n) for n in names]
        parents = [int(p) for p in parents]
        rest = np.asarray(rest_matrices, np.float64)
        if rest.shape != (len(names), 4, 4):
            raise RigError(f"rest matrices must be ({len(names)}, 4, 4), got {rest.shape}")
        if not np.all(np.isfinite(rest)):
            raise RigError("rest matrices contain NaN or infinity")
        try:
            order = topological_order(parents)
        except SkeletonError as e:
            raise RigError(str(e)) from None
        inv = np.empty(len(order), int)
        inv[order] = np.arange(len(order))
        names_o = [names[i] for i in order]
        parents_o = [int(inv[parents[i]]) if parents[i] >= 0 else -1 for i in order]
        try:
            validate_tree(names_o, parents_o)
        except SkeletonError as e:
            raise RigError(str(e)) from None
        rest = rest[order]
        mw = np.eye(4) if matrix_world is None else np.asarray(matrix_world, np.float64)
        scale = float(np.mean(np.linalg.norm(mw[:3, :3], axis=0)))
        if not (scale > 0 and np.isfinite(scale)):
            raise RigError("the armature's world matrix has zero or invalid scale")
        w_rot = np_quat_from_matrix_safe(mw[:3, :3] / scale)
        w_loc = mw[:3, 3]
        heads = np_quat_apply(w_rot, rest[:, :3, 3]) * scale + w_loc
        offsets = np.array([heads[j] - (heads[p] if p >= 0 else 0.0) for j, p in enumerate(parents_o)])
        b_rot = np_quat_from_matrix_safe(rest[:, :3, :3])
        rest_rot = np_quat_mul(w_rot, b_rot)
        world_tails = None
        if tails is not None:
            t = np.asarray(tails, np.float64)[order]
            world_tails = np_quat_apply(w_rot, t) * scale + w_loc
        end_sites = {}
        sk0 = Skeleton(tuple(names_o), np.array(parents_o), offsets)
        if world_tails is not None:
            for j in range(len(names_o)):
                if not sk0.children(j):
                    end_sites[j] = world_tails[j] - heads[j]
        sk = Skeleton(tuple(names_o), np.array(parents_o), offsets, end_sites)
        return cls(name=name, skeleton=sk, rest_rot=rest_rot, unit_scale=scale, world_rot=w_rot, world_loc=w_loc,
                   rest_local=rest, order=np.asarray(order),
                   deform=None if deform is None else np.asarray(deform, bool)[order],
                   controls=tuple(controls or ()), tails=world_tails)

    @classmethod
    def from_spec(cls, spec) -> Rig:
        """From a :class:`backend.schema.RigSpec`."""
        return cls.from_matrices(spec.bones, spec.parents, spec.rest_matrices.numpy(),
                                 None if spec.matrix_world is None else spec.matrix_world.numpy(),
                                 None if spec.tails is None else spec.tails.numpy(), spec.deform, spec.controls or (),
                                 spec.name)

    @classmethod
    def from_skeleton(cls, skeleton: Skeleton, name: str = "skeleton") -> Rig:
        """A rig whose bones are world-aligned at rest (a BVH skeleton, the canonical skeleton)."""
        J = len(skeleton)
        rest = np.tile(np.eye(4), (J, 1, 1))
        rest[:, :3, 3] = skeleton.rest_positions()
        return cls.from_matrices(skeleton.names, skeleton.parents, rest, name=name)

    # ------------------------------------------------------------------------------------------- channels
    def index(self, name: str) -> int:
        return self.skeleton.index(name)

    def channels_to_motion(self, pose_quat: np.ndarray, location: np.ndarray, fps: float,
                           translation_bone: str | None = None) -> Motion:
        """Pose channels -> world-aligned :class:`Motion`.

        pose_quat: (T,J,4) XYZW ``rotation_quaternion`` per bone in this rig's (topological) order.
        location: (T,3) ``pose_bone.location`` of ``translation_bone`` (default: the first root bone).
        """
        pose_quat = np.asarray(pose_quat, np.float64)
        T, _J = pose_quat.shape[:2]
        local = np_quat_mul(np_quat_mul(self.rest_rot, pose_quat), np_quat_inv(self.rest_rot))
        h = 0 if translation_bone is None else self.index(translation_bone)
        # world position of the translation bone's head, given its posed parent chain
        root0 = np.tile(self.skeleton.offsets[0], (T, 1))
        g_rot, g_pos = fk(local, root0, self.skeleton.offsets, self.skeleton.parents)
        p = self.skeleton.parents[h]
        # location lives in the bone's rest frame, which the (posed) parent carries along
        carrier = g_rot[:, p] if p >= 0 else np.tile([0, 0, 0, 1.0], (T, 1))
        disp_world = np_quat_apply(np_quat_mul(carrier, self.rest_rot[h]), np.asarray(location, np.float64)) \
            * self.unit_scale
        target = g_pos[:, h] + disp_world
        root = root0 + (target - g_pos[:, h])
        return Motion(self.skeleton, fps, root, local)

    def motion_to_channels(self, motion: Motion, translation_bone: str | None = None):
        """World-aligned :class:`Motion` on this rig's skeleton -> (pose_quat (T,J,4) XYZW, location (T,3))."""
        if motion.skeleton.names != self.skeleton.names:
            raise RigError("motion is not on this rig's skeleton")
        local = motion.rotations
        pose = np_quat_mul(np_quat_mul(np_quat_inv(self.rest_rot), local), self.rest_rot)
        h = 0 if translation_bone is None else self.index(translation_bone)
        g_rot, g_pos = fk(local, motion.root_pos, self.skeleton.offsets, self.skeleton.parents)
        T = motion.num_frames
        root0 = np.tile(self.skeleton.offsets[0], (T, 1))
        _, g_pos_rest_root = fk(local, root0, self.skeleton.offsets, self.skeleton.parents)
        disp_world = g_pos[:, h] - g_pos_rest_root[:, h]
        p = self.skeleton.parents[h]
        carrier = g_rot[:, p] if p >= 0 else np.tile([0, 0, 0, 1.0], (T, 1))
        loc = np_quat_apply(np_quat_inv(np_quat_mul(carrier, self.rest_rot[h])), disp_world) / self.unit_scale
        return pose, loc

    def reorder_to_caller(self, per_joint: np.ndarray, axis: int = 1) -> np.ndarray:
        """Put a per-joint array from this rig's topological order back into the caller's bone order."""
        out = np.empty_like(per_joint)
        idx = [slice(None)] * per_joint.ndim
        idx[axis] = self.order
        out[tuple(idx)] = per_joint
        return out

    def from_caller_order(self, per_joint: np.ndarray, axis: int = 1) -> np.ndarray:
        return np.take(per_joint, self.order, axis=axis)
