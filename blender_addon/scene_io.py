"""Reading rigs, keys and trajectories from the scene, and writing motions into actions.

This is the only module that converts between the wire's XYZW quaternions and Blender's WXYZ channels, and between
the artist's rotation modes (quaternion, Euler, axis-angle) and quaternions. Writes use the bulk path
(``keyframe_points.add`` + ``foreach_set`` + ``fcurve.update()``) through :mod:`compat`, so they work on both the
legacy (4.2/4.3) and the layered (4.4+) action API. No model math happens here: values are only moved, converted
between rotation representations and kept on the artist's quaternion hemisphere / Euler branch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Euler, Quaternion

from . import compat

ROT_PATH = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}
# every Euler order stores its three angles in rotation_euler
KEY_FIELDS_F2 = ("co", "handle_left", "handle_right")
KEY_FIELDS_ENUM = ("interpolation", "handle_left_type", "handle_right_type", "easing", "type")
KEY_FIELDS_F = ("back", "amplitude", "period")
KEY_FIELDS_B = ("select_control_point", "select_left_handle", "select_right_handle")


class SceneError(ValueError):
    """Something in the scene stops the job (no armature, no keys, NaN keys, unknown bones); for the artist."""


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


# ---------------------------------------------------------------------------------------- rotation modes
def channels_to_quat_wxyz(values: np.ndarray, mode: str) -> np.ndarray:
    """(N,C) channel values in ``mode`` -> (N,4) unit quaternions, WXYZ."""
    values = np.asarray(values, np.float64)
    if mode == "QUATERNION":
        q = values.copy()
    elif mode == "AXIS_ANGLE":
        q = np.array([Quaternion(v[1:4], v[0]) if np.linalg.norm(v[1:4]) > 1e-12 else Quaternion()
                      for v in values], np.float64).reshape(-1, 4)
    else:
        q = np.array([Euler(v, mode).to_quaternion() for v in values], np.float64).reshape(-1, 4)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < 1e-9):
        raise SceneError("a rotation key is a zero quaternion")
    return q / n


def quat_wxyz_to_channels(q: np.ndarray, mode: str, reference: np.ndarray | None = None,
                          anchors: dict | None = None) -> np.ndarray:
    """(N,4) WXYZ -> (N,C) channels in ``mode``, continuous in time.

    Quaternions keep the hemisphere of the previous frame; Euler angles the branch of the previous frame
    (``to_euler(mode, compat)``). ``anchors`` maps a row index to the artist's own channel values at that row:
    the sequence restarts from them, so written values join the artist's curves without a flip.
    """
    q = np.asarray(q, np.float64)
    anchors = anchors or {}
    if mode == "QUATERNION":
        return _continuous_signs(q, reference, anchors)
    if mode == "AXIS_ANGLE":
        out = np.empty((len(q), 4))
        for i, v in enumerate(q):
            axis, angle = Quaternion(v).to_axis_angle()
            out[i] = (angle, *axis)
        return out
    out = np.empty((len(q), 3))
    prev = None if reference is None else Euler(reference, mode)
    for i, v in enumerate(q):
        if i in anchors:
            prev = Euler(anchors[i], mode)
        e = Quaternion(v).to_euler(mode, prev) if prev is not None else Quaternion(v).to_euler(mode)
        out[i] = e
        prev = e
    return out


def _continuous_signs(q: np.ndarray, reference, anchors: dict) -> np.ndarray:
    """Flip rows of (N,4) ``q`` so each row is on the hemisphere of the previous one, restarting at anchor rows
    (sign chosen towards the anchor's value) and at row 0 (towards ``reference`` if given). Vectorised."""
    n = len(q)
    if n == 0:
        return q.copy()
    rel = np.ones(n)
    rel[1:] = np.where(np.sum(q[1:] * q[:-1], axis=1) < 0, -1.0, 1.0)
    chain = np.cumprod(rel)  # sign of row i relative to row 0 along the chain (+-1, so its own inverse)
    restart = {0: 1.0 if reference is None or float(np.dot(q[0], reference)) >= 0 else -1.0}
    for i, ref in anchors.items():
        if 0 <= i < n:
            restart[i] = 1.0 if float(np.dot(q[i], ref)) >= 0 else -1.0
    idx = np.zeros(n, int)
    idx[list(restart)] = list(restart)
    start = np.maximum.accumulate(idx)  # the restart row each row's chain begins at
    sign_at = np.zeros(n)
    sign_at[list(restart)] = list(restart.values())
    return q * (sign_at[start] * chain * chain[start])[:, None]


def hemisphere_continuous(q: np.ndarray) -> np.ndarray:
    """(T,...,4): flip signs so consecutive frames have a non-negative dot product (no long-way spins)."""
    q = np.array(q, np.float64)
    if len(q) < 2:
        return q
    d = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(d < 0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    return q


def xyzw_to_wxyz(q):
    return np.asarray(q)[..., [3, 0, 1, 2]]


def wxyz_to_xyzw(q):
    return np.asarray(q)[..., [1, 2, 3, 0]]


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

    def spec(self, bone_map: dict | None = None) -> dict:
        from . import wire
        return wire.rig_spec(self.name, self.bones, self.parents, self.rest_matrices, self.tails, self.matrix_world,
                             self.deform, bone_map)


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


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def motion_frames(motion, fps: float) -> np.ndarray:
    """Scene frame numbers of a motion's samples (fractional when the motion's fps differs from the scene's)."""
    return motion.start_frame + np.arange(motion.num_frames) * (fps / motion.fps)


def check_bones(obj, motion) -> None:
    """Every bone a result writes to must exist on the armature (checked before anything is written)."""
    named = list(motion.bones) + list(motion.location_bones) + [p.bone for p in motion.properties]
    missing = list(dict.fromkeys(b for b in named if b not in obj.pose.bones))
    if missing:
        raise SceneError(f"the result names bones the armature '{obj.name}' does not have: "
                         f"{', '.join(map(repr, missing[:5]))}")
    if motion.root_bone is not None and motion.root_bone not in obj.pose.bones:
        raise SceneError(f"the result moves a root bone '{motion.root_bone}' that '{obj.name}' does not have")


# ------------------------------------------------------------------------------------- pose-bone properties
_MISSING = object()


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
    _MISSING}`` for :func:`restore_properties`."""
    previous = {}
    try:
        for p in properties:
            pb = obj.pose.bones[p.bone]
            old = pb.get(p.name, _MISSING)
            if create_only and old is not _MISSING:
                continue
            previous.setdefault((p.bone, p.name), old.to_list() if hasattr(old, "to_list") else
                                old.to_dict() if hasattr(old, "to_dict") else old)
            pb[p.name] = float(p.value) if old is _MISSING else _typed(old, p.value)
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
        if old is _MISSING:
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


# ----------------------------------------------------------------------------------------- trajectories
def _ordered_polyline(verts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Vertices of the first connected chain of an edge list, in order along the chain."""
    if len(edges) == 0:
        return verts
    adj: dict = {}
    for a, b in edges:
        adj.setdefault(int(a), []).append(int(b))
        adj.setdefault(int(b), []).append(int(a))
    ends = [v for v, nb in adj.items() if len(nb) == 1]
    start = min(ends) if ends else int(edges[0][0])
    order, prev, cur = [start], None, start
    while True:
        nxt = [v for v in adj[cur] if v != prev and v not in order[-2:]]
        if not nxt or nxt[0] == start:
            if nxt and nxt[0] == start:
                order.append(start)  # closed loop
            break
        prev, cur = cur, nxt[0]
        order.append(cur)
        if len(order) > len(verts) + 1:
            break
    return verts[order]


def _mesh_polyline(ev) -> np.ndarray:
    me = ev.to_mesh()
    try:
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        ed = np.empty(len(me.edges) * 2, np.int32)
        me.edges.foreach_get("vertices", ed)
    finally:
        ev.to_mesh_clear()
    return _ordered_polyline(co.reshape(-1, 3).astype(np.float64), ed.reshape(-1, 2))


def _curve_centerline(obj, ev) -> np.ndarray:
    """The evaluated centre line of a curve object (object space), in order along the first spline.

    A curve with thickness (bevel, extrude, taper) evaluates to a tube mesh, so its line is taken from a temporary
    copy without thickness, evaluated the same way and removed again (the scene ends as it was)."""
    cu = obj.data
    thick = cu.bevel_depth > 0 or cu.extrude > 0 or cu.bevel_mode == "OBJECT" and cu.bevel_object is not None
    if not thick:
        return _mesh_polyline(ev)
    tmp_cu = cu.copy()
    tmp_cu.bevel_depth, tmp_cu.extrude, tmp_cu.bevel_mode = 0.0, 0.0, "ROUND"
    tmp = bpy.data.objects.new("MotionLoom trajectory (temporary)", tmp_cu)
    try:
        bpy.context.scene.collection.objects.link(tmp)
        pts = _mesh_polyline(tmp.evaluated_get(bpy.context.evaluated_depsgraph_get()))
    finally:
        bpy.data.objects.remove(tmp)
        bpy.data.curves.remove(tmp_cu)
    return pts


def trajectory_points(obj) -> np.ndarray:
    """World-space points along a curve object (evaluated, so resolution and modifiers count) or along the first
    stroke of a Grease Pencil object's active layer at the current frame."""
    if obj.type not in ("CURVE", "GREASEPENCIL", "GPENCIL"):
        raise SceneError(f"'{obj.name}' is a {obj.type.lower()}: pick a curve or a Grease Pencil object as the "
                         "trajectory")
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mw = np.array(ev.matrix_world, np.float64)
    if obj.type == "CURVE":
        pts = _curve_centerline(obj, ev)
    elif obj.type == "GPENCIL":  # legacy Grease Pencil (Blender 4.2)
        layer = obj.data.layers.active or (obj.data.layers[0] if len(obj.data.layers) else None)
        frame = layer.active_frame if layer is not None else None
        if frame is None or len(frame.strokes) == 0:
            raise SceneError(f"the Grease Pencil object '{obj.name}' has no strokes on the current frame")
        pts = np.array([tuple(p.co) for p in frame.strokes[0].points], np.float64).reshape(-1, 3)
    elif obj.type == "GREASEPENCIL":
        layer = obj.data.layers.active or (obj.data.layers[0] if len(obj.data.layers) else None)
        frame = layer.current_frame() if layer is not None else None
        if frame is None or frame.drawing is None:
            raise SceneError(f"the Grease Pencil object '{obj.name}' has no drawing on the current frame")
        dr = frame.drawing
        pos = dr.attributes.get("position")
        if pos is None or len(pos.data) == 0:
            raise SceneError(f"the Grease Pencil object '{obj.name}' has no strokes")
        P = np.empty(len(pos.data) * 3, np.float32)
        pos.data.foreach_get("vector", P)
        offs = np.empty(len(dr.curve_offsets), np.int32)
        dr.curve_offsets.foreach_get("value", offs)
        pts = P.reshape(-1, 3)[offs[0]:offs[1]].astype(np.float64)
        mw = mw @ np.array(layer.matrix_local, np.float64)
    if len(pts) < 2:
        raise SceneError(f"the trajectory '{obj.name}' has fewer than two points")
    return pts @ mw[:3, :3].T + mw[:3, 3]


def resample_by_arc_length(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a polyline."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 1e-6:
        raise SceneError("the trajectory has zero length")
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, k]) for k in range(3)], axis=1)


def sample_trajectory(obj, frames: int) -> np.ndarray:
    """(frames, 3) root path in metres, sampled by arc length over the duration and projected to the ground."""
    pts = resample_by_arc_length(trajectory_points(obj), frames)
    unit = bpy.context.scene.unit_settings.scale_length or 1.0
    pts = pts * unit
    pts[:, 2] = 0.0
    return pts.astype(np.float32)


# --------------------------------------------------------------------------------------------- file import
def rig_motion(obj, action, slot, frame_start: int, frame_end: int) -> object:
    """Sample an armature's action on every frame as a rig-space motion (for retargeting sources): rotations of
    every bone, the root bone's location and the location of every other bone the action moves."""
    from . import wire
    rig = read_rig(obj)
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
    for j, b in enumerate(rig.bones):
        pb = obj.pose.bones[b]
        prop, nch = rotation_path(pb)
        curves = [coll.find(bone_path(b, prop), index=c) for c in range(nch)]
        static = list(getattr(pb, prop))
        vals = np.empty((T, nch))
        for c, fc in enumerate(curves):
            vals[:, c] = [fc.evaluate(f) for f in frames] if fc is not None else static[c]
        if not np.all(np.isfinite(vals)):
            raise SceneError(f"bone '{b}' of '{obj.name}' has rotation keys that are not numbers")
        rot[:, j] = wxyz_to_xyzw(channels_to_quat_wxyz(vals, pb.rotation_mode))
    root = rig.root_bone = translation_bone(obj, coll)
    moved = [root] + [b for b in rig.bones if b != root and has_location_curves(coll, b)]
    loc = np.stack([_evaluate([coll.find(bone_path(b, "location"), index=c) for c in range(3)], frames,
                              obj.pose.bones[b].location) for b in moved], 1)  # (T, L, 3)
    if not np.all(np.isfinite(loc)):
        bad = moved[int(np.argwhere(~np.isfinite(loc))[0, 1])]
        raise SceneError(f"bone '{bad}' of '{obj.name}' has location keys that are not numbers")
    fps = scene_fps(bpy.context.scene)
    return rig, wire.Motion(rig.bones, rig.parents, fps, int(frame_start), rot.astype(np.float32),
                            loc[:, 0].astype(np.float32), "rig", root, moved[1:],
                            loc[:, 1:].astype(np.float32) if len(moved) > 1 else None)


_IMPORT_KINDS = ("objects", "armatures", "meshes", "actions", "materials", "images", "textures", "collections",
                 "cameras", "lights", "curves", "node_groups", "worlds")


def import_motion_file(path: str):
    """Import a BVH/FBX/glTF file with Blender's own importers, read its first animated armature as a rig-space
    motion, and remove everything the import created. Returns ``(RigInfo, wire.Motion, source name)``."""
    import os
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise SceneError(f"the source file '{path}' does not exist")
    before = {k: {x.session_uid for x in getattr(bpy.data, k)} for k in _IMPORT_KINDS}
    selected = {o.name for o in bpy.context.view_layer.objects if o is not None and o.select_get()}
    scene = bpy.context.scene
    saved_range = (scene.frame_start, scene.frame_end, scene.frame_current)
    active = bpy.context.view_layer.objects.active
    try:
        if ext == ".bvh":
            _ensure_importer("IMPORT_ANIM_OT_bvh", "io_anim_bvh")
            bpy.ops.import_anim.bvh(filepath=path, rotate_mode="QUATERNION", update_scene_fps=False,
                                    update_scene_duration=False, use_fps_scale=True)
        elif ext == ".fbx":
            _ensure_importer("IMPORT_SCENE_OT_fbx", "io_scene_fbx")
            bpy.ops.import_scene.fbx(filepath=path)
        elif ext in (".glb", ".gltf"):
            _ensure_importer("IMPORT_SCENE_OT_gltf", "io_scene_gltf2")
            bpy.ops.import_scene.gltf(filepath=path)
        else:
            raise SceneError(f"cannot read motion from '{os.path.basename(path)}': use a .bvh, .fbx, .glb or .gltf file")
        new_objs = [o for o in bpy.data.objects if o.session_uid not in before["objects"]]
        arms = [o for o in new_objs if o.type == "ARMATURE" and o.animation_data and o.animation_data.action]
        if not arms:
            raise SceneError(f"'{os.path.basename(path)}' holds no animated armature")
        arm = arms[0]
        action, slot = compat.assigned(arm)
        if compat.HAS_SLOTS and slot is None and len(action.slots):
            slot = action.slots[0]
        f0, f1 = (round(x) for x in action.frame_range)
        rig, motion = rig_motion(arm, action, slot, f0, f1)
        rig.name = os.path.splitext(os.path.basename(path))[0]
        return rig, motion, rig.name
    finally:
        new = [x for k in _IMPORT_KINDS for x in getattr(bpy.data, k) if x.session_uid not in before[k]]
        if new:
            bpy.data.batch_remove(new)
        # list first: on 4.2, select_set after a removal re-syncs the view layer under a running iterator (crash)
        for o in [o for o in bpy.context.view_layer.objects if o is not None]:
            o.select_set(o.name in selected)
        scene.frame_start, scene.frame_end = saved_range[:2]
        scene.frame_set(saved_range[2])
        if active is not None and active.name in bpy.data.objects:
            bpy.context.view_layer.objects.active = active


def _ensure_importer(op_type: str, module: str) -> None:
    if not hasattr(bpy.types, op_type):
        import addon_utils
        addon_utils.enable(module, default_set=False)
    if not hasattr(bpy.types, op_type):
        raise SceneError(f"Blender's importer '{module}' is not available; enable it in Preferences > Add-ons")
