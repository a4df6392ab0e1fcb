"""Reading an armature: data paths of its channels, its bones, rest matrices and the bone that carries root motion."""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from .channels import SceneError

ROT_PATH = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}
# every Euler order stores its three angles in rotation_euler


# ---------------------------------------------------------------------------------------------------- paths
def bone_path(bone: str, prop: str) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'


def property_path(bone: str, name: str) -> str:
    """Data path of a pose bone's custom property (e.g. Rigify's ``pose.bones["thigh_parent.L"]["IK_FK"]``)."""
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"]["{bpy.utils.escape_identifier(name)}"]'


def rotation_path(pose_bone) -> tuple[str, int]:
    """(data path property, channel count) of a pose bone's rotation in its own rotation mode."""
    mode = pose_bone.rotation_mode
    if mode in ROT_PATH:
        return ROT_PATH[mode], 4
    return "rotation_euler", 3


# ---------------------------------------------------------------------------------------------- armatures
def require_armature(obj, what: str = "the active object"):
    if obj is None:
        raise SceneError(f"{what} is missing: select an armature")
    if obj.type != "ARMATURE":
        raise SceneError(f"{what} '{obj.name}' is a {obj.type.lower()}, not an armature")
    if len(obj.data.bones) == 0:
        raise SceneError(f"the armature '{obj.name}' has no bones")
    return obj


def _matrices(coll, attr: str) -> np.ndarray:
    buf = np.empty(len(coll) * 16, np.float32)
    coll.foreach_get(attr, buf)
    return buf.reshape(-1, 4, 4).transpose(0, 2, 1)  # foreach_get gives column-major 4x4


def has_location_curves(fcurves, bone: str) -> bool:
    return any(fcurves.find(bone_path(bone, "location"), index=i) is not None for i in range(3))


def translation_bone(obj, fcurves=None) -> str:
    """The bone that carries root motion: the shallowest bone with location keys in ``fcurves`` (the action's
    curves) if any (of several at that depth, the one with the most bones below it: ``Body`` rather than the feet
    of a Quaternius rig, which hang off the same root), else the root of the largest bone tree (the hips on usual
    rigs). Other location-keyed bones travel as ``location_bones``."""
    if fcurves is not None:
        best = None
        for b in obj.data.bones:
            if has_location_curves(fcurves, b.name):
                rank = (len(b.parent_recursive), -len(b.children_recursive))
                if best is None or rank < best[0]:
                    best = (rank, b.name)
        if best is not None:
            return best[1]
    roots = [b for b in obj.data.bones if b.parent is None]
    return max(roots, key=lambda b: len(b.children_recursive)).name


@dataclass
class RigInfo:
    name: str
    bones: list
    parents: list
    rest_matrices: np.ndarray
    tails: np.ndarray
    matrix_world: np.ndarray
    deform: list
    root_bone: str
    floor: float | None = None  # world height of its ground; None: the backend's default (rest pose's lowest joint)

    def root_turn(self) -> np.ndarray:
        """(3,3): from the root bone's pose-location space into world axes."""
        i = self.bones.index(self.root_bone)
        return np.asarray(self.matrix_world, np.float64)[:3, :3] @ np.asarray(self.rest_matrices[i], np.float64)[:3, :3]

    def spec(self, bone_map: dict | None = None) -> dict:
        from . import wire
        return wire.rig_spec(self.name, self.bones, self.parents, self.rest_matrices, self.tails, self.matrix_world,
                             self.deform, bone_map, self.floor)


def read_rig(obj) -> RigInfo:
    """Bones, parents, rest matrices (``bone.matrix_local``), tails, deform flags and world matrix of an armature."""
    require_armature(obj)
    bones = obj.data.bones
    names = [b.name for b in bones]
    index = {n: i for i, n in enumerate(names)}
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    rest = _matrices(bones, "matrix_local")
    tails = np.empty(len(bones) * 3, np.float32)
    bones.foreach_get("tail_local", tails)
    mw = np.array(obj.matrix_world, np.float32)
    for what, arr in (("rest matrices", rest), ("bone tails", tails), ("world matrix", mw)):
        if not np.all(np.isfinite(arr)):
            raise SceneError(f"the armature '{obj.name}' has {what} that are not numbers")
    return RigInfo(obj.name, names, parents, rest, tails.reshape(-1, 3), mw, [b.use_deform for b in bones],
                   translation_bone(obj))


def read_pose_as_rest(obj) -> tuple[RigInfo, dict]:
    """The rig with its current pose standing in for its rest pose (pose matrices and tails, armature space), and
    each bone's current pose channels ``{bone: (rotation WXYZ (4,), location (3,))}`` to compose results with
    (:func:`channels.compose_with_pose`). Pose-bone scale is taken as 1."""
    rig = read_rig(obj)
    pbs = obj.pose.bones
    posed = _matrices(pbs, "matrix")
    tails = np.empty(len(pbs) * 3, np.float32)
    pbs.foreach_get("tail", tails)
    order = {pb.name: i for i, pb in enumerate(pbs)}  # pose.bones is in hierarchy order, not the bones' order
    idx = [order[b] for b in rig.bones]
    rig.rest_matrices, rig.tails = posed[idx], tails.reshape(-1, 3)[idx]
    current = {}
    for pb in pbs:
        loc, rot, _scale = pb.matrix_basis.decompose()
        current[pb.name] = (np.array(rot, np.float64), np.array(loc, np.float64))
    return rig, current


def check_bones(obj, motion) -> None:
    """Every bone a result writes to must exist on the armature (checked before anything is written)."""
    named = list(motion.bones) + list(motion.location_bones) + [p.bone for p in motion.properties]
    missing = list(dict.fromkeys(b for b in named if b not in obj.pose.bones))
    if missing:
        raise SceneError(f"the result names bones the armature '{obj.name}' does not have: "
                         f"{', '.join(map(repr, missing[:5]))}")
    if motion.root_bone is not None and motion.root_bone not in obj.pose.bones:
        raise SceneError(f"the result moves a root bone '{motion.root_bone}' that '{obj.name}' does not have")


def world_heads_at(obj, wanted) -> dict:
    """``{(bone, frame): world head (3,)}`` for ``wanted`` (bone, frame) pairs, as Blender evaluates the armature
    (constraints, NLA and drivers included); the scene's current frame is restored."""
    scene = bpy.context.scene
    current, sub = scene.frame_current, scene.frame_subframe
    out = {}
    try:
        for f in sorted({int(f) for _, f in wanted}):
            scene.frame_set(f)
            mw = np.array(obj.matrix_world, np.float64)
            for b, ff in wanted:
                if int(ff) == f:
                    out[(b, ff)] = mw[:3, :3] @ np.array(obj.pose.bones[b].head, np.float64) + mw[:3, 3]
    finally:
        scene.frame_set(current, subframe=sub)
    return out


def format_length(scene, value: float) -> str:
    """A distance in the scene's units, the way Blender's UI writes it (``4.5 cm``; ``0.045`` without units)."""
    us = scene.unit_settings
    if us.system == "NONE":
        return f"{value:.4g} units"
    return bpy.utils.units.to_string(us.system, "LENGTH", value * us.scale_length, precision=3,
                                     split_unit=False, compatible_unit=False)
