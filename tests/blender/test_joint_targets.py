"""Joint targets report their error measured on the rig, in the scene's units (issue 15, item 2): the distance
between the joint's bone head, as Blender evaluates the written result, and the empty."""
import bpy
import numpy as np
import pytest
from bl_helpers import fake_backend, load_character, run_operator


def _add_target(arm, joint, frame, offset):
    s = bpy.context.scene.motionloom
    empty = bpy.data.objects.new(f"target {joint}", None)
    bpy.context.scene.collection.objects.link(empty)
    bone = "mixamorig:RightHand" if joint in ("right_wrist", "mixamorig:RightHand") else "mixamorig:LeftFoot"
    empty.location = arm.matrix_world @ arm.pose.bones[bone].head + offset
    t = s.targets.add()
    t.joint, t.empty, t.frame = joint, empty, frame
    return empty


@pytest.mark.parametrize("scale", [1.0, 3.2])
def test_joint_target_error_is_measured_on_the_rig(addon, scale):
    from mathutils import Vector
    arm = load_character()
    arm.scale = (scale, scale, scale)  # a big rig: the error is in its (world) units, not canonical metres
    bpy.context.view_layer.update()
    row = arm.data.motionloom_bone_map.add()
    row.canonical, row.bone, row.confidence = "right_wrist", "mixamorig:RightHand", 1.0
    s = bpy.context.scene.motionloom
    s.duration_unit, s.duration_frames = "FRAMES", 20
    _add_target(arm, "right_wrist", 5, Vector((0.1, 0.0, 0.2)))  # canonical name, through the rig's bone map
    _add_target(arm, "mixamorig:LeftFoot", 12, Vector((0.0, 0.03, 0.0)))  # a bone of the rig
    with fake_backend("--partials", "0"):  # the fake's result is the rest pose: the errors are the offsets
        job = run_operator("generate", 60)
    errors = {j: (b, f, d) for j, b, f, d in job.target_errors}
    assert errors["right_wrist"][0] == "mixamorig:RightHand"
    assert abs(errors["right_wrist"][2] - np.hypot(0.1, 0.2)) < 1e-5
    assert abs(errors["mixamorig:LeftFoot"][2] - 0.03) < 1e-5
    assert "joint targets within 22.4 cm on the rig (worst: right_wrist on frame 5)" in job.message
    assert bpy.context.scene.frame_current == 1  # the measurement put the frame back


def test_joint_target_error_without_units(addon):
    from mathutils import Vector
    arm = load_character()
    bpy.context.scene.unit_settings.system = "NONE"
    s = bpy.context.scene.motionloom
    s.duration_unit, s.duration_frames = "FRAMES", 10
    _add_target(arm, "mixamorig:RightHand", 3, Vector((0.0, 0.0, 0.5)))
    with fake_backend("--partials", "0"):
        job = run_operator("generate", 60)
    assert "joint targets within 0.5 units on the rig" in job.message
