"""One place for the differences between Blender 4.2 and 5.x that the add-on touches.

Action API generations:

* 4.2 / 4.3: legacy actions only: ``Action.fcurves`` / ``Action.groups``, no slots.
* 4.4 / 4.5: layered actions with slots; the legacy ``Action.fcurves`` still exists as a proxy of the first slot.
  ``ActionChannelbagFCurves.new(data_path, index)`` has no ``group_name``.
* 5.0+: layered only (``Action.fcurves`` removed); ``fcurves.new(data_path, index, group_name)``.

Everything else in the add-on asks this module for "the F-curves of this object's animation", "a new action for this
object" or "is this pose bone selected", so the rest of the code reads the same on every version.
"""
from __future__ import annotations

import bpy

VERSION = tuple(bpy.app.version)
HAS_SLOTS = "slots" in bpy.types.Action.bl_rna.properties  # 4.4+
HAS_LEGACY_FCURVES = "fcurves" in bpy.types.Action.bl_rna.properties  # up to 4.5
_NEW_HAS_GROUP = HAS_SLOTS and "group_name" in bpy.types.ActionChannelbagFCurves.bl_rna.functions["new"].parameters


def new_action(name: str, obj) -> tuple:
    """A new, empty action ready to hold keys for ``obj``: returns ``(action, slot)`` (slot is None before 4.4).

    On 4.4+ the layer, the keyframe strip, the slot (named after the object) and its channelbag are created
    explicitly, so nothing depends on auto-binding rules.
    """
    action = bpy.data.actions.new(name)
    if not HAS_SLOTS:
        if hasattr(action, "id_root"):
            action.id_root = "OBJECT"
        return action, None
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    layer = action.layers.new("Layer")
    strip = layer.strips.new(type="KEYFRAME")
    strip.channelbag(slot, ensure=True)
    return action, slot


def channelbag(action, slot, ensure: bool = False):
    """The channelbag of ``slot`` in ``action`` (4.4+), or None."""
    if not HAS_SLOTS or slot is None:
        return None
    if len(action.layers) == 0:
        if not ensure:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if len(layer.strips) == 0:
        if not ensure:
            return None
        layer.strips.new(type="KEYFRAME")
    return layer.strips[0].channelbag(slot, ensure=ensure)


def fcurves(action, slot, ensure: bool = False):
    """The F-curve collection that animates ``slot`` of ``action`` (legacy ``action.fcurves`` before 4.4).

    Returns None when the action has no curves for that slot (and ``ensure`` is False).
    """
    if HAS_SLOTS and slot is not None:
        cb = channelbag(action, slot, ensure=ensure)
        return None if cb is None else cb.fcurves
    if HAS_LEGACY_FCURVES:
        return action.fcurves
    return None


def _groups_owner(action, slot):
    if HAS_SLOTS and slot is not None:
        return channelbag(action, slot, ensure=True).groups
    return action.groups


def new_fcurve(action, slot, data_path: str, index: int, group: str | None = None):
    """Create an F-curve in the slot's channelbag, in group ``group`` (created on demand)."""
    if HAS_SLOTS and slot is not None:
        cb = channelbag(action, slot, ensure=True)
        if _NEW_HAS_GROUP and group:
            return cb.fcurves.new(data_path, index=index, group_name=group)
        fc = cb.fcurves.new(data_path, index=index)
    else:
        if group:
            return action.fcurves.new(data_path, index=index, action_group=group)
        fc = action.fcurves.new(data_path, index=index)
    if group:
        groups = _groups_owner(action, slot)
        grp = groups.get(group) if hasattr(groups, "get") else None
        fc.group = grp if grp is not None else groups.new(group)
    return fc


def assigned(obj) -> tuple:
    """``(action, slot)`` currently animating ``obj`` (either may be None)."""
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return None, None
    return ad.action, (ad.action_slot if HAS_SLOTS else None)


def assign(obj, action, slot) -> None:
    """Make ``action`` (and explicitly ``slot``) animate ``obj``."""
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = action
    if HAS_SLOTS and action is not None:
        if slot is None and len(action.slots):
            slot = action.slots[0]
        ad.action_slot = slot


def push_to_nla(obj, action, slot, track_name: str, strip_name: str, start: float, mute: bool = False):
    """Put ``action`` on a new NLA track of ``obj`` (the artist's active action stays as it is)."""
    ad = obj.animation_data or obj.animation_data_create()
    track = ad.nla_tracks.new()
    track.name = track_name
    strip = track.strips.new(strip_name, round(start), action)
    if HAS_SLOTS and slot is not None:
        strip.action_slot = slot
    track.mute = mute
    return track, strip


def pose_bone_selected(pose_bone) -> bool:
    """Selection of a pose bone: ``PoseBone.select`` in 5.0, ``Bone.select`` before."""
    if hasattr(pose_bone, "select"):
        return bool(pose_bone.select)
    return bool(pose_bone.bone.select)


def keyframe_type_generated() -> str:
    """Keyframe type for keys the add-on inserts: 'GENERATED' (4.2+) shows them apart from the artist's keys."""
    items = bpy.types.Keyframe.bl_rna.properties["type"].enum_items
    return "GENERATED" if "GENERATED" in items else "BREAKDOWN"


def enum_value(struct, prop: str, identifier: str) -> int:
    """Integer value of an enum item, for ``foreach_set``."""
    return struct.bl_rna.properties[prop].enum_items[identifier].value
