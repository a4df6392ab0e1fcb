"""What artists expect of the retargeting panel (issue 15, items 6 and 7): a long source is read in slices before
the job starts (never one long freeze), with the bulk path for baked curves; frame range, in-place, bone-map
presets in a file, the history of takes and the joint-target dropdown."""
import json
import time

import bpy
import numpy as np
import pytest
from bl_helpers import fake_backend, load_character, run_operator
from mathutils import Quaternion


def _source(frames=1500, every=10, name="src"):
    """A character with a long, sparsely keyed walk (keys every ``every`` frames on every bone: evaluating
    between keys is what costs)."""
    arm = load_character(rename=name)
    rng = np.random.default_rng(5)
    for f in range(1, frames + 1, every):
        for pb in arm.pose.bones:
            axis = rng.normal(size=3)
            pb.rotation_quaternion = Quaternion(axis / np.linalg.norm(axis), 0.3)
            pb.keyframe_insert("rotation_quaternion", frame=f)
        hips = arm.pose.bones["mixamorig:Hips"]
        hips.location = (0.01 * f, 0.02 * f, 0.05 * np.sin(f))
        hips.keyframe_insert("location", frame=f)
    arm.animation_data.action.name = f"{name} walk"
    return arm


def _start_retarget(src, tgt):
    from blender_addon import jobs
    s = bpy.context.scene.motionloom
    s.source_type, s.source_armature = "ARMATURE", src
    bpy.context.view_layer.objects.active = tgt
    assert bpy.ops.motionloom.retarget() == {"FINISHED"}
    return jobs.active()


def _prepare(job) -> int:
    """Pump until the job has read its source and started its stream; returns the ticks it took."""
    from blender_addon import jobs
    ticks = 0
    while job.prepare is not None:
        jobs.pump()
        ticks += 1
    return ticks


def test_a_long_source_is_read_in_slices_and_equals_the_one_shot_read(addon):
    from blender_addon import compat, jobs, key_read, wire
    src = _source()
    tgt = load_character(rename="tgt")
    with fake_backend("--partials", "0"):
        job = _start_retarget(src, tgt)
        assert job.stream is None  # nothing sent yet: the operator itself read nothing of the source
        ticks = _prepare(job)
        sent = job.stream.request["source"]
        _, whole = key_read.rig_motion(src, *compat.assigned(src), 1, 1491)
        done = jobs.run_until_idle(60)
    assert ticks > 3  # several slices, each one tick
    np.testing.assert_array_equal(wire.decode_array(sent["rotations"]), whole.rotations_xyzw)
    np.testing.assert_array_equal(wire.decode_array(sent["root_translation"]), whole.root_translation)
    assert done.state == "done", done.message


def test_baked_curves_are_read_in_bulk_exactly(addon):
    from blender_addon import key_read
    arm = load_character()
    pb = arm.pose.bones["mixamorig:Spine"]
    for f in range(1, 41):  # a key on every frame, Bezier (baked)
        pb.rotation_quaternion = Quaternion((0, 0, 1), 0.05 * f * f)
        pb.keyframe_insert("rotation_quaternion", frame=f)
    fc = arm.animation_data.action.layers[0].strips[0].channelbags[0].fcurves[1] if hasattr(
        arm.animation_data.action, "layers") else arm.animation_data.action.fcurves[1]
    frames = np.arange(1, 41, dtype=np.float64)
    want = np.array([fc.evaluate(f) for f in frames])
    np.testing.assert_array_equal(key_read.sample_curve(fc, frames), want)
    half = np.arange(1, 40, 0.5)  # between keys: evaluated, not read
    np.testing.assert_array_equal(key_read.sample_curve(fc, half), [fc.evaluate(f) for f in half])


def test_frame_range_and_in_place(addon):
    from blender_addon import rig_read, wire
    src = _source(frames=200, every=5)
    src.rotation_euler.z = 0.6  # a turned source: "in place" is about the ground, not the bone's axes
    tgt = load_character(rename="tgt")
    s = bpy.context.scene.motionloom
    s.retarget_use_range, s.retarget_frame_start, s.retarget_frame_end = True, 20, 80
    s.retarget_in_place = True
    with fake_backend("--partials", "0"):
        job = _start_retarget(src, tgt)
        _prepare(job)
        sent = job.stream.request
        job.stream.cancel()
    src_spec = sent["source"]
    assert sent["start_frame"] == 20 and wire.decode_array(src_spec["rotations"]).shape[0] == 61
    loc = wire.decode_array(src_spec["root_translation"])
    rig = rig_read.read_rig(src)
    world = loc.astype(np.float64) @ rig.root_turn().T
    assert np.ptp(world[:, :2], axis=0).max() < 1e-5  # no travel over the ground
    assert np.ptp(world[:, 2]) > 0.05  # the height still moves as the source's does


def test_bone_map_presets_save_and_load(addon, tmp_path):
    from blender_addon import presets
    a = load_character(rename="a")
    for c, b in (("pelvis", "mixamorig:Hips"), ("left_hip", "mixamorig:LeftUpLeg"), ("head", "mixamorig:Head")):
        it = a.data.motionloom_bone_map.add()
        it.canonical, it.bone, it.confidence = c, b, 0.8
    path = tmp_path / "presets" / "mixamo.json"
    bpy.context.view_layer.objects.active = a
    assert bpy.ops.motionloom.bone_map_save(filepath=str(path)) == {"FINISHED"}
    assert json.loads(path.read_text())["map"][2] == {"canonical": "head", "bone": "mixamorig:Head",
                                                      "confidence": 0.8}
    b = load_character(rename="b")
    with bpy.context.temp_override(active_object=b):
        b.data.bones["mixamorig:Head"].name = "HeadRenamed"
    bpy.context.view_layer.objects.active = b
    assert bpy.ops.motionloom.bone_map_load(filepath=str(path)) == {"FINISHED"}
    rows = [(it.canonical, it.bone) for it in b.data.motionloom_bone_map]
    assert rows == [("pelvis", "mixamorig:Hips"), ("left_hip", "mixamorig:LeftUpLeg"), ("head", "")]
    assert presets.load_bone_map(b, str(path))[1] == ["mixamorig:Head"]
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="cannot read the bone map preset"):
        bpy.ops.motionloom.bone_map_load(filepath=str(tmp_path / "broken.json"))
    assert len(b.data.motionloom_bone_map) == 3  # a broken file changes nothing


def test_takes_history_and_use_take(addon):
    from blender_addon import compat, presets
    arm = load_character()
    s = bpy.context.scene.motionloom
    s.duration_unit, s.duration_frames = "FRAMES", 12
    with fake_backend("--partials", "0"):
        s.prompt = "first take"
        first = run_operator("generate", 60).actions[0]
        time.sleep(0.01)
        s.prompt = "second take"
        second = run_operator("generate", 60).actions[0]
    history = presets.takes(arm)
    assert {a.name for a, _ in history} == {first, second}
    assert {i["what"] for _, i in history} == {"first take", "second take"}
    assert compat.assigned(arm)[0].name == second
    assert bpy.ops.motionloom.take_use(action=first) == {"FINISHED"}
    assert compat.assigned(arm)[0].name == first


def test_joint_target_joint_is_a_dropdown(addon):
    from blender_addon import wire
    arm = load_character()
    bpy.context.view_layer.objects.active = arm
    t = bpy.context.scene.motionloom.targets.add()
    t.joint_choice = "left_wrist"
    assert t.joint == "left_wrist"
    t.joint_choice = "mixamorig:RightHand"  # a bone of the active armature is offered too
    assert t.joint == "mixamorig:RightHand" and t.joint_choice == "mixamorig:RightHand"
    with pytest.raises(TypeError):
        t.joint_choice = "no_such_joint"
    t.joint = "right_wrist"
    assert t.joint_choice == "right_wrist" and "right_wrist" in wire.CANONICAL_JOINTS


def test_wire_canonical_joints_equal_the_backends():
    pytest.importorskip("smplx")
    from backend.motion.skeleton import CANONICAL_JOINTS
    from blender_addon import wire
    assert wire.CANONICAL_JOINTS == CANONICAL_JOINTS


def test_bvh_read_without_the_importer_matches_blenders_import(addon):
    """A BVH source is parsed in a worker thread onto a world-aligned rig (no Blender data made, nothing heavy on
    the main thread); its joints move exactly as on the armature Blender's own importer builds."""
    from test_blender_rig_channels import CMU_WALK, need

    from blender_addon import channels, compat, importers, key_read
    path = str(need(CMU_WALK))
    rig, motion, _ = action_steps(importers.read_bvh_steps(path))
    assert motion.fps == pytest.approx(30.0, rel=1e-4) and motion.num_frames == 86  # the committed cut of 02_01
    bpy.context.scene.render.fps = 30  # one scene frame per BVH frame for Blender's import
    bpy.ops.import_anim.bvh(filepath=path, rotate_mode="QUATERNION", update_scene_fps=False,
                            update_scene_duration=False, use_fps_scale=False)
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    action, slot = compat.assigned(arm)
    own_rig, own = key_read.rig_motion(arm, action, slot or action.slots[0], 1, 86)

    def world_heads(r, m):
        index = {b: j for j, b in enumerate(r.bones)}
        locs = {index[m.root_bone]: m.root_translation}
        for i, b in enumerate(m.location_bones):
            locs[index[b]] = m.locations[:, i]
        h = channels.pose_heads(r.rest_matrices, r.parents, m.rotations_xyzw[..., [3, 0, 1, 2]], locs)
        mw = np.asarray(r.matrix_world, np.float64)
        return {b: h[:, j] @ mw[:3, :3].T + mw[:3, 3] for b, j in index.items()}

    ours, blenders = world_heads(rig, motion), world_heads(own_rig, own)
    assert set(ours) == set(blenders)
    err = max(np.abs(ours[b] - blenders[b]).max() for b in ours)
    assert err < 1e-4  # 7.4e-6 BVH units here (the walk spans about 50)
    assert rig.floor == pytest.approx(own_rig.floor, abs=1e-3)


def action_steps(gen):
    from blender_addon import action_write
    return action_write.run_steps(gen)


def test_current_pose_as_rest(addon):
    """With "Current Pose as Rest" the target's pose is sent as its rest, and a result solved against it lands back
    on the real rest: the fake backend answers with that "rest" (identity channels), so the written action must
    hold exactly the pose the artist set up."""
    from blender_addon import compat, jobs, wire
    src = _source(frames=40, every=5)
    tgt = load_character(rename="tgt")
    rng = np.random.default_rng(11)
    posed = {}
    for name in ("mixamorig:LeftArm", "mixamorig:RightArm", "mixamorig:Spine", "mixamorig:LeftUpLeg"):
        axis = rng.normal(size=3)
        q = Quaternion(axis / np.linalg.norm(axis), 0.7)
        tgt.pose.bones[name].rotation_quaternion = q
        posed[name] = np.array(q)
    tgt.pose.bones["mixamorig:Hips"].location = (0.05, -0.1, 0.02)
    bpy.context.view_layer.update()
    pose_matrix = np.array(tgt.pose.bones["mixamorig:LeftArm"].matrix)
    bpy.context.scene.motionloom.retarget_pose_as_rest = True
    with fake_backend("--partials", "0"):
        job = _start_retarget(src, tgt)
        _prepare(job)
        sent = job.stream.request["target_rig"]
        job = jobs.run_until_idle(60)
    assert job.state == "done", job.message
    bones = sent["bones"]
    rest = wire.decode_array(sent["rest_matrices"])
    np.testing.assert_allclose(rest[bones.index("mixamorig:LeftArm")], pose_matrix, atol=1e-6)
    act, slot = compat.assigned(bpy.data.objects["tgt"])
    coll = compat.fcurves(act, slot)
    for name, q in posed.items():
        got = np.array([coll.find(f'pose.bones["{name}"].rotation_quaternion', index=c).evaluate(10) for c in range(4)])
        assert abs(abs(float(np.dot(got, q))) - 1.0) < 1e-5, name
    loc = [coll.find('pose.bones["mixamorig:Hips"].location', index=c).evaluate(10) for c in range(3)]
    np.testing.assert_allclose(loc, (0.05, -0.1, 0.02), atol=1e-5)


def test_bad_source_is_refused_by_the_operator(addon):
    from bl_helpers import use_backend

    from blender_addon import jobs
    use_backend("http://127.0.0.1:9")  # never reached: the source is checked first
    tgt = load_character(rename="tgt")
    s = bpy.context.scene.motionloom
    s.source_type, s.source_armature = "ARMATURE", None
    bpy.context.view_layer.objects.active = tgt
    with pytest.raises(RuntimeError, match="choose a source armature"):
        bpy.ops.motionloom.retarget()
    s.source_type, s.source_file = "FILE", "/nonexistent/walk.bvh"
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.motionloom.retarget()
    assert jobs.active() is None and "MotionLoom Preview" not in bpy.data.actions
