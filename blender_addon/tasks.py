"""What each button does: read the scene, build the request, and apply the result when it arrives.

Reading happens when the job starts (main thread); the request then travels in a worker thread; results are applied
by :mod:`jobs`' pump on the main thread. Generation and retargeting write NEW actions; in-betweening writes into the
active action only when the job completes, all at once, followed by one undo step. Partial results are shown on a
temporary preview action that is removed again, restoring exactly what the armature had, whatever the outcome.
"""
from __future__ import annotations

import re

import bpy
import numpy as np

from . import (
    action_write,
    backend_process,
    channels,
    client,
    compat,
    importers,
    inbetween_write,
    jobs,
    key_read,
    preferences,
    presets,
    rig_read,
    trajectories,
    wire,
)
from .preview import Preview, live_object

STASH_TRACK = "[Action Stash]"

# connection state shown in the Backend panel
CONNECTION = {"state": "unknown", "url": "", "version": "", "device": "", "models": [], "error": ""}


# ------------------------------------------------------------------------------------------------- helpers
def bone_map_overrides(obj) -> dict | None:
    """The rig's saved bone map as ``{canonical joint: bone}``, checked against the armature's bones."""
    arm = obj.data
    if not getattr(arm, "motionloom_use_bone_map", False) or len(arm.motionloom_bone_map) == 0:
        return None
    out = {}
    for it in arm.motionloom_bone_map:
        if not it.bone:
            continue
        if it.bone not in arm.bones:
            raise channels.SceneError(f"the bone map of '{obj.name}' sends {it.canonical} to '{it.bone}', which is "
                                      "not a bone of this armature: fix the row or run Auto-Map again")
        if it.bone in out.values():
            other = next(c for c, b in out.items() if b == it.bone)
            raise channels.SceneError(f"the bone map of '{obj.name}' gives bone '{it.bone}' to both {other} and "
                                      f"{it.canonical}: a bone can play one joint only")
        out[it.canonical] = it.bone
    return out or None


def action_name(text: str, limit: int = 48) -> str:
    text = re.sub(r"\s+", " ", text.strip())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def undo_push(message: str) -> None:
    try:
        bpy.ops.ed.undo_push(message=message)
    except RuntimeError:
        pass  # no undo stack (e.g. during file load); the write itself is complete


def _frames(settings, fps: float) -> int:
    if settings.duration_unit == "FRAMES":
        return int(settings.duration_frames)
    return max(2, round(settings.duration_seconds * fps))


def chosen_model(settings, task: str, attr: str) -> str | None:
    """The model the panel asks for (None: the active one), refused when the cached list knows it unavailable."""
    return wire.check_model(CONNECTION.get("models"), task, getattr(settings, attr))


def served_by(result) -> str:
    """The status line's note on which model served a result."""
    return f"model {result.model}"


def _stream(context, request: dict) -> client.JobStream:
    return client.JobStream(preferences.backend(context), request)


def _place_new_action(obj, action, slot, mode: str, index: int) -> str:
    """Assign (stashing the artist's action on a muted NLA track) or push to a new NLA track."""
    if mode == "NLA" or index > 0:
        start = action.frame_range[0]
        compat.push_to_nla(obj, action, slot, f"MotionLoom: {action.name}", action.name, start, mute=index > 0)
        return "NLA"
    current, current_slot = compat.assigned(obj)
    if current is not None and current != action:
        compat.push_to_nla(obj, current, current_slot, STASH_TRACK, current.name, current.frame_range[0], mute=True)
    compat.assign(obj, action, slot)
    return "ASSIGN"


def _write_results(obj_name: str, motions, base_name: str, mode: str):
    """Generator: write one new action per motion (a few dozen curves per tick), then place them all at once.
    Returns the action names. If it is closed early or fails, every action it made is removed.

    Pose-bone properties (e.g. Rigify's IK/FK switches) are keyed in each action; when the actions are placed, the
    first one's values are also set on the rig (it shows the result at once, without waiting for a frame change),
    and properties the rig lacks are created so every action's curves resolve."""
    obj = live_object(obj_name)
    for m in motions:
        if m.space != "rig":
            raise wire.WireError(f"the backend returned a motion in '{m.space}' space; this add-on needs it on the rig")
        rig_read.check_bones(obj, m)
    made, placed = [], False
    try:
        for i, m in enumerate(motions):
            name = base_name if len(motions) == 1 else f"{base_name} v{i + 1}"
            steps = action_write.write_motion_action_steps(live_object(obj_name), m, name)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    made.append(done.value[0].name)
                    break
                yield
        obj = live_object(obj_name)
        props_before: dict = {}
        try:
            for i, m in enumerate(motions):  # muted variations only need their properties to exist
                for key, old in action_write.set_properties(obj, m.properties, create_only=i > 0).items():
                    props_before.setdefault(key, old)
            for i, name in enumerate(made):
                action = bpy.data.actions[name]
                _place_new_action(obj, action, action.slots[0] if compat.HAS_SLOTS else None, mode, i)
        except Exception:
            action_write.restore_properties(obj, props_before)
            raise
        placed = True
        return made
    finally:
        if not placed:
            for name in made:
                a = bpy.data.actions.get(name)
                if a is not None:
                    bpy.data.actions.remove(a)


# ------------------------------------------------------------------------------------------------ generate
def target_bone(obj, joint: str, result=None) -> str | None:
    """The bone of ``obj`` that plays a joint target's joint: the bone itself, else the bone the result's (or the
    rig's own) bone map gives the canonical joint."""
    if joint in obj.pose.bones:
        return joint
    for e in (result.bone_map if result is not None and result.bone_map else ()):
        if e.canonical == joint and e.bone in obj.pose.bones:
            return e.bone
    bone = (bone_map_overrides(obj) or {}).get(joint)
    return bone if bone in obj.pose.bones else None


def measure_targets(obj, targets, result) -> list:
    """``[(joint, bone or None, frame, distance)]``: how far each target's joint is from its empty on the rig as
    Blender shows it (world units of the scene; None where no bone plays the joint)."""
    bones = [(j, target_bone(obj, j, result), f, p) for j, f, p in targets]
    heads = rig_read.world_heads_at(obj, [(b, f) for _, b, f, _ in bones if b is not None])
    return [(j, b, f, None if b is None else float(np.linalg.norm(heads[(b, f)] - np.asarray(p))))
            for j, b, f, p in bones]


def describe_target_errors(errors, scene) -> str:
    measured = [e for e in errors if e[3] is not None]
    if not measured:
        return "joint targets not measured (no bone plays their joints)"
    j, _b, f, d = max(measured, key=lambda e: e[3])
    return (f"joint targets within {rig_read.format_length(scene, d)} on the rig (worst: {j} on frame {f})"
            + (f"; {len(errors) - len(measured)} not measured" if len(measured) < len(errors) else ""))


def start_generate(context, obj) -> jobs.Job:
    s = context.scene.motionloom
    scene = context.scene
    rig_read.require_armature(obj)
    fps = wire.check_fps(channels.scene_fps(scene))
    frames = wire.check_frames(_frames(s, fps))
    model = chosen_model(s, "text2motion", "generate_model")
    start = scene.frame_start
    traj = trajectories.sample_trajectory(s.trajectory, frames) if s.trajectory else None
    targets = []
    for t in s.targets:
        if t.empty is None:
            continue
        if not t.joint.strip():
            raise channels.SceneError(f"the joint target on '{t.empty.name}' names no joint")
        if not start <= t.frame < start + frames:
            raise channels.SceneError(f"the joint target on '{t.empty.name}' is on frame {t.frame}, outside the "
                                      f"generated frames {start}..{start + frames - 1}")
        targets.append((t.joint.strip(), t.frame, tuple(t.empty.matrix_world.translation)))
    rig = rig_read.read_rig(obj)
    req = wire.text2motion_request(s.prompt, frames, fps, start_frame=start, seed=s.seed,
                                   num_variations=s.variations, rig=rig.spec(bone_map_overrides(obj)),
                                   trajectory=traj, joint_targets=targets, model=model,
                                   exemplar_strength=s.invention if s.invention_custom else None)
    preview = Preview(obj)
    name, prompt = action_name(s.prompt), s.prompt
    mode = s.apply_mode
    obj_name = obj.name

    def on_partial(job, motion):
        return preview.show_motion(motion)

    def on_result(job, result):
        preview.discard()
        if not result.motions:
            raise wire.WireError("the backend returned no motion")
        names = yield from _write_results(obj_name, result.motions, name, mode)
        for n in names:
            presets.mark_take(bpy.data.actions[n], obj_name, "generate", prompt, result.model)
        undo_push("MotionLoom Generate")
        job.actions = names
        job.result = result
        text = (f"created {', '.join(repr(n) for n in names)} ({result.motions[0].num_frames} frames, "
                f"{served_by(result)})")
        if result.info.get("out_of_vocabulary"):  # the prompt is far from every training sentence: say so
            text += f". Note: {result.info['out_of_vocabulary']}"
        if targets:
            job.target_errors = measure_targets(live_object(obj_name), targets, result)
            text += "; " + describe_target_errors(job.target_errors, bpy.context.scene)
        return text

    job = jobs.Job("generate", "Generate", stream=_stream(context, req), on_partial=on_partial, on_result=on_result,
                   preview=preview, object_name=obj_name)
    return jobs.start(job)


# ----------------------------------------------------------------------------------------------- in-between
def start_inbetween(context, obj) -> jobs.Job:
    s = context.scene.motionloom
    scene = context.scene
    rig_read.require_armature(obj)
    fps = wire.check_fps(channels.scene_fps(scene))
    model = chosen_model(s, "inbetween", "inbetween_model")
    bones = None
    if s.inbetween_bones == "SELECTED":
        sel = [pb.name for pb in obj.pose.bones if compat.pose_bone_selected(pb)]
        bones = sel or None
    if s.inbetween_range == "SELECTED_KEYS":
        keys = key_read.read_keys(obj, bones, selected_keys=True)
    else:
        rng = (scene.frame_preview_start, scene.frame_preview_end) if scene.use_preview_range \
            else (scene.frame_start, scene.frame_end)
        keys = key_read.read_keys(obj, bones, frame_range=rng)
    rig = rig_read.read_rig(obj)
    req = wire.inbetween_request(keys.spec(), fps, rig=rig.spec(bone_map_overrides(obj)),
                                 frame_range=keys.frame_range, model=model)
    action, _slot = compat.assigned(obj)
    fingerprint = action_write.action_fingerprint(action)
    obj_name, act_name = obj.name, action.name
    preview = Preview(obj)

    def on_partial(job, motion):
        return preview.show_filled(motion, keys.bones, keys.frame_range)

    def unchanged():
        o = live_object(obj_name)
        act, _ = compat.assigned(o)
        if act is None or act.name != act_name:
            raise channels.SceneError(f"the active action of '{obj_name}' changed while the job ran; nothing was "
                                      "written")
        if not action_write.fingerprints_equal(fingerprint, action_write.action_fingerprint(act)):
            raise channels.SceneError("the keys changed while the job ran; nothing was written: run In-between again")
        return o

    def on_result(job, result):
        preview.discard()
        if len(result.motions) != 1 or result.motions[0].space != "rig":
            raise wire.WireError("the backend's in-between result is not one motion on the rig")
        plan = inbetween_write.plan_inbetween(unchanged(), result.motions[0], keys.bones, keys.frame_range)
        yield  # planning and writing in separate ticks; the write itself is one step (all or nothing)
        o = unchanged()
        n = inbetween_write.apply_inbetween(o, plan)
        undo_push("MotionLoom In-between")
        job.keys_added = n
        job.result = result
        lo, hi = keys.frame_range
        return f"filled {n} keys on {len(keys.bones)} bones between frames {lo} and {hi} ({served_by(result)})"

    job = jobs.Job("inbetween", "In-between", stream=_stream(context, req), on_partial=on_partial,
                   on_result=on_result, preview=preview,
                   object_name=obj_name)
    return jobs.start(job)


# ------------------------------------------------------------------------------------------------- retarget
PREPARE_SLICE_S = 0.02  # longest main-thread slice while a job reads the scene before it starts


def _source_range(settings, first: int, last: int) -> tuple[int, int]:
    """The frames of the source to retarget: the whole action, or the panel's range clipped to it."""
    if not settings.retarget_use_range:
        return first, last
    lo, hi = max(first, settings.retarget_frame_start), min(last, settings.retarget_frame_end)
    if hi - lo < 1:
        raise channels.SceneError(f"the retarget range {settings.retarget_frame_start}..{settings.retarget_frame_end}"
                                  f" holds fewer than two frames of the source (it has {first}..{last})")
    return lo, hi


def read_source_steps(context, target, budget_s: float | None = PREPARE_SLICE_S):
    """Generator (one slice per tick): ``(source RigInfo, rig-space wire.Motion, name, bone map overrides)`` from
    an armature or a motion file, cropped to the panel's frame range."""
    s = context.scene.motionloom
    if s.source_type == "FILE":
        path = bpy.path.abspath(s.source_file)
        if path.lower().endswith(".bvh"):  # parsed in a worker thread: no Blender data, no long main-thread step
            rig, motion, name = yield from importers.read_bvh_steps(path)
        else:  # Blender's own importer, in a Blender process of its own: nothing made here, no long step
            rig, motion, name = yield from importers.read_import_steps(path, context.scene)
        fps = channels.scene_fps(context.scene)
        end = motion.start_frame + (motion.num_frames - 1) * fps / motion.fps
        lo, hi = _source_range(s, motion.start_frame, int(np.floor(end + 1e-6)))
        return rig, channels.crop_motion(motion, lo, hi, fps), name, None
    src = s.source_armature
    if src is None:
        raise channels.SceneError("choose a source armature (or switch the source to a file)")
    rig_read.require_armature(src, "the source")
    if src == target:
        raise channels.SceneError("the source and the target are the same armature")
    action, slot = compat.assigned(src)
    if action is None:
        raise channels.SceneError(f"the source armature '{src.name}' has no action")
    f0, f1 = _source_range(s, *(round(x) for x in action.frame_range))
    overrides = bone_map_overrides(src)
    rig, motion = yield from key_read.rig_motion_steps(src, action, slot, f0, f1, budget_s)
    return rig, motion, action.name, overrides


def read_source(context, target):
    """:func:`read_source_steps` at once."""
    return action_write.run_steps(read_source_steps(context, target, None))


REFERENCES = {"AUTO": "auto", "REST": "rest", "TPOSE": "tpose"}  # the panel's Reference Pose -> source_reference


def source_reference(choice: str, f: int, motion, scene_fps: float):
    """The request's ``source_reference`` for the panel's Reference Pose ``choice``: "auto" / "rest" / "tpose", or
    for Frame the sample of ``motion`` (as sent, after cropping) that sits on source frame ``f``."""
    if choice != "FRAME":
        return REFERENCES[choice]
    i = round((f - motion.start_frame) * motion.fps / scene_fps)
    last = motion.start_frame + (motion.num_frames - 1) * scene_fps / motion.fps
    if not 0 <= i < motion.num_frames:
        raise channels.SceneError(f"the reference frame {f} is outside the source frames being retargeted "
                                  f"({motion.start_frame}..{last:g}): pick a frame inside them")
    return int(i)


def describe_reference(result) -> str:
    """The status line's note on the reference pose the backend read the source against."""
    used = result.info.get("source_reference")
    return f"; reference pose: {used}" if used else ""


def start_retarget(context, target) -> jobs.Job:
    s = context.scene.motionloom
    rig_read.require_armature(target, "the target (the selected armature)")
    fps = wire.check_fps(channels.scene_fps(context.scene))
    model = chosen_model(s, "retarget", "retarget_model")
    backend = preferences.backend(context)
    current = None
    if s.retarget_pose_as_rest:
        rig, current = rig_read.read_pose_as_rest(target)
    else:
        rig = rig_read.read_rig(target)
    target_map = bone_map_overrides(target)
    obj_name = target.name
    mode, in_place = s.apply_mode, s.retarget_in_place
    reference_choice = (s.retarget_reference, s.retarget_reference_frame)

    def on_rest(m):  # a result solved against the current pose, back onto the real rest
        return m if current is None or m.space != "rig" else channels.compose_with_pose(m, current)
    preview = Preview(target)
    job = jobs.Job("retarget", "Retarget", preview=preview, object_name=obj_name)

    def prepare():
        """Read the source in slices (a long source armature is sampled over several ticks), then start."""
        src_rig, motion, src_name, src_map = yield from read_source_steps(bpy.context, live_object(obj_name))
        yield  # the request is encoded in a tick of its own
        job.take_name = action_name(f"{src_name} -> {obj_name}", 60)
        root_loc = motion.root_translation
        if in_place:
            root_loc = channels.in_place(root_loc, src_rig.root_turn())
        source = wire.motion_spec(motion.bones, motion.parents, motion.fps, motion.rotations_xyzw, root_loc,
                                  motion.start_frame, "rig", motion.root_bone, motion.location_bones or None,
                                  motion.locations)
        reference = source_reference(*reference_choice, motion, fps)
        req = wire.retarget_request(source, rig.spec(target_map), fps, source_rig=src_rig.spec(src_map),
                                    start_frame=motion.start_frame, model=model, source_reference=reference)
        return client.JobStream(backend, req)

    def on_partial(job, m):
        return preview.show_motion(on_rest(m))

    def on_result(job, result):
        preview.discard()
        if not result.motions:
            raise wire.WireError("the backend returned no motion")
        names = yield from _write_results(obj_name, [on_rest(result.motions[0])], job.take_name, mode)
        presets.mark_take(bpy.data.actions[names[0]], obj_name, "retarget", job.take_name, result.model)
        undo_push("MotionLoom Retarget")
        job.actions = names
        job.result = result
        if result.bone_map:
            job.bone_map = list(result.bone_map)
        return (f"created {names[0]!r} ({result.motions[0].num_frames} frames, {served_by(result)})"
                + describe_reference(result))

    job.prepare, job.on_partial, job.on_result = prepare(), on_partial, on_result
    job.message = "reading the source"
    return jobs.start(job)


# ------------------------------------------------------------------------------------------------ bone map
def fill_bone_map(obj, entries) -> int:
    arm = obj.data
    arm.motionloom_bone_map.clear()
    for e in entries:
        it = arm.motionloom_bone_map.add()
        it.canonical = e.canonical
        it.bone = e.bone or ""
        it.confidence = e.confidence
    return len(entries)


def start_bone_map(context, obj) -> jobs.Job:
    rig_read.require_armature(obj)
    rig = rig_read.read_rig(obj)
    b = preferences.backend(context)
    obj_name = obj.name

    def on_result(job, entries):
        o = live_object(obj_name)
        n = fill_bone_map(o, entries)
        mapped = sum(1 for e in entries if e.bone)
        undo_push("MotionLoom Bone Map")
        return f"mapped {mapped} of {n} joints on '{obj_name}'"

    job = jobs.Job("bonemap", "Auto-Map Bones", call=client.Call(b.bone_map, rig.spec()), on_result=on_result)
    return jobs.start(job)


# ---------------------------------------------------------------------------------------------- connection
def _check(b: client.Backend):
    return b.health(), b.models()


def _connected(job, value) -> str:
    health, models = value
    CONNECTION.update(state="connected", url=job.url, version=str(health.get("version", "?")),
                      device=str(health.get("device", "?")), models=list(models), error="")
    return f"connected to {job.url} (backend {CONNECTION['version']}, {len(models)} models)"


def _connection_failed(job, ok) -> None:
    if not ok:
        CONNECTION.update(state="error", error=job.message, models=[])


def start_connect(context) -> jobs.Job:
    try:
        b = preferences.backend(context)
    except client.BackendError as e:
        CONNECTION.update(state="error", error=str(e), models=[])
        raise
    CONNECTION.update(state="checking", url=b.url, error="")
    job = jobs.Job("connect", "Connect", call=client.Call(_check, b), on_result=_connected,
                   on_cleanup=_connection_failed, url=b.url)
    return jobs.start(job)


HEALTH_EVERY_S = 5.0  # how often the panel re-checks a connected backend while no job runs


class _HealthCheck:
    """A ``GET /health`` in a daemon thread (no bpy), read back by :func:`refresh_connection`."""

    def __init__(self, url: str, token: str):
        self.url, self.call = url, client.Call(lambda: client.Backend(url, token, timeout=3.0).health())


_health: dict = {"check": None, "at": 0.0}


def refresh_connection(job=None) -> dict:
    """Keep the Backend panel truthful: a local backend that exited, a job that lost the backend, or a connected
    backend that stopped answering its health check ends "Connected" (with the reason; for a local backend the
    exit code and its log's last lines). Called after every job and whenever the panel draws."""
    if CONNECTION["state"] in ("connected", "starting"):
        proc = backend_process.current()
        why = proc.died() if proc is not None else None
        if why is not None and (CONNECTION["state"] == "starting" or CONNECTION["url"] == proc.url):
            CONNECTION.update(state="error", error=why, models=[])
        elif job is not None and getattr(job, "connection_lost", False):
            CONNECTION.update(state="error", error=f"lost the backend: {job.message}", models=[])
    if CONNECTION["state"] == "connected" and job is None:
        _poll_health()
    return CONNECTION


def _poll_health() -> None:
    import time
    check = _health["check"]
    if check is not None:
        if not check.call.done:
            return
        _health["check"] = None
        if check.call.error and check.url == CONNECTION["url"] and CONNECTION["state"] == "connected":
            CONNECTION.update(state="error", error=f"the backend stopped answering: {check.call.error}", models=[])
            return
    if jobs.active() is None and time.monotonic() - _health["at"] >= HEALTH_EVERY_S:
        _health["at"] = time.monotonic()
        prefs = preferences.get()
        token = "" if prefs is None else prefs.remote_token if prefs.mode == "REMOTE" else prefs.token
        _health["check"] = _HealthCheck(CONNECTION["url"], token)


jobs.finish_listeners.append(refresh_connection)


def start_local_backend(context) -> jobs.Job:
    prefs = preferences.get(context)
    proc = backend_process.start(bpy.path.abspath(prefs.python), bpy.path.abspath(prefs.workdir) or ".",
                                 prefs.host, prefs.port, prefs.token, log_path=preferences.log_path())
    CONNECTION.update(state="starting", url="", error="")

    def wait_and_check():
        url = proc.wait_ready()
        return _check(client.Backend(url, prefs.token))

    def on_result(job, value):
        job.url = proc.url
        return _connected(job, value)

    def on_cleanup(job, ok):
        if not ok:
            backend_process.stop()
        _connection_failed(job, ok)

    job = jobs.Job("start", "Start Backend", call=client.Call(wait_and_check), on_result=on_result,
                   on_cleanup=on_cleanup, url="")
    return jobs.start(job)


def stop_local_backend() -> None:
    backend_process.stop()
    CONNECTION.update(state="unknown", url="", version="", device="", models=[], error="")
