"""Retargeting stands the character on its floor (issue 15, item 1): a BVH hangs its skeleton around the origin
(CMU: the hips' rest head at z=0, the feet below it), so the floor of every rig in a retarget request is sent
explicitly; the result's feet touch the target's floor, whatever the source."""
import bpy
import numpy as np
import pytest
from bl_helpers import BACKEND_DIR, Server, load_character, real_backend_cmd, run_operator, use_backend
from test_blender_rig_channels import CMU_WALK, HAS_SERVER, need


@pytest.fixture(scope="module")
def server():
    if not HAS_SERVER:
        pytest.skip("the backend service is not in this checkout")
    srv = Server(real_backend_cmd(), cwd=BACKEND_DIR)
    yield srv
    srv.stop()


def _lowest_foot(arm, frames) -> float:
    """Lowest world height of the feet and toes (heads and tails) over ``frames`` (evaluated by Blender)."""
    names = [b.name for b in arm.pose.bones if any(k in b.name.lower() for k in ("foot", "toe"))]
    mw = np.array(arm.matrix_world)
    low = np.inf
    for f in frames:
        bpy.context.scene.frame_set(int(f))
        for n in names:
            pb = arm.pose.bones[n]
            for p in (pb.head, pb.tail):
                low = min(low, float((mw @ np.array([*p, 1.0]))[2]))
    return low


@pytest.mark.parametrize("lift", [0.0, 0.75])
def test_retarget_from_bvh_stands_on_the_floor(addon, server, lift):
    need(CMU_WALK)
    use_backend(server.url)
    arm = load_character()
    arm.location.z = lift  # the character stands on a platform: its floor is where its feet are at rest
    bpy.context.view_layer.update()
    rest_low = _lowest_foot(arm, [bpy.context.scene.frame_current])
    s = bpy.context.scene.motionloom
    s.source_type, s.source_file = "FILE", str(CMU_WALK)
    job = run_operator("retarget", 240)
    m = job.result.motions[0]
    low = _lowest_foot(arm, np.linspace(m.start_frame, m.start_frame + m.num_frames - 1, 25).round())
    print(f"lift {lift}: rest feet {rest_low:.3f}, lowest foot over the clip {low:.3f}")
    assert abs(low - rest_low) < 0.05, f"the feet are {100 * (low - rest_low):.1f} cm off the floor"


def test_source_floor_fk_matches_blenders_own_pose(addon):
    """The add-on's numpy forward kinematics (used to find a source's floor) puts every bone head where Blender's
    evaluated pose has it, on a rig with arbitrary rotations and a moved root."""
    from blender_addon import channels, rig_read
    arm = load_character()
    arm.location = (0.3, -0.2, 0.5)
    arm.rotation_euler = (0.0, 0.0, 0.7)
    rng = np.random.default_rng(3)
    B = len(arm.pose.bones)
    names = [b.name for b in arm.data.bones]
    q = rng.normal(size=(B, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    for j, n in enumerate(names):
        arm.pose.bones[n].rotation_mode = "QUATERNION"
        arm.pose.bones[n].rotation_quaternion = q[j]
    arm.pose.bones[names[0]].location = (0.1, 0.2, -0.3)
    bpy.context.view_layer.update()
    rig = rig_read.read_rig(arm)
    heads = channels.pose_heads(rig.rest_matrices, rig.parents, q[None], {0: np.array([[0.1, 0.2, -0.3]])})[0]
    want = np.array([arm.pose.bones[n].head for n in names])
    assert np.abs(heads - want).max() < 1e-5
    low = channels.lowest_height(rig.rest_matrices, rig.parents, q[None], {0: np.array([[0.1, 0.2, -0.3]])},
                                 rig.matrix_world)
    assert abs(low - min((arm.matrix_world @ arm.pose.bones[n].head).z for n in names)) < 1e-5
