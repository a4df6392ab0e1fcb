"""Partial results shown on the armature while a job runs, and the exact way back.

A preview is a temporary action. It carries its own way back: a JSON record of what the armature had before the
job (active action and slot, whether it had animation data, every pose bone's location / rotations / scale, the
pose-bone properties a partial switched, e.g. Rigify's IK/FK) and an ID pointer to the artist's action, which keeps
that action alive while it is unassigned without touching its fake-user flag.

Because the record travels with the datablock, any preview that outlives its job can be undone from the data
alone: after an undo or redo (an undo step pushed while a job streamed holds the preview), after loading a file (an
autosave taken during a job), and around saving (the preview is taken off before the file is written and shown
again afterwards; with no user left it is not written). :func:`restore` is the one way back, used by Cancel, by a
failed job and by those handlers.
"""
from __future__ import annotations

import json

import bpy
import numpy as np

from . import action_write, compat, inbetween_write
from .channels import SceneError

PREVIEW_NAME = "MotionLoom Preview"
RECORD = "motionloom_preview"  # JSON record on the preview action
ARTIST = "motionloom_artist_action"  # ID pointer to the artist's action
POSE_FIELDS = (("location", 3), ("rotation_quaternion", 4), ("rotation_euler", 3), ("rotation_axis_angle", 4),
               ("scale", 3))


def live_object(name: str):
    obj = bpy.data.objects.get(name)
    if obj is None:
        raise SceneError(f"the armature '{name}' was deleted or renamed while the job ran; nothing was written")
    return obj


def slot_by_identifier(action, identifier):
    if not compat.HAS_SLOTS or action is None or identifier is None:
        return None
    for s in action.slots:
        if s.identifier == identifier:
            return s
    return None


# ---------------------------------------------------------------------------------------------------- pose
def pose_snapshot(obj) -> dict:
    """Every pose bone's transform channels (bulk reads), as plain lists (JSON-safe; float32 values stay exact)."""
    bones = obj.pose.bones
    snap = {"bones": [pb.name for pb in bones]}
    for attr, n in POSE_FIELDS:
        buf = np.empty(len(bones) * n, np.float32)
        bones.foreach_get(attr, buf)
        snap[attr] = buf.tolist()
    return snap


def restore_pose(obj, snap: dict) -> None:
    """Put :func:`pose_snapshot` values back (bulk writes); bones added or renamed since are left alone."""
    bones = obj.pose.bones
    names = [pb.name for pb in bones]
    if names == snap["bones"]:
        for attr, _ in POSE_FIELDS:
            bones.foreach_set(attr, np.asarray(snap[attr], np.float32))
    else:
        index = {b: i for i, b in enumerate(snap["bones"])}
        for pb in bones:
            i = index.get(pb.name)
            if i is None:
                continue
            for attr, n in POSE_FIELDS:
                setattr(pb, attr, snap[attr][i * n:(i + 1) * n])
    obj.update_tag(refresh={"OBJECT", "DATA"})


def _props_to_json(props_before: dict) -> list:
    return [[bone, name, None if old is action_write.MISSING else old, old is action_write.MISSING]
            for (bone, name), old in props_before.items()]


def _props_from_json(rows: list) -> dict:
    return {(bone, name): action_write.MISSING if missing else value for bone, name, value, missing in rows}


# ------------------------------------------------------------------------------------------------ restoring
def restore(record: dict, artist_action) -> bool:
    """Give the armature back what ``record`` says it had (action and slot, animation data, pose, properties).
    Returns False when the armature no longer exists."""
    obj = bpy.data.objects.get(record["object"])
    if obj is None:
        return False
    if artist_action is not None:
        compat.assign(obj, artist_action, slot_by_identifier(artist_action, record["slot"]))
    elif obj.animation_data is not None:
        obj.animation_data.action = None
        if not record["had_animdata"] and len(obj.animation_data.nla_tracks) == 0:
            obj.animation_data_clear()
    action_write.restore_properties(obj, _props_from_json(record["props"]))
    restore_pose(obj, record["pose"])
    return True


def is_preview(action) -> bool:
    return action.name.startswith(PREVIEW_NAME) or RECORD in action.keys()


def repair_orphans(keep: str | None = None) -> int:
    """Undo every preview action except ``keep`` (the running job's): restore the armature it is assigned to from
    its record, then remove it. Returns how many were removed."""
    removed = 0
    for act in [a for a in bpy.data.actions if a.name != keep and is_preview(a)]:
        text = act.get(RECORD)
        if text is not None:
            record = json.loads(text)
            obj = bpy.data.objects.get(record["object"])
            if obj is not None and obj.animation_data is not None and obj.animation_data.action == act:
                restore(record, act.get(ARTIST))
        bpy.data.actions.remove(act)
        removed += 1
    return removed


# -------------------------------------------------------------------------------------------------- preview
class Preview:
    """Shows partial results on one armature through a temporary action; :meth:`discard` puts back exactly what the
    armature had and deletes the temporary action."""

    def __init__(self, obj):
        self.obj_name = obj.name
        action, slot = compat.assigned(obj)
        self.orig_action = action.name if action else None
        self.record = {"object": obj.name, "slot": slot.identifier if slot is not None else None,
                       "had_animdata": obj.animation_data is not None, "pose": pose_snapshot(obj), "props": []}
        self.action_name: str | None = None
        self.props_before: dict = {}  # (bone, name) -> the artist's value (or MISSING) before a partial set it

    @property
    def shown(self) -> bool:
        return self.action_name is not None and self.action_name in bpy.data.actions

    def _mark(self, action) -> None:
        self.record["props"] = _props_to_json(self.props_before)
        action[RECORD] = json.dumps(self.record)
        if self.orig_action and ARTIST not in action.keys():
            action[ARTIST] = bpy.data.actions[self.orig_action]

    def _set_properties(self, motion) -> None:
        for key, old in action_write.set_properties(live_object(self.obj_name), motion.properties).items():
            self.props_before.setdefault(key, old)
        act = bpy.data.actions.get(self.action_name) if self.action_name else None
        if act is not None:
            self._mark(act)

    def _show(self, obj, action, slot) -> None:
        """Make ``action`` the preview (replacing the previous one) and show it on the armature."""
        self._remove_action()
        action.name = PREVIEW_NAME
        self.action_name = action.name
        self._mark(action)  # the ID pointer keeps the artist's action alive while it is unassigned
        compat.assign(obj, action, slot)

    def show_motion(self, motion):
        """Generator (one slice per tick): update the preview with a rig-space partial motion."""
        if motion.space != "rig":
            return  # a canonical-space partial cannot be shown on this rig without model math; progress only
        obj = live_object(self.obj_name)
        prev = bpy.data.actions.get(self.action_name) if self.action_name else None
        if prev is not None and obj.animation_data and obj.animation_data.action == prev:
            yield from action_write.overwrite_motion_action_steps(prev.name, self.obj_name, motion)
            self._set_properties(motion)
            return
        action, slot = yield from action_write.write_motion_action_steps(obj, motion, PREVIEW_NAME + " (building)",
                                                                         "LINEAR")
        self._show(live_object(self.obj_name), action, slot)
        self._set_properties(motion)

    def show_filled(self, motion, bones, frame_range):
        """Generator: a copy of the artist's action with the partial in-between frames filled in."""
        if motion.space != "rig":
            return
        obj = live_object(self.obj_name)
        src = bpy.data.actions.get(self.orig_action) if self.orig_action else None
        if src is None:
            return
        copy = src.copy()
        self._show(obj, copy, slot_by_identifier(copy, self.record["slot"]))
        yield
        plan = inbetween_write.plan_inbetween(live_object(self.obj_name), motion, bones, frame_range)
        yield from inbetween_write.apply_inbetween_steps(self.obj_name, plan)

    def _remove_action(self) -> None:
        if self.action_name:
            act = bpy.data.actions.get(self.action_name)
            if act is not None:
                bpy.data.actions.remove(act)
            self.action_name = None

    def discard(self) -> None:
        """Restore the armature exactly (action, slot, pose, properties) and delete the preview action."""
        if self.action_name is None and not self.props_before:
            return  # nothing was shown: nothing moved
        self.record["props"] = _props_to_json(self.props_before)
        orig = bpy.data.actions.get(self.orig_action) if self.orig_action else None
        restore(self.record, orig)
        self.props_before = {}
        self._remove_action()

    def forget(self) -> None:
        """The preview was removed from outside (undo, file handlers): start afresh with the next partial."""
        self.action_name = None
        self.props_before = {}
