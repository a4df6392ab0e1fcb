"""Writing motions into NEW actions (bulk path), streamed previews, pose-bone properties, and key snapshots.

Writes use ``keyframe_points.add`` + ``foreach_set`` + ``fcurve.update()`` through :mod:`compat`, so they work on both
the legacy (4.2/4.3) and the layered (4.4+) action API. Large writes run as step generators (a batch of F-curves
per step) so the pump can spread them over several ticks.
"""
from __future__ import annotations

import bpy
import numpy as np

from . import compat
from .channels import SceneError, hemisphere_continuous, motion_frames, quat_wxyz_to_channels, scene_fps, xyzw_to_wxyz
from .rig_read import bone_path, check_bones, property_path, rotation_path, translation_bone

KEY_FIELDS_F2 = ("co", "handle_left", "handle_right")
KEY_FIELDS_ENUM = ("interpolation", "handle_left_type", "handle_right_type", "easing", "type")
KEY_FIELDS_F = ("back", "amplitude", "period")
KEY_FIELDS_B = ("select_control_point", "select_left_handle", "select_right_handle")


# ----------------------------------------------------------------------------------------------- writing
_BEZIER = compat.enum_value(bpy.types.Keyframe, "interpolation", "BEZIER")


def _interp_value(name: str | None = None) -> int:
    ident = name or bpy.context.preferences.edit.keyframe_new_interpolation_type
    return compat.enum_value(bpy.types.Keyframe, "interpolation", ident)


def write_curve(fc, frames: np.ndarray, values: np.ndarray, interpolation: int) -> None:
    """Fill an empty F-curve with keys in one go."""
    n = len(frames)
    kp = fc.keyframe_points
    kp.add(n)
    co = np.empty(2 * n, np.float32)
    co[0::2] = frames
    co[1::2] = values
    kp.foreach_set("co", co)
    if interpolation != _BEZIER:  # add() already makes BEZIER keys
        kp.foreach_set("interpolation", np.full(n, interpolation, np.int32))
    fc.update()


def set_curve_values(fc, frames: np.ndarray, values: np.ndarray) -> bool:
    """Overwrite the keys of a curve that already has exactly these frames (streamed previews); False otherwise."""
    kp = fc.keyframe_points
    n = len(frames)
    if len(kp) != n:
        return False
    co = np.empty(2 * n, np.float32)
    kp.foreach_get("co", co)
    if not np.array_equal(co[0::2], np.asarray(frames, np.float32)):
        return False
    co[1::2] = values
    kp.foreach_set("co", co)
    fc.update()
    return True


# ------------------------------------------------------------------------------------- pose-bone properties
MISSING = object()


def _typed(old, value: float):
    """``value`` in the type of the property it replaces (Rigify switches are floats; keep ints and bools)."""
    if isinstance(old, bool):
        return bool(round(value))
    if isinstance(old, int):
        return round(value)
    return float(value)


def set_properties(obj, properties, create_only: bool = False) -> dict:
    """Set ``pose.bones[bone][name] = value`` for each property (creating those the rig lacks, so their F-curves
    resolve); ``create_only``: only create the missing ones. Returns ``{(bone, name): previous value or
    MISSING}`` for :func:`restore_properties`."""
    previous = {}
    try:
        for p in properties:
            pb = obj.pose.bones[p.bone]
            old = pb.get(p.name, MISSING)
            if create_only and old is not MISSING:
                continue
            previous.setdefault((p.bone, p.name), old.to_list() if hasattr(old, "to_list") else
                                old.to_dict() if hasattr(old, "to_dict") else old)
            pb[p.name] = float(p.value) if old is MISSING else _typed(old, p.value)
    except Exception:  # all or nothing (e.g. a linked rig whose properties cannot be edited)
        restore_properties(obj, previous)
        raise
    return previous


def restore_properties(obj, previous: dict) -> None:
    """Undo :func:`set_properties`: old values back, properties it created removed."""
    for (bone, name), old in previous.items():
        pb = obj.pose.bones.get(bone)
        if pb is None:
            continue
        if old is MISSING:
            if name in pb.keys():
                del pb[name]
        else:
            pb[name] = old


def motion_curves(obj, motion, fps: float):
    """Yield ``(bone, data_path, index, frames, values)`` for every channel of a rig-space motion on ``obj``:
    rotations of ``bones`` (in each bone's own rotation mode), the root bone's location, the locations of
    ``location_bones``, and each pose-bone property as one key on the first frame (constant over the motion)."""
    frames = motion_frames(motion, fps)
    q_all = hemisphere_continuous(xyzw_to_wxyz(motion.rotations_xyzw))
    for j, b in enumerate(motion.bones):
        pb = obj.pose.bones[b]
        prop, nch = rotation_path(pb)
        vals = quat_wxyz_to_channels(q_all[:, j], pb.rotation_mode)
        for c in range(nch):
            yield b, bone_path(b, prop), c, frames, vals[:, c]
    root = motion.root_bone or translation_bone(obj)
    for c in range(3):
        yield root, bone_path(root, "location"), c, frames, motion.root_translation[:, c]
    for i, b in enumerate(motion.location_bones):
        for c in range(3):
            yield b, bone_path(b, "location"), c, frames, motion.locations[:, i, c]
    for p in motion.properties:
        yield p.bone, property_path(p.bone, p.name), 0, frames[:1], np.array([p.value], np.float64)


def write_motion_action(obj, motion, name: str, interpolation: str | None = None):
    """A NEW action holding ``motion`` (rig space) for ``obj``; returns ``(action, slot)``. Nothing is assigned.

    Values are converted to each bone's own rotation mode; quaternions are made sign-continuous in time.
    """
    return run_steps(write_motion_action_steps(obj, motion, name, interpolation, batch=None))


def run_steps(steps):
    """Drive a step generator to its end at once; returns its value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def write_motion_action_steps(obj, motion, name: str, interpolation: str | None = None, batch: int | None = 48):
    """:func:`write_motion_action` as a generator that yields after every ``batch`` F-curves (None: no yields),
    so the pump can spread a large write over several ticks. The action is not assigned to anything while it is
    being filled; if the generator is closed early (job cancelled) or fails, the half-made action is removed."""
    check_bones(obj, motion)
    fps = scene_fps(bpy.context.scene)
    channels = list(motion_curves(obj, motion, fps))  # convert everything before touching bpy data
    interp = _interp_value(interpolation)
    if batch:
        yield
    action, slot = compat.new_action(name, obj)
    action_name, done = action.name, False
    try:
        for i, (bone, path, idx, frames, values) in enumerate(channels):
            fc = compat.new_fcurve(action, slot, path, idx, group=bone)
            write_curve(fc, frames, values, interp)
            if batch and (i + 1) % batch == 0 and i + 1 < len(channels):
                yield
                action = bpy.data.actions.get(action_name)  # re-resolve after the pause (undo may intervene)
                if action is None:
                    raise SceneError(f"the action '{action_name}' disappeared while it was being written")
                slot = action.slots[0] if compat.HAS_SLOTS else None
        done = True
        return action, slot
    finally:
        if not done:
            stale = bpy.data.actions.get(action_name)
            if stale is not None:
                bpy.data.actions.remove(stale)


def overwrite_motion_action_steps(action_name: str, obj_name: str, motion, batch: int = 64):
    """Show a new partial result in the preview action, ``batch`` curves per step: values are overwritten in place
    where the curves already hold the same frames (the common case while a job streams), rebuilt otherwise."""
    obj = bpy.data.objects[obj_name]
    fps = scene_fps(bpy.context.scene)
    channels = list(motion_curves(obj, motion, fps))
    interp = _interp_value("LINEAR")
    wanted = {(path, idx) for _, path, idx, _, _ in channels}
    for i, (bone, path, idx, frames, values) in enumerate(channels):
        if i % batch == 0:
            yield
            action = bpy.data.actions.get(action_name)
            if action is None:
                return
            slot = action.slots[0] if compat.HAS_SLOTS else None
            coll = compat.fcurves(action, slot, ensure=True)
        fc = coll.find(path, index=idx)
        if fc is not None and set_curve_values(fc, frames, values):
            continue
        if fc is not None:
            coll.remove(fc)
        write_curve(compat.new_fcurve(action, slot, path, idx, group=bone), frames, values, interp)
    for fc in [fc for fc in coll if (fc.data_path, fc.array_index) not in wanted]:
        coll.remove(fc)


# ------------------------------------------------------------------------------------------- snapshots
def restore_fcurve(fc, snap: dict) -> None:
    """Put an F-curve's keyframes back exactly as in ``snap``."""
    kp = fc.keyframe_points
    kp.clear()
    kp.add(snap["n"])
    for f in KEY_FIELDS_ENUM + KEY_FIELDS_F + KEY_FIELDS_B + KEY_FIELDS_F2:
        kp.foreach_set(f, snap[f])


def action_snapshot(action) -> dict:
    """``{(slot identifier, data_path, index): fcurve_snapshot}`` for every curve of every slot of an action."""
    out = {}
    if compat.HAS_SLOTS:
        for slot in action.slots:
            coll = compat.fcurves(action, slot)
            for fc in coll or []:
                out[(slot.identifier, fc.data_path, fc.array_index)] = fcurve_snapshot(fc)
    else:
        for fc in action.fcurves:
            out[("", fc.data_path, fc.array_index)] = fcurve_snapshot(fc)
    return out


def action_fingerprint(action) -> dict:
    """Frames and values of every key (one read per curve): enough to notice that the artist edited keys."""
    out = {}
    slots = action.slots if compat.HAS_SLOTS else [None]
    for slot in slots:
        for fc in compat.fcurves(action, slot) or []:
            co = np.empty(2 * len(fc.keyframe_points), np.float32)
            fc.keyframe_points.foreach_get("co", co)
            out[(slot.identifier if slot is not None else "", fc.data_path, fc.array_index)] = co
    return out


def fingerprints_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def snapshots_equal(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k, sa in a.items():
        sb = b[k]
        if sa["n"] != sb["n"]:
            return False
        for f in sa:
            if f != "n" and not np.array_equal(sa[f], sb[f]):
                return False
    return True


def fcurve_snapshot(fc, fields=None) -> dict:
    """Every stored field (or just ``fields``) of every keyframe of an F-curve."""
    kp = fc.keyframe_points
    n = len(kp)
    snap = {"n": n}
    for f in fields or KEY_FIELDS_F2 + KEY_FIELDS_ENUM + KEY_FIELDS_F + KEY_FIELDS_B:
        size, dtype = (2 * n, np.float32) if f in KEY_FIELDS_F2 else \
            (n, np.int32 if f in KEY_FIELDS_ENUM else np.float32 if f in KEY_FIELDS_F else bool)
        a = np.empty(size, dtype)
        kp.foreach_get(f, a)
        snap[f] = a
    return snap
