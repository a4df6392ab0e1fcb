"""Reading the artist's keys (for in-betweening) and sampling an armature's action (a retargeting source)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import bpy
import numpy as np

from . import compat
from .channels import SceneError, channels_to_quat_wxyz, lowest_height, scene_fps, wxyz_to_xyzw
from .rig_read import bone_path, has_location_curves, read_rig, require_armature, rotation_path, translation_bone


# --------------------------------------------------------------------------------------------- keyframes
def _keys(fc) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, values, selected) of an F-curve's keyframes."""
    n = len(fc.keyframe_points)
    co = np.empty(2 * n, np.float64)
    sel = np.empty(n, bool)
    fc.keyframe_points.foreach_get("co", co)
    fc.keyframe_points.foreach_get("select_control_point", sel)
    return co[0::2], co[1::2], sel


@dataclass
class KeyData:
    """The artist's keys for in-betweening, on integer frames, in wire layout (XYZW).

    ``mask[k, b]`` is 1 where bone b has a rotation or a location key on ``frames[k]``; ``location_bones`` are the
    chosen bones other than ``root_bone`` whose location is keyed (feet parented to the root, IK targets, ...),
    with their values in ``locations`` (K,L,3, each bone's own space)."""
    frames: list
    bones: list
    rotations_xyzw: np.ndarray  # (K,B,4)
    root_translation: np.ndarray  # (K,3)
    mask: np.ndarray  # (K,B) 1 = keyed
    root_mask: list
    root_bone: str
    frame_range: tuple  # (first key, last key)
    location_bones: list = field(default_factory=list)
    locations: np.ndarray | None = None  # (K,L,3)

    def spec(self) -> dict:
        from . import wire
        return wire.key_spec(self.frames, self.bones, self.rotations_xyzw, self.root_translation, self.mask,
                             self.root_mask, self.root_bone, self.location_bones or None, self.locations)


def animated_bones(obj, action, slot) -> list[str]:
    """Bones (in armature order) with at least one rotation or location F-curve in the action."""
    coll = compat.fcurves(action, slot)
    if coll is None:
        return []
    out = []
    for b in obj.data.bones:
        pb = obj.pose.bones[b.name]
        prop, _ = rotation_path(pb)
        paths = (bone_path(b.name, prop), bone_path(b.name, "location"))
        if any(coll.find(p, index=i) is not None for p in paths for i in range(4)):
            out.append(b.name)
    return out


def read_keys(obj, bones: list[str] | None = None, frame_range: tuple | None = None,
              selected_keys: bool = False) -> KeyData:
    """The keys of ``bones`` (default: every animated bone) in the object's active action.

    ``selected_keys``: the range is the span of the selected keyframes; otherwise ``frame_range`` (inclusive) or
    the whole action. Every key frame of those bones inside the range is sent (all of them are the artist's keys):
    rotation keys, the root bone's location keys, and the location keys of every other chosen bone (as
    ``location_bones``).
    """
    require_armature(obj)
    action, slot = compat.assigned(obj)
    if action is None:
        raise SceneError(f"the armature '{obj.name}' has no active action to in-between")
    coll = compat.fcurves(action, slot)
    if coll is None or len(coll) == 0:
        raise SceneError(f"the action '{action.name}' has no keys for '{obj.name}'")
    all_animated = animated_bones(obj, action, slot)
    if bones is None:
        bones = all_animated
    unknown = [b for b in bones if b not in obj.pose.bones]
    if unknown:
        raise SceneError(f"the armature '{obj.name}' has no bone named {', '.join(map(repr, unknown[:5]))}")
    bones = [b for b in bones if b in all_animated]
    if not bones:
        raise SceneError("none of the chosen bones has keys in the active action")
    root = translation_bone(obj, coll)

    rot_curves, loc_curves, frames_per_bone = {}, {}, {}
    sel_frames: set = set()
    for b in bones:
        pb = obj.pose.bones[b]
        prop, nch = rotation_path(pb)
        curves = [coll.find(bone_path(b, prop), index=i) for i in range(nch)]
        rot_curves[b] = (pb.rotation_mode, prop, curves)
        loc_curves[b] = [coll.find(bone_path(b, "location"), index=i) for i in range(3)]
        frames_per_bone[b] = (_scan_keys(b, prop, curves, sel_frames)
                              | _scan_keys(b, "location", loc_curves[b], sel_frames))
    root_loc_curves = loc_curves[root] if root in loc_curves else \
        [coll.find(bone_path(root, "location"), index=i) for i in range(3)]
    root_frames = _scan_keys(root, "location", root_loc_curves, set())  # context even when root is not chosen
    location_bones = [b for b in bones if b != root and any(fc is not None for fc in loc_curves[b])]

    all_frames = set().union(*frames_per_bone.values())
    if selected_keys:
        if not sel_frames:
            raise SceneError("no keyframes are selected: select the keys to in-between between (or choose the "
                             "preview range)")
        lo, hi = min(sel_frames), max(sel_frames)
    elif frame_range is not None:
        lo, hi = frame_range
    else:
        lo, hi = min(all_frames), max(all_frames)
    frames = sorted(f for f in all_frames if lo - 1e-6 <= f <= hi + 1e-6)
    off_grid = [f for f in frames if abs(f - round(f)) > 1e-4]
    if off_grid:
        raise SceneError(f"a key sits between frames (frame {off_grid[0]:g}); in-betweening needs keys on whole "
                         "frames: snap them (Key > Snap > Selection to Nearest Frame) and try again")
    frames = sorted({round(f) for f in frames})
    if len(frames) < 2:
        raise SceneError(f"in-betweening needs at least two keyed frames between {lo:g} and {hi:g}; "
                         f"found {len(frames)}")

    K, B = len(frames), len(bones)
    rot = np.empty((K, B, 4))
    mask = np.zeros((K, B), np.float32)
    for j, b in enumerate(bones):
        mode, prop, curves = rot_curves[b]
        vals = _evaluate(curves, frames, getattr(obj.pose.bones[b], prop))
        try:
            rot[:, j] = wxyz_to_xyzw(channels_to_quat_wxyz(vals, mode))
        except SceneError:
            raise SceneError(f"bone '{b}' has a zero rotation key between frames {frames[0]} and {frames[-1]}; "
                             "set a valid rotation and try again") from None
        kf = {round(f) for f in frames_per_bone[b]}
        mask[:, j] = [1.0 if f in kf else 0.0 for f in frames]
    root_loc = _evaluate(root_loc_curves, frames, obj.pose.bones[root].location)
    locs = np.stack([_evaluate(loc_curves[b], frames, obj.pose.bones[b].location) for b in location_bones], 1) \
        if location_bones else None
    rf = {round(f) for f in root_frames}
    return KeyData(frames, list(bones), rot.astype(np.float32), root_loc.astype(np.float32), mask,
                   [f in rf for f in frames], root, (frames[0], frames[-1]), location_bones,
                   None if locs is None else locs.astype(np.float32))


def _scan_keys(bone: str, prop: str, curves, selected: set) -> set:
    """Key frames of a channel's curves (adding the selected ones to ``selected``); NaN keys are refused."""
    frames: set = set()
    for fc in curves:
        if fc is None:
            continue
        f, v, s = _keys(fc)
        if not np.all(np.isfinite(v)):
            bad = float(f[~np.isfinite(v)][0])
            raise SceneError(f"bone '{bone}' has a {prop} key that is not a number at frame {bad:g}; "
                             "fix or delete that key and try again")
        frames.update(f.tolist())
        selected.update(f[s].tolist())
    return frames


def _evaluate(curves, frames, static) -> np.ndarray:
    """(len(frames), C) values of a channel: its curves evaluated, the pose bone's own value where a curve is
    missing."""
    static = list(static)
    return np.array([[fc.evaluate(f) if fc is not None else static[c] for c, fc in enumerate(curves)]
                     for f in frames], np.float64).reshape(len(frames), len(curves))


def sample_curve(fc, frames: np.ndarray) -> np.ndarray:
    """An F-curve's values on ``frames``. Where the curve has a key on every one of them and no modifiers (baked
    mocap, imported files), the key values are read in bulk (a curve passes through its keys); otherwise each
    frame is evaluated."""
    n = len(fc.keyframe_points)
    if n >= len(frames) and len(fc.modifiers) == 0:
        co = np.empty(2 * n, np.float64)
        fc.keyframe_points.foreach_get("co", co)
        kf = co[0::2]
        pos = np.clip(np.searchsorted(kf, frames - 1e-4), 0, n - 1)
        if np.all(np.abs(kf[pos] - frames) < 1e-4):
            return co[1::2][pos]
    return np.array([fc.evaluate(f) for f in frames], np.float64)


def rig_motion(obj, action, slot, frame_start: int, frame_end: int):
    """:func:`rig_motion_steps` at once: ``(RigInfo, wire.Motion)``."""
    from .action_write import run_steps
    return run_steps(rig_motion_steps(obj, action, slot, frame_start, frame_end))


def rig_motion_steps(obj, action, slot, frame_start: int, frame_end: int, budget_s: float | None = None):
    """Sample an armature's action on every frame as a rig-space motion (for retargeting sources): rotations of
    every bone, the root bone's location and the location of every other bone the action moves. The returned rig
    carries the source's floor (the lowest height its bones reach over the clip).

    A generator: with ``budget_s`` it yields whenever a slice has taken that long (a long source is read over
    several timer ticks, so Blender never freezes for long) and looks the armature and the action up by name again
    after each pause. Returns ``(RigInfo, wire.Motion)``."""
    from . import wire
    rig = read_rig(obj)
    obj_name, action_name = obj.name, action.name
    slot_id = slot.identifier if slot is not None else None
    coll = compat.fcurves(action, slot)
    if coll is None:
        raise SceneError(f"the action '{action.name}' has no curves for '{obj.name}'")
    frames = np.arange(frame_start, frame_end + 1, dtype=np.float64)
    if len(frames) < 2:
        raise SceneError(f"the source action '{action.name}' is shorter than two frames")
    if len(frames) > wire.MAX_FRAMES:
        raise SceneError(f"the source action '{action.name}' is {len(frames)} frames long; the limit is "
                         f"{wire.MAX_FRAMES}")
    T, B = len(frames), len(rig.bones)
    rot = np.empty((T, B, 4))
    t_slice = time.perf_counter()

    def pause() -> bool:
        return budget_s is not None and time.perf_counter() - t_slice >= budget_s

    def resolve():
        nonlocal obj, coll, t_slice
        obj = bpy.data.objects.get(obj_name)
        act = bpy.data.actions.get(action_name)
        if obj is None or act is None:
            raise SceneError(f"the source '{obj_name}' or its action '{action_name}' was removed while it was read")
        sl = next((x for x in act.slots if x.identifier == slot_id), None) if compat.HAS_SLOTS else None
        coll = compat.fcurves(act, sl)
        if coll is None:
            raise SceneError(f"the action '{action_name}' lost its curves while it was read")
        t_slice = time.perf_counter()

    for j, b in enumerate(rig.bones):
        if pause():
            yield
            resolve()
        pb = obj.pose.bones[b]
        prop, nch = rotation_path(pb)
        static = list(getattr(pb, prop))
        vals = np.empty((T, nch))
        for c in range(nch):
            fc = coll.find(bone_path(b, prop), index=c)
            vals[:, c] = sample_curve(fc, frames) if fc is not None else static[c]
        if not np.all(np.isfinite(vals)):
            raise SceneError(f"bone '{b}' of '{obj.name}' has rotation keys that are not numbers")
        rot[:, j] = wxyz_to_xyzw(channels_to_quat_wxyz(vals, pb.rotation_mode))
    if pause():
        yield
        resolve()
    root = rig.root_bone = translation_bone(obj, coll)
    moved = [root] + [b for b in rig.bones if b != root and has_location_curves(coll, b)]
    loc = np.empty((T, len(moved), 3))
    for i, b in enumerate(moved):
        static = list(obj.pose.bones[b].location)
        for c in range(3):
            fc = coll.find(bone_path(b, "location"), index=c)
            loc[:, i, c] = sample_curve(fc, frames) if fc is not None else static[c]
    if not np.all(np.isfinite(loc)):
        bad = moved[int(np.argwhere(~np.isfinite(loc))[0, 1])]
        raise SceneError(f"bone '{bad}' of '{obj.name}' has location keys that are not numbers")
    if budget_s is not None:
        yield  # the floor's forward kinematics in a slice of its own
    index = {b: j for j, b in enumerate(rig.bones)}
    # the ground the source moves on: the lowest its bones reach (a BVH hangs its rest pose around the origin, so
    # the rest pose's lowest joint, the backend's default, would be a leg length below the feet)
    rig.floor = lowest_height(rig.rest_matrices, rig.parents, rot[..., [3, 0, 1, 2]],
                              {index[b]: loc[:, i] for i, b in enumerate(moved)}, rig.matrix_world)
    fps = scene_fps(bpy.context.scene)
    return rig, wire.Motion(rig.bones, rig.parents, fps, int(frame_start), rot.astype(np.float32),
                            loc[:, 0].astype(np.float32), "rig", root, moved[1:],
                            loc[:, 1:].astype(np.float32) if len(moved) > 1 else None)
