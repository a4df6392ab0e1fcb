"""Writing an in-between into the artist's own action: plan every key first, then insert all or nothing; the
artist's existing keys keep every field bit-identical."""
from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from . import compat
from .action_write import _BEZIER, KEY_FIELDS_F2, fcurve_snapshot, restore_fcurve
from .channels import SceneError, motion_frames, quat_wxyz_to_channels, scene_fps, xyzw_to_wxyz
from .rig_read import bone_path, check_bones, rotation_path, translation_bone


# ------------------------------------------------------------------------------------------- in-between
@dataclass
class CurveFill:
    fc_path: str
    index: int
    frames: np.ndarray
    values: np.ndarray


@dataclass
class FillPlan:
    """Everything to insert, computed before the first write so a failure cannot leave the action half-done."""
    fills: list = field(default_factory=list)

    @property
    def num_keys(self) -> int:
        return int(sum(len(f.frames) for f in self.fills))


def _key_frames(fc) -> np.ndarray:
    n = len(fc.keyframe_points)
    co = np.empty(2 * n, np.float64)
    fc.keyframe_points.foreach_get("co", co)
    return np.round(co[0::2]).astype(int)


def plan_inbetween(obj, motion, bones: list[str], frame_range: tuple) -> FillPlan:
    """Which keys to add to which curve of the active action: every whole frame in ``frame_range`` that the curve
    has no key on, for the rotation channels of ``bones``, the root location and the locations of the result's
    ``location_bones`` (only channels the artist keyed: no curve is created)."""
    check_bones(obj, motion)
    action, slot = compat.assigned(obj)
    if action is None:
        raise SceneError(f"the armature '{obj.name}' lost its active action while the job ran; nothing was written")
    coll = compat.fcurves(action, slot)
    fps = scene_fps(bpy.context.scene)
    mframes = motion_frames(motion, fps)
    lo, hi = frame_range
    inside = (mframes >= lo - 1e-6) & (mframes <= hi + 1e-6) & (np.abs(mframes - np.round(mframes)) < 1e-4)
    rows = np.nonzero(inside)[0]
    fr = np.round(mframes[rows]).astype(int)
    plan = FillPlan()
    q_all = xyzw_to_wxyz(motion.rotations_xyzw).astype(np.float64)
    index = {b: j for j, b in enumerate(motion.bones)}
    for b in bones:
        if b not in index:
            continue
        pb = obj.pose.bones[b]
        prop, nch = rotation_path(pb)
        curves = [coll.find(bone_path(b, prop), index=c) for c in range(nch)]
        have = [None if fc is None else _key_frames(fc) for fc in curves]
        if all(h is None for h in have):
            continue
        keyed = np.unique(np.concatenate([h for h in have if h is not None]))
        # anchors: the artist's own channel values on keyed frames, so filled values join without flips
        static = list(getattr(pb, prop))
        anchors = {int(i): np.array([fc.evaluate(float(fr[i])) if fc is not None else static[c]
                                     for c, fc in enumerate(curves)])
                   for i in np.nonzero(np.isin(fr, keyed))[0]}
        vals = quat_wxyz_to_channels(q_all[rows, index[b]], pb.rotation_mode, anchors=anchors)
        for c, fc in enumerate(curves):
            if fc is None:
                continue
            sel = ~np.isin(fr, have[c])
            if sel.any():
                plan.fills.append(CurveFill(fc.data_path, c, fr[sel].astype(np.float32), vals[sel, c]))
    root = motion.root_bone or translation_bone(obj)
    located = [(root, motion.root_translation)] + [(b, motion.locations[:, i])
                                                   for i, b in enumerate(motion.location_bones)]
    for b, values in located:
        if b not in bones:
            continue
        for c in range(3):
            fc = coll.find(bone_path(b, "location"), index=c)
            if fc is None:
                continue
            sel = ~np.isin(fr, _key_frames(fc))
            if sel.any():
                plan.fills.append(CurveFill(fc.data_path, c, fr[sel].astype(np.float32), values[rows][sel, c]))
    return plan


def insert_keys(fc, frames: np.ndarray, values: np.ndarray, key_type: int, old: dict | None = None) -> None:
    """Add keys at frames that have none; the existing keys keep every field bit-identical (handles included).

    New keys take the interpolation of the artist's key before them (so a stepped blocking pass stays stepped).
    ``old`` is the curve's :func:`fcurve_snapshot` if the caller has one. Only the fields that change are written:
    ``update()`` sorts whole keyframes, so the artist's keys carry their own fields along; it recomputes automatic
    handles of every key, so the artist's handles are put back afterwards.
    """
    old = old if old is not None else fcurve_snapshot(fc)
    n, m = old["n"], len(frames)
    kp = fc.keyframe_points
    kp.add(m)
    co = np.empty(2 * (n + m), np.float32)
    co[:2 * n] = old["co"]
    co[2 * n::2] = frames
    co[2 * n + 1::2] = values
    kp.foreach_set("co", co)
    old_frames = old["co"][0::2]
    if n:
        prev = np.clip(np.searchsorted(old_frames, frames, side="right") - 1, 0, n - 1)
        interp = np.concatenate([old["interpolation"], old["interpolation"][prev]]).astype(np.int32)
        if np.any(interp[n:] != _BEZIER):  # add() makes BEZIER keys
            kp.foreach_set("interpolation", interp)
    types = np.concatenate([old["type"], np.full(m, key_type, np.int32)])
    kp.foreach_set("type", types)
    sel = np.empty(n + m, bool)
    kp.foreach_get("select_control_point", sel)
    if sel[n:].any():  # the artist's selection stays as it is; the new keys start unselected
        sel[n:] = False
        kp.foreach_set("select_control_point", sel)
    fc.update()  # sorts and computes the new keys' handles
    now = np.empty(2 * (n + m), np.float32)
    kp.foreach_get("co", now)
    pos = np.searchsorted(now[0::2], old_frames)
    if not np.array_equal(now[0::2][pos], old_frames):
        raise SceneError(f"internal error: could not find the artist's keys again on {fc.data_path}")
    for f in ("handle_left", "handle_right"):
        a = np.empty(2 * (n + m), np.float32)
        kp.foreach_get(f, a)
        a.reshape(-1, 2)[pos] = old[f].reshape(-1, 2)
        kp.foreach_set(f, a)


def apply_inbetween_steps(obj_name: str, plan: FillPlan, batch: int = 32):
    """Fill a preview copy ``batch`` curves per step (no rollback: the copy is thrown away anyway)."""
    key_type = compat.enum_value(bpy.types.Keyframe, "type", compat.keyframe_type_generated())
    for i, fill in enumerate(plan.fills):
        if i % batch == 0:
            yield
            obj = bpy.data.objects.get(obj_name)
            if obj is None:
                return
            coll = compat.fcurves(*compat.assigned(obj))
        fc = coll.find(fill.fc_path, index=fill.index)
        if fc is not None:
            insert_keys(fc, fill.frames, fill.values, key_type)


INSERT_FIELDS = ("co", "handle_left", "handle_right", "interpolation", "type")


def _remove_added(fc, added_frames: np.ndarray, before: dict) -> None:
    """Undo :func:`insert_keys` on one curve: drop the keys at ``added_frames`` and put the artist's handles back
    (the only fields of theirs that ``update()`` touches)."""
    now = fcurve_snapshot(fc)
    keep = ~np.isin(now["co"][0::2], added_frames)
    kept = {"n": int(keep.sum())}
    for f, a in now.items():
        if f != "n":
            kept[f] = a.reshape(-1, 2)[keep].ravel() if f in KEY_FIELDS_F2 else a[keep]
    kept["handle_left"], kept["handle_right"] = before["handle_left"], before["handle_right"]
    restore_fcurve(fc, kept)


def apply_inbetween(obj, plan: FillPlan) -> int:
    """Write a :class:`FillPlan` into the object's active action; all or nothing. Returns the number of keys added."""
    action, slot = compat.assigned(obj)
    coll = compat.fcurves(action, slot)
    targets = []
    for fill in plan.fills:
        fc = coll.find(fill.fc_path, index=fill.index)
        if fc is None:
            raise SceneError(f"the curve {fill.fc_path}[{fill.index}] disappeared while the job ran; "
                             "nothing was written")
        targets.append((fc, fill))
    key_type = compat.enum_value(bpy.types.Keyframe, "type", compat.keyframe_type_generated())
    done = []
    try:
        for fc, fill in targets:
            before = fcurve_snapshot(fc, INSERT_FIELDS)
            done.append((fill, before))
            insert_keys(fc, fill.frames, fill.values, key_type, before)
    except Exception:
        for fill, before in done:  # roll back: the artist's action exactly as before
            _remove_added(coll.find(fill.fc_path, index=fill.index), fill.frames, before)
        raise
    return plan.num_keys
