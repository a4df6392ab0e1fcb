"""The panel's model chooser per task (issue 15, item 7), the Retarget panel's Reference Pose (issue 16, item 2),
and the add-on refusing out-of-range frame rates and sizes before it sends anything (issue 15, item 12). The fake
backend lists several models per task, refuses unknown or unavailable ones like the real server, answers with the
model that served and records every request it received (``GET /fake/requests``)."""
import json
import urllib.request

import bpy
import pytest
from bl_helpers import fake_backend, key_poses, load_character, run_operator


def _received(srv) -> list:
    with urllib.request.urlopen(srv.url + "/fake/requests", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def connected(addon):
    """The add-on connected to the fake backend (its model list cached); the connection is forgotten after."""
    from blender_addon import tasks
    with fake_backend("--partials", "0") as srv:
        run_operator("connect", 30)
        yield srv
    tasks.CONNECTION.update(state="unknown", url="", models=[], error="")


def _generate(s, frames=12):
    s.prompt, s.duration_unit, s.duration_frames = "a person waves", "FRAMES", frames
    return run_operator("generate", 60)


def test_the_chooser_lists_the_tasks_available_models_after_connect(connected):
    from blender_addon import properties
    items = {t: [(i[0], i[1]) for i in properties.model_choices(t)] for t in ("text2motion", "inbetween", "retarget")}
    assert items["inbetween"] == [("ACTIVE", "Active Model (fake-lerp)"), ("fake-lerp", "fake-lerp (baseline)"),
                                  ("fake-learned", "fake-learned (baseline)")]  # fake-missing: not available
    assert [i[0] for i in items["text2motion"]] == ["ACTIVE", "fake-rest", "fake-retrieval"]
    assert [i[0] for i in items["retarget"]] == ["ACTIVE", "fake-rest"]
    s = bpy.context.scene.motionloom
    assert s.generate_model == "" and s.generate_model_choice == "ACTIVE"
    s.inbetween_model_choice = "fake-learned"
    assert s.inbetween_model == "fake-learned" and s.inbetween_model_choice == "fake-learned"
    s.inbetween_model_choice = "ACTIVE"
    assert s.inbetween_model == ""


def test_the_chooser_is_drawn_for_generate_and_inbetween_and_for_retarget_only_with_a_choice(connected):
    from blender_addon import ui
    drawn = []

    class Layout:
        def prop(self, data, name, **k):
            drawn.append(name)

    s = bpy.context.scene.motionloom
    for task, attr, only in (("text2motion", "generate_model", False), ("inbetween", "inbetween_model", False),
                             ("retarget", "retarget_model", True)):
        ui.draw_model_chooser(Layout(), s, task, attr, only_if_choice=only)
    assert drawn == ["generate_model_choice", "inbetween_model_choice"]  # retarget has one model on this backend


def test_generate_sends_the_chosen_model_and_says_which_served(connected):
    load_character()
    s = bpy.context.scene.motionloom
    job = _generate(s)
    assert "model fake-rest" in job.message
    s.generate_model_choice = "fake-retrieval"
    job = _generate(s)
    assert job.result.model == "fake-retrieval" and "model fake-retrieval" in job.message
    sent = _received(connected)
    assert "model" not in sent[0] and sent[1]["model"] == "fake-retrieval"
    take = bpy.data.actions[job.actions[0]]
    assert json.loads(take["motionloom_take"])["model"] == "fake-retrieval"


def test_an_out_of_vocabulary_prompt_is_said_in_the_status_line(connected):
    load_character()
    s = bpy.context.scene.motionloom
    job = _generate(s)
    assert "far from anything" not in job.message
    s.prompt = "the stock market closed higher today"
    job = run_operator("generate", 60)
    assert job.state == "done" and "Note: 'the stock market closed higher today' is far from anything" in job.message


def test_inbetween_sends_its_model_and_refuses_an_unavailable_one_before_sending(connected):
    arm = load_character()
    key_poses(arm)
    s = bpy.context.scene.motionloom
    s.inbetween_bones, s.inbetween_range = "ALL", "PREVIEW"
    s.inbetween_model_choice = "fake-learned"
    job = run_operator("inbetween", 60)
    assert "model fake-learned" in job.message and _received(connected)[-1]["model"] == "fake-learned"
    s.inbetween_model = "fake-missing"  # chosen on another backend, or before its weights went away
    assert s.inbetween_model_choice == "fake-missing"  # still shown, marked
    from blender_addon import properties
    listed = [i[:2] for i in properties.model_choices("inbetween", "fake-missing")]
    assert listed[-1] == ("fake-missing", "fake-missing (not available)")
    with pytest.raises(RuntimeError, match="'fake-missing' is not available on this backend"):
        bpy.ops.motionloom.inbetween()
    assert len(_received(connected)) == 1
    s.inbetween_model = "gone-model"  # not in the cached list at all: sent, and the backend's 422 is the sentence
    assert bpy.ops.motionloom.inbetween() == {"FINISHED"}
    from blender_addon import jobs
    job = jobs.run_until_idle(30)
    assert job.state == "error" and "no inbetween model named 'gone-model'" in job.message


def _retarget(src, tgt):
    bpy.context.view_layer.objects.active = tgt
    s = bpy.context.scene.motionloom
    s.source_type, s.source_armature = "ARMATURE", src
    return run_operator("retarget", 60)


@pytest.mark.parametrize("choice,frame,sent,used", [
    ("AUTO", 1, "auto", "rest pose (a T/A-pose)"),
    ("REST", 1, "rest", "rest pose"),
    ("TPOSE", 1, "tpose", "T-pose estimated from the skeleton"),
    ("FRAME", 11, 10, "frame 10 of the source"),  # source frames 1..21: frame 11 is its sample 10
])
def test_retarget_sends_the_reference_pose_and_shows_the_one_used(connected, choice, frame, sent, used):
    src = load_character(rename="src")
    key_poses(src, frames=(1, 11, 21), action_name="walk")
    tgt = load_character(rename="tgt")
    s = bpy.context.scene.motionloom
    s.retarget_reference, s.retarget_reference_frame = choice, frame
    job = _retarget(src, tgt)
    assert _received(connected)[-1]["source_reference"] == sent
    assert job.message.endswith(f"; reference pose: {used}") and "model fake-rest" in job.message


def test_a_reference_frame_is_counted_in_source_frames_within_the_range(connected):
    src = load_character(rename="src")
    key_poses(src, frames=(1, 11, 21), action_name="walk")
    tgt = load_character(rename="tgt")
    s = bpy.context.scene.motionloom
    s.retarget_use_range, s.retarget_frame_start, s.retarget_frame_end = True, 5, 21
    s.retarget_reference, s.retarget_reference_frame = "FRAME", 11
    _retarget(src, tgt)
    req = _received(connected)[-1]
    assert req["start_frame"] == 5 and req["source_reference"] == 6  # frame 11 is the 7th frame of 5..21
    s.retarget_reference_frame = 3  # before the range: refused in words, nothing sent
    bpy.context.view_layer.objects.active = tgt
    assert bpy.ops.motionloom.retarget() == {"FINISHED"}  # the source is read over several ticks first
    from blender_addon import jobs
    job = jobs.run_until_idle(30)
    assert job.state == "error" and "the reference frame 3 is outside the source frames being retargeted (5..21)" \
        in job.message
    assert len(_received(connected)) == 1


@pytest.mark.parametrize("fps,base", [(250, 1.0), (1, 2.0)])
def test_out_of_range_frame_rates_are_refused_before_sending(connected, fps, base):
    arm = load_character()
    key_poses(arm)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, base
    s = scene.motionloom
    s.prompt, s.duration_unit, s.duration_frames = "a person waves", "FRAMES", 12
    for op in ("generate", "inbetween"):
        with pytest.raises(RuntimeError, match=rf"the scene runs at {fps / base:g} fps, outside the 1-240 fps"):
            getattr(bpy.ops.motionloom, op)()
    s.source_type, s.source_armature = "ARMATURE", load_character(rename="other")
    bpy.context.view_layer.objects.active = arm
    with pytest.raises(RuntimeError, match="outside the 1-240 fps"):
        bpy.ops.motionloom.retarget()
    assert _received(connected) == []


def test_too_many_bone_frames_are_refused_before_sending(connected):
    arm = load_character()
    s = bpy.context.scene.motionloom
    s.prompt, s.duration_unit, s.duration_frames, s.variations = "a person waves", "FRAMES", 10_000, 8
    bones = len(arm.data.bones)
    with pytest.raises(RuntimeError, match=rf"10000 frames x {bones} bones x 8 variations = "
                                           rf"{10_000 * bones * 8:,} bone-frames, more than the backend's limit of "
                                           rf"2,000,000: ask for at most {2_000_000 // (bones * 8):,} frames"):
        bpy.ops.motionloom.generate()
    assert _received(connected) == []
