"""Failure modes, end to end through the operators and the pump: a backend that dies mid-stream, sends garbage,
is cancelled, or is not there at all; and bad input caught before anything is sent. In every case the artist's
scene must be exactly as before (keys compared field by field, assignment, no leftover preview action).

The backend here is ``fake_backend.py``, a scripted process speaking the same HTTP/SSE contract, because a real
backend cannot be made to crash after exactly N events on demand.
"""
import time

import bpy
import numpy as np
import pytest
from bl_helpers import fake_backend, key_poses, load_character, select_all_keys, use_backend


def _scene_state(arm):
    from blender_addon import action_write, compat
    action, slot = compat.assigned(arm)
    return {"action": action.name, "slot": slot.identifier if slot is not None else None,
            "fake_user": action.use_fake_user, "keys": action_write.action_snapshot(action),
            "actions": sorted(a.name for a in bpy.data.actions),
            "nla": [t.name for t in arm.animation_data.nla_tracks]}


def _assert_same(before, after):
    from blender_addon import action_write
    assert action_write.snapshots_equal(before["keys"], after["keys"])
    assert {k: v for k, v in before.items() if k != "keys"} == {k: v for k, v in after.items() if k != "keys"}


@pytest.fixture
def keyed():
    arm = load_character()
    key_poses(arm)
    select_all_keys(arm)
    return arm


@pytest.mark.parametrize("op", ["inbetween", "generate"])
def test_backend_killed_mid_stream_leaves_scene_identical(addon, keyed, op):
    from blender_addon import jobs
    before = _scene_state(keyed)
    seen_preview = []
    # queued, started, partial 1 (shown as a preview), then the process exits before partial 2
    with fake_backend("--partials", "3", "--die-after", "3", "--step-delay", "0.3"):
        assert getattr(bpy.ops.motionloom, op)() == {"FINISHED"}
        job = jobs.active()
        while job.running:
            jobs.pump()
            seen_preview.append("MotionLoom Preview" in bpy.data.actions)
            time.sleep(0.01)
    assert any(seen_preview), "the partial result was never previewed"
    assert job.state == "error"
    assert "stopped in the middle of the job" in job.message and "Nothing was written" in job.message
    _assert_same(before, _scene_state(keyed))


def test_garbage_event_is_a_clear_error(addon, keyed):
    from blender_addon import jobs
    before = _scene_state(keyed)
    with fake_backend("--garbage-after", "2"):
        bpy.ops.motionloom.inbetween()
        job = jobs.run_until_idle(30)
    assert job.state == "error" and "not valid JSON" in job.message
    _assert_same(before, _scene_state(keyed))


def test_cancel_mid_stream_restores_everything(addon, keyed):
    from blender_addon import jobs
    before = _scene_state(keyed)
    with fake_backend("--partials", "50", "--step-delay", "0.05"):
        bpy.ops.motionloom.generate()
        job = jobs.active()
        while "MotionLoom Preview" not in bpy.data.actions:
            jobs.pump()
            time.sleep(0.01)
        assert keyed.animation_data.action.name == "MotionLoom Preview"
        assert bpy.ops.motionloom.cancel() == {"FINISHED"}
    assert job.state == "cancelled" and "nothing was written" in job.message
    assert jobs.pump() is None  # the timer stops
    _assert_same(before, _scene_state(keyed))


def test_backend_down_is_a_clear_error(addon, keyed):
    import socket

    from blender_addon import jobs
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    use_backend(f"http://127.0.0.1:{port}")
    before = _scene_state(keyed)
    bpy.ops.motionloom.inbetween()
    job = jobs.run_until_idle(30)
    assert job.state == "error" and "nothing is listening" in job.message
    _assert_same(before, _scene_state(keyed))


def test_bad_input_is_refused_before_sending(addon, keyed):
    from blender_addon import channels, compat, tasks, wire
    s = bpy.context.scene.motionloom
    before = _scene_state(keyed)
    with fake_backend():
        s.duration_unit, s.duration_frames = "FRAMES", 50_000
        with pytest.raises(wire.WireError, match="more than the backend's limit"):
            tasks.start_generate(bpy.context, keyed)
        with pytest.raises(RuntimeError, match="more than the backend's limit"):  # the operator's error report
            bpy.ops.motionloom.generate()
        s.duration_frames = 60
        s.prompt = "   "
        with pytest.raises(wire.WireError, match="the prompt is empty"):
            tasks.start_generate(bpy.context, keyed)
        s.prompt = "a person jumps"
        it = keyed.data.motionloom_bone_map.add()
        it.canonical, it.bone = "left_knee", "NoSuchBone"
        with pytest.raises(channels.SceneError, match="'NoSuchBone', which is not a bone"):
            tasks.start_generate(bpy.context, keyed)
        keyed.data.motionloom_bone_map.clear()
        s.targets.add().empty = bpy.data.objects.new("target", None)
        s.targets[0].frame = 500
        with pytest.raises(channels.SceneError, match="outside the generated frames"):
            tasks.start_generate(bpy.context, keyed)
        s.targets.clear()
        fc = compat.fcurves(*compat.assigned(keyed)).find('pose.bones["mixamorig:Head"].rotation_quaternion', index=0)
        saved = fc.keyframe_points[2].co.y
        fc.keyframe_points[2].co.y = float("nan")
        with pytest.raises(RuntimeError, match="not a number"):
            bpy.ops.motionloom.inbetween()
        with pytest.raises(channels.SceneError, match="mixamorig:Head.*not a number at frame 30"):
            tasks.start_inbetween(bpy.context, keyed)
        fc.keyframe_points[2].co.y = saved
    _assert_same(before, _scene_state(keyed))


def test_request_rejected_by_the_backend_reads_as_words(addon):
    """HTTP 422 with the backend's error body becomes one readable sentence, not a traceback."""
    from blender_addon import client, wire
    with fake_backend() as srv:
        b = client.Backend(srv.url)
        keys = wire.key_spec([1, 5], ["a"], np.tile([0, 0, 0, 1.0], (2, 1, 1)), np.zeros((2, 3)))
        req = wire.inbetween_request(keys, 30.0, frame_range=(9, 3))
        with pytest.raises(client.BackendError, match="rejected the request.*frame_range end 3 is before its start 9"):
            b.submit(req)


def test_result_waits_while_the_artist_is_in_edit_mode(addon, keyed):
    """A result arriving in Edit Mode is held (writing then would be lost with the edit-mode undo) and applied
    once the artist leaves Edit Mode."""
    from blender_addon import jobs
    with fake_backend("--partials", "0"):
        bpy.ops.motionloom.inbetween()
        job = jobs.active()
        bpy.ops.object.mode_set(mode="EDIT")
        for _ in range(400):
            jobs.pump()
            if "leave Edit Mode" in job.message:
                break
            time.sleep(0.01)
        assert job.running and "leave Edit Mode" in job.message
        from blender_addon import compat
        assert {len(fc.keyframe_points) for fc in compat.fcurves(*compat.assigned(keyed))} == {3}  # not yet
        bpy.ops.object.mode_set(mode="POSE")
        jobs.run_until_idle(30)
    assert job.state == "done" and job.keys_added > 0


def test_remote_backend_needs_online_access(addon, keyed):
    from blender_addon import preferences
    prefs = preferences.get()
    prefs.mode, prefs.remote_url = "REMOTE", "http://gpu-box.example:8000"
    assert not bpy.app.online_access  # background Blender is offline by default
    with pytest.raises(RuntimeError, match="not on this computer and Blender is in offline mode"):
        bpy.ops.motionloom.connect()


def test_cancel_while_the_result_is_being_written_removes_it(addon, keyed):
    """A large result is written over several ticks into an unassigned action; cancelling in between leaves no
    trace of it."""
    from blender_addon import jobs
    before = _scene_state(keyed)
    with fake_backend("--partials", "0"):
        bpy.ops.motionloom.generate()
        job = jobs.active()
        while job.finishing is None:
            jobs.pump()
            time.sleep(0.01)
        jobs.pump()  # one more slice: the new action exists, half written
        assert "a person walks forward" in bpy.data.actions
        assert keyed.animation_data.action.name == "artist"  # not assigned while it is being written
        assert jobs.cancel()
    assert job.state == "cancelled"
    _assert_same(before, _scene_state(keyed))


SWITCHES = ("--switch", "mixamorig:Hips:IK_FK=1", "--switch", "mixamorig:Head:head_follow=1")


def _switches(arm):
    pb = arm.pose.bones
    return pb["mixamorig:Hips"].get("IK_FK"), pb["mixamorig:Head"].get("head_follow")


@pytest.mark.parametrize("outcome", ["killed", "cancelled"])
def test_switches_set_by_a_preview_are_put_back(addon, keyed, outcome):
    """A partial result that switches pose-bone properties (Rigify's IK/FK) is previewed with them; if the job
    then dies or is cancelled, the rig's properties are exactly as before (values back, created ones gone)."""
    from blender_addon import jobs
    keyed.pose.bones["mixamorig:Hips"]["IK_FK"] = 0.0
    before = _scene_state(keyed)
    args = ("--die-after", "3", "--step-delay", "0.3") if outcome == "killed" else ("--step-delay", "0.05")
    with fake_backend("--partials", "50", *SWITCHES, *args):
        bpy.ops.motionloom.generate()
        job = jobs.active()
        switched = False
        while job.running:
            jobs.pump()
            if "MotionLoom Preview" in bpy.data.actions and _switches(keyed) == (1.0, 1.0):
                switched = True
                if outcome == "cancelled":
                    assert bpy.ops.motionloom.cancel() == {"FINISHED"}
            time.sleep(0.01)
    assert switched, "the preview never showed the switches"
    assert job.state == ("error" if outcome == "killed" else "cancelled")
    assert _switches(keyed) == (0.0, None)
    _assert_same(before, _scene_state(keyed))


def test_generated_switches_are_keyed_in_the_new_action_only(addon, keyed):
    from blender_addon import action_write, compat, jobs
    keyed.pose.bones["mixamorig:Hips"]["IK_FK"] = 0.0
    artist = keyed.animation_data.action
    before = action_write.action_snapshot(artist)
    with fake_backend("--partials", "1", *SWITCHES):
        bpy.ops.motionloom.generate()
        job = jobs.run_until_idle(30)
    assert job.state == "done", job.message
    new = bpy.data.actions[job.actions[0]]
    coll = compat.fcurves(new, compat.assigned(keyed)[1])
    for path in ('pose.bones["mixamorig:Hips"]["IK_FK"]', 'pose.bones["mixamorig:Head"]["head_follow"]'):
        fc = coll.find(path, index=0)
        assert [tuple(k.co) for k in fc.keyframe_points] == [(bpy.context.scene.frame_start, 1.0)]
    assert _switches(keyed) == (1.0, 1.0)
    assert action_write.snapshots_equal(before, action_write.action_snapshot(artist))  # the artist's action: no switch
