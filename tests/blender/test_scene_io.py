"""Reading rigs/keys/trajectories from real Blender data and writing actions back (no backend needed)."""
import bpy
import numpy as np
import pytest
from bl_helpers import POSE_BONES, key_poses, load_character, select_all_keys
from mathutils import Euler, Quaternion


def _motion(bones, parents, T, seed=0, start=1, fps=None):
    from blender_addon import wire
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(T, len(bones), 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = rng.normal(size=(T, 3)) * 0.1
    fps = fps or bpy.context.scene.render.fps
    return wire.Motion(list(bones), list(parents), float(fps), start, q.astype(np.float32), root.astype(np.float32),
                       "rig", bones[0])


def test_read_rig_matches_blender(addon):
    from backend.schema import RigSpec
    from blender_addon import rig_read
    arm = load_character()
    rig = rig_read.read_rig(arm)
    assert len(rig.bones) == 52 and rig.root_bone == "mixamorig:Hips"
    for i, b in enumerate(arm.data.bones):
        assert rig.bones[i] == b.name
        assert rig.parents[i] == (rig.bones.index(b.parent.name) if b.parent else -1)
        np.testing.assert_allclose(rig.rest_matrices[i], np.array(b.matrix_local), atol=1e-6)
        np.testing.assert_allclose(rig.tails[i], np.array(b.tail_local), atol=1e-6)
    spec = RigSpec.model_validate(rig.spec({"pelvis": "mixamorig:Hips"}))  # the backend's own validator
    np.testing.assert_allclose(spec.rest_matrices.numpy(), rig.rest_matrices, atol=0)


def test_write_action_converts_to_each_bones_rotation_mode(addon):
    from blender_addon import action_write, compat, rig_read
    arm = load_character()
    arm.pose.bones["mixamorig:LeftArm"].rotation_mode = "ZXY"
    arm.pose.bones["mixamorig:Head"].rotation_mode = "AXIS_ANGLE"
    rig = rig_read.read_rig(arm)
    m = _motion(rig.bones, rig.parents, 24)
    action, slot = action_write.write_motion_action(arm, m, "gen")
    compat.assign(arm, action, slot)
    assert arm.animation_data.action == action
    if compat.HAS_SLOTS:
        assert arm.animation_data.action_slot == slot
    coll = compat.fcurves(action, slot)
    assert len(coll) == 4 * 50 + 3 + 3 + 4  # 50 quaternion bones, one Euler (3), one axis-angle (4), root loc (3)
    assert all(len(fc.keyframe_points) == 24 for fc in coll)
    assert coll.find('pose.bones["mixamorig:LeftArm"].rotation_euler', index=0) is not None
    # evaluate the pose Blender shows and compare with the sent rotations (XYZW on the wire)
    for f in (1, 7, 24):
        bpy.context.scene.frame_set(f)
        for b in ("mixamorig:Spine", "mixamorig:LeftArm", "mixamorig:Head"):
            got = np.array(arm.pose.bones[b].matrix_basis.to_quaternion())
            want = m.rotations_xyzw[f - 1, rig.bones.index(b)][[3, 0, 1, 2]]
            assert abs(abs(np.dot(got, want)) - 1.0) < 1e-5, (b, f)
        np.testing.assert_allclose(np.array(arm.pose.bones["mixamorig:Hips"].location), m.root_translation[f - 1],
                                   atol=1e-6)


def test_written_quaternions_are_sign_continuous(addon):
    from blender_addon import action_write, compat, rig_read
    arm = load_character()
    rig = rig_read.read_rig(arm)
    m = _motion(rig.bones, rig.parents, 30)
    base = np.array(Quaternion((1, 0, 0), 0.3))
    q = np.tile(base[[1, 2, 3, 0]], (30, len(rig.bones), 1)).astype(np.float32)
    q[1::2] *= -1  # the same rotation with alternating signs: naive per-channel curves would spin
    m.rotations_xyzw = q
    action, slot = action_write.write_motion_action(arm, m, "flips")
    fc = [compat.fcurves(action, slot).find('pose.bones["mixamorig:Spine"].rotation_quaternion', index=c)
          for c in range(4)]
    vals = np.array([[f.evaluate(t) for f in fc] for t in range(1, 31)])
    assert np.all(np.sum(vals[1:] * vals[:-1], axis=1) > 0.99)


def test_inbetween_insert_keeps_artist_keys_bit_identical(addon):
    from blender_addon import action_write, compat, inbetween_write, key_read, wire
    arm = load_character()
    action = key_poses(arm, euler_bones=("mixamorig:LeftArm",))
    select_all_keys(arm)
    before = action_write.action_snapshot(action)
    keys = key_read.read_keys(arm, selected_keys=True)
    assert keys.frames == [1, 15, 30] and sorted(keys.bones) == sorted(POSE_BONES) and keys.root_bone == "mixamorig:Hips"
    # a dense result: keys exactly as sent, slerp-ish values between (computed here with mathutils)
    T = 30
    q = np.empty((T, len(keys.bones), 4), np.float32)
    for j in range(len(keys.bones)):
        for f in range(1, T + 1):
            k = 0 if f < 15 else 1
            a, b = keys.frames[k], keys.frames[k + 1]
            qa = Quaternion(keys.rotations_xyzw[k, j][[3, 0, 1, 2]])
            qb = Quaternion(keys.rotations_xyzw[k + 1, j][[3, 0, 1, 2]])
            s = qa.slerp(qb, (f - a) / (b - a))
            q[f - 1, j] = (s.x, s.y, s.z, s.w)
    loc = np.stack([np.interp(np.arange(1, T + 1), keys.frames, keys.root_translation[:, c]) for c in range(3)], 1)
    m = wire.Motion(keys.bones, [-1] * len(keys.bones), 24.0, 1, q, loc.astype(np.float32), "rig", keys.root_bone)
    plan = inbetween_write.plan_inbetween(arm, m, keys.bones, keys.frame_range)
    added = inbetween_write.apply_inbetween(arm, plan)
    # 6 quaternion bones x 4 channels + 1 Euler bone x 3 + hips location x 3, 27 new frames each
    assert added == (6 * 4 + 3 + 3) * 27
    after = action_write.action_snapshot(action)
    gen = bpy.types.Keyframe.bl_rna.properties["type"].enum_items["GENERATED"].value
    for key, snap in before.items():
        now = after[key]
        assert now["n"] == 30
        pos = np.searchsorted(now["co"][0::2], snap["co"][0::2])
        for field in action_write.KEY_FIELDS_F2:
            assert np.array_equal(now[field].reshape(-1, 2)[pos], snap[field].reshape(-1, 2)), (key, field)
        for field in action_write.KEY_FIELDS_ENUM + action_write.KEY_FIELDS_F + action_write.KEY_FIELDS_B:
            assert np.array_equal(now[field][pos], snap[field]), (key, field)
        new = np.setdiff1d(np.arange(30), pos)
        assert np.all(now["type"][new] == gen)
        np.testing.assert_array_equal(now["co"][0::2], np.arange(1, 31, dtype=np.float32))
    # the filled values are the result's, in the bone's own rotation mode
    coll = compat.fcurves(*compat.assigned(arm))
    for f in (5, 20):
        e = [coll.find('pose.bones["mixamorig:LeftArm"].rotation_euler', index=c).evaluate(f) for c in range(3)]
        got = np.array(Euler(e, "XYZ").to_quaternion())
        want = q[f - 1, keys.bones.index("mixamorig:LeftArm")][[3, 0, 1, 2]]
        assert abs(abs(np.dot(got, want)) - 1) < 1e-5
        w = [coll.find('pose.bones["mixamorig:Spine"].rotation_quaternion', index=c).evaluate(f) for c in range(4)]
        np.testing.assert_allclose(np.abs(np.dot(w, q[f - 1, keys.bones.index("mixamorig:Spine")][[3, 0, 1, 2]])), 1.0, atol=1e-5)


@pytest.mark.parametrize("fail", ["before", "after"])  # before touching the 5th curve, or after changing it
def test_apply_inbetween_is_all_or_nothing(addon, monkeypatch, fail):
    from blender_addon import action_write, inbetween_write, key_read, wire
    arm = load_character()
    action = key_poses(arm)
    keys = key_read.read_keys(arm)
    T = keys.frames[-1] - keys.frames[0] + 1
    q = np.repeat(keys.rotations_xyzw[:1], T, axis=0)
    m = wire.Motion(keys.bones, [-1] * len(keys.bones), 24.0, 1, q,
                    np.repeat(keys.root_translation[:1], T, axis=0), "rig", keys.root_bone)
    plan = inbetween_write.plan_inbetween(arm, m, keys.bones, keys.frame_range)
    before = action_write.action_snapshot(action)
    real, calls = inbetween_write.insert_keys, []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 5 and fail == "before":
            raise RuntimeError("disk full")
        out = real(*a, **k)
        if len(calls) == 5:
            raise RuntimeError("disk full")
        return out

    monkeypatch.setattr(inbetween_write, "insert_keys", flaky)
    with pytest.raises(RuntimeError):
        inbetween_write.apply_inbetween(arm, plan)
    assert len(calls) == 5
    assert action_write.snapshots_equal(before, action_write.action_snapshot(action))


def test_read_keys_reports_nan_and_missing_selection(addon):
    from blender_addon import channels, compat, key_read
    arm = load_character()
    action = key_poses(arm)
    with pytest.raises(channels.SceneError, match="no keyframes are selected"):
        select_all_keys(arm, False)
        key_read.read_keys(arm, selected_keys=True)
    with pytest.raises(channels.SceneError, match="no bone named 'nope'"):
        key_read.read_keys(arm, bones=["nope"])
    fc = compat.fcurves(action, compat.assigned(arm)[1]).find(
        'pose.bones["mixamorig:LeftArm"].rotation_quaternion', index=2)
    fc.keyframe_points[1].co.y = float("nan")
    with pytest.raises(channels.SceneError, match=r"mixamorig:LeftArm.*not a number at frame 15"):
        key_read.read_keys(arm)


def test_read_keys_converts_euler_keys(addon):
    from blender_addon import key_read
    arm = load_character()
    key_poses(arm, euler_bones=("mixamorig:RightArm",))
    keys = key_read.read_keys(arm)
    j = keys.bones.index("mixamorig:RightArm")
    for k, f in enumerate(keys.frames):
        bpy.context.scene.frame_set(f)
        want = np.array(arm.pose.bones["mixamorig:RightArm"].rotation_euler.to_quaternion())
        got = keys.rotations_xyzw[k, j][[3, 0, 1, 2]]
        assert abs(abs(np.dot(got, want)) - 1) < 1e-6
    assert keys.mask.shape == (3, len(POSE_BONES)) and keys.mask.all() and all(keys.root_mask)


def test_trajectory_from_curve_and_grease_pencil(addon):
    from blender_addon import channels, trajectories
    cu = bpy.data.curves.new("path", "CURVE")
    cu.dimensions = "3D"
    sp = cu.splines.new("BEZIER")
    sp.bezier_points.add(2)
    for i, bp in enumerate(sp.bezier_points):
        bp.co = (i * 2.0, (i % 2) * 1.5, 0.7)
        bp.handle_left_type = bp.handle_right_type = "AUTO"
    ob = bpy.data.objects.new("path", cu)
    ob.location = (1.0, -2.0, 0.5)
    bpy.context.scene.collection.objects.link(ob)
    pts = trajectories.sample_trajectory(ob, 60)
    assert pts.shape == (60, 3) and np.all(pts[:, 2] == 0)
    step = np.linalg.norm(np.diff(pts[:, :2], axis=0), axis=1)
    assert step.std() / step.mean() < 0.05  # evenly spaced along the path
    np.testing.assert_allclose(pts[0, :2], [1.0, -2.0], atol=1e-5)
    np.testing.assert_allclose(pts[-1, :2], [5.0, -2.0], atol=1e-5)
    n_objects, n_curves = len(bpy.data.objects), len(bpy.data.curves)
    cu.bevel_depth = 0.05  # a visible, tube-shaped path: still its centre line, and nothing left behind
    np.testing.assert_allclose(trajectories.sample_trajectory(ob, 60), pts, atol=1e-5)
    assert (len(bpy.data.objects), len(bpy.data.curves)) == (n_objects, n_curves)

    P = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], np.float32)
    v3 = hasattr(bpy.data, "grease_pencils_v3") or bpy.app.version >= (5, 0, 0)
    gp = getattr(bpy.data, "grease_pencils_v3", bpy.data.grease_pencils).new("stroke")  # v3 data from 4.3 on
    gob = bpy.data.objects.new("stroke", gp)
    bpy.context.scene.collection.objects.link(gob)
    layer = gp.layers.new("path")
    if v3:
        dr = layer.frames.new(bpy.context.scene.frame_current).drawing
        dr.add_strokes([4])
        dr.attributes["position"].data.foreach_set("vector", P.ravel())
    else:  # Blender 4.2: legacy Grease Pencil
        stroke = layer.frames.new(bpy.context.scene.frame_current).strokes.new()
        stroke.points.add(4)
        stroke.points.foreach_set("co", P.ravel())
    gpts = trajectories.sample_trajectory(gob, 31)
    np.testing.assert_allclose(gpts[[0, 10, 20, 30], :2], P[:, :2], atol=1e-5)  # 3 m path, 0.1 m per frame
    assert np.all(gpts[:, 2] == 0)
    with pytest.raises(channels.SceneError, match="curve or a Grease Pencil"):
        trajectories.sample_trajectory(bpy.data.objects.new("e", None), 10)


def test_import_motion_file_leaves_no_trace(addon, tmp_path):
    from blender_addon import channels, importers, key_read
    arm = load_character()
    key_poses(arm)
    bpy.context.view_layer.objects.active = arm
    path = tmp_path / "clip.bvh"
    bpy.ops.export_anim.bvh(filepath=str(path), frame_start=1, frame_end=30)
    counts = {k: len(getattr(bpy.data, k)) for k in ("objects", "actions", "armatures", "meshes", "materials")}
    rig, motion, name = importers.import_motion_file(str(path))
    assert name == "clip" and motion.num_frames == 30 and len(rig.bones) == 52
    assert {k: len(getattr(bpy.data, k)) for k in counts} == counts
    assert bpy.context.view_layer.objects.active == arm
    # the imported motion is the one we exported: the BVH rig's rest frames differ from the glTF rig's, but each
    # bone's pose rotation is the same rotation seen in another frame, so its angle must match frame by frame
    from blender_addon import compat
    own_rig, own = key_read.rig_motion(arm, *compat.assigned(arm), 1, 30)
    for b in POSE_BONES[1:]:
        qa = own.rotations_xyzw[:, own_rig.bones.index(b)]
        qb = motion.rotations_xyzw[:, rig.bones.index(b)]
        ang = lambda q: 2 * np.arccos(np.clip(np.abs(q[:, 3]), 0, 1))
        assert ang(qa).max() > 0.2
        np.testing.assert_allclose(ang(qb), ang(qa), atol=2e-3, err_msg=b)
    with pytest.raises(channels.SceneError, match="does not exist"):
        importers.import_motion_file(str(tmp_path / "missing.bvh"))


def test_quaternion_sign_continuity_matches_the_plain_loop(addon):
    """The vectorised hemisphere fix equals the obvious per-frame loop, anchors and reference included."""
    from blender_addon.channels import _continuous_signs

    def loop(q, reference, anchors):
        out, prev = q.copy(), reference
        for i in range(len(out)):
            r = anchors.get(i, prev)
            if r is not None and np.dot(out[i], r) < 0:
                out[i] = -out[i]
            prev = out[i]
        return out

    rng = np.random.default_rng(0)
    for t in range(100):
        n = int(rng.integers(1, 40))
        q = rng.normal(size=(n, 4))
        rows = rng.choice(n, size=int(rng.integers(0, min(n, 5) + 1)), replace=False)
        anchors = {int(i): rng.normal(size=4) for i in rows}
        ref = rng.normal(size=4) if t % 2 else None
        np.testing.assert_array_equal(_continuous_signs(q, ref, anchors), loop(q, ref, anchors))


def _with_channels(m, loc_bones, props=()):
    """``m`` plus location channels of ``loc_bones`` (distinct values per bone and frame) and properties."""
    from blender_addon import wire
    T = m.num_frames
    m.location_bones = list(loc_bones)
    m.locations = (np.arange(T * len(loc_bones) * 3, dtype=np.float32).reshape(T, len(loc_bones), 3) * 1e-3
                   + np.float32(0.05))
    m.properties = [wire.PoseBoneProperty(*p) for p in props]
    return m


def test_write_action_writes_location_bones_and_keys_properties(addon):
    from blender_addon import action_write, compat, rig_read
    arm = load_character()
    rig = rig_read.read_rig(arm)
    hand = arm.pose.bones["mixamorig:LeftHand"]
    hand["IK_FK"] = 0.0  # an existing switch
    m = _with_channels(_motion(rig.bones, rig.parents, 12, start=5), ["mixamorig:LeftHand", "mixamorig:RightFoot"],
                       [("mixamorig:LeftHand", "IK_FK", 1.0), ("mixamorig:Spine", "follow", 0.5)])
    action, slot = action_write.write_motion_action(arm, m, "gen")
    coll = compat.fcurves(action, slot)
    assert len(coll) == 4 * 52 + 3 + 2 * 3 + 2  # rotations, root location, two location bones, two properties
    for i, b in enumerate(m.location_bones):
        for c in range(3):
            fc = coll.find(f'pose.bones["{b}"].location', index=c)
            assert [k.co[0] for k in fc.keyframe_points] == list(range(5, 17))
            np.testing.assert_array_equal([k.co[1] for k in fc.keyframe_points], m.locations[:, i, c])
    fc = coll.find('pose.bones["mixamorig:LeftHand"]["IK_FK"]', index=0)
    assert fc is not None and [tuple(k.co) for k in fc.keyframe_points] == [(5.0, 1.0)]
    assert fc.group.name == "mixamorig:LeftHand"
    # nothing was assigned or set on the rig by writing the action
    assert arm.animation_data is None and hand["IK_FK"] == 0.0 and "follow" not in arm.pose.bones["mixamorig:Spine"]
    # once assigned (and the missing property created, as the add-on does on placing), Blender shows the channels
    action_write.set_properties(arm, m.properties, create_only=True)
    compat.assign(arm, action, slot)
    bpy.context.scene.frame_set(9)
    np.testing.assert_allclose(np.array(hand.location), m.locations[4, 0], atol=1e-7)
    assert hand["IK_FK"] == 1.0 and arm.pose.bones["mixamorig:Spine"]["follow"] == 0.5


def test_results_naming_unknown_bones_are_refused_before_writing(addon):
    from blender_addon import action_write, channels, rig_read
    arm = load_character()
    rig = rig_read.read_rig(arm)
    n_actions = len(bpy.data.actions)
    for loc, props in ((["Foot.L"], ()), ([], [("thigh_parent.L", "IK_FK", 1.0)])):
        m = _with_channels(_motion(rig.bones, rig.parents, 4), loc, props)
        with pytest.raises(channels.SceneError, match="does not have: '(Foot.L|thigh_parent.L)'"):
            action_write.write_motion_action(arm, m, "bad")
        assert len(bpy.data.actions) == n_actions


def test_properties_set_and_restored_exactly(addon):
    from blender_addon import action_write, wire
    arm = load_character()
    pb = arm.pose.bones
    pb["mixamorig:Hips"]["IK_FK"] = 0.25
    pb["mixamorig:Hips"]["steps"] = 3  # an int property keeps its type
    props = [wire.PoseBoneProperty("mixamorig:Hips", "IK_FK", 1.0), wire.PoseBoneProperty("mixamorig:Hips", "steps", 2),
             wire.PoseBoneProperty("mixamorig:Head", "head_follow", 1.0)]
    before = action_write.set_properties(arm, props)
    assert pb["mixamorig:Hips"]["IK_FK"] == 1.0 and pb["mixamorig:Hips"]["steps"] == 2
    assert isinstance(pb["mixamorig:Hips"]["steps"], int) and pb["mixamorig:Head"]["head_follow"] == 1.0
    action_write.restore_properties(arm, before)
    assert pb["mixamorig:Hips"]["IK_FK"] == 0.25 and pb["mixamorig:Hips"]["steps"] == 3
    assert "head_follow" not in pb["mixamorig:Head"]
    # create_only leaves existing values alone
    action_write.restore_properties(arm, action_write.set_properties(arm, props, create_only=True))
    assert pb["mixamorig:Hips"]["IK_FK"] == 0.25 and "head_follow" not in pb["mixamorig:Head"]


def test_read_keys_sends_location_keys_of_other_bones(addon):
    """Bones other than the root with location keys (an IK hand target, a foot) travel as location_bones, their
    key frames count, and NaN location keys are refused with the bone and frame."""
    from blender_addon import channels, compat, key_read
    arm = load_character()
    action = key_poses(arm, frames=(1, 15, 30))
    hand, foot = arm.pose.bones["mixamorig:LeftHand"], arm.pose.bones["mixamorig:RightFoot"]
    for f, v in ((1, 0.0), (10, 0.02), (30, 0.05)):  # frame 10: a location key only
        hand.location = (v, 2 * v, -v)
        hand.keyframe_insert("location", frame=f, group=hand.name)
    foot.location = (0.01, 0.0, 0.0)
    foot.keyframe_insert("location", index=0, frame=15, group=foot.name)  # one channel keyed once
    keys = key_read.read_keys(arm)
    assert keys.root_bone == "mixamorig:Hips" and keys.frames == [1, 10, 15, 30]
    assert sorted(keys.location_bones) == ["mixamorig:LeftHand", "mixamorig:RightFoot"]
    h, r = keys.location_bones.index("mixamorig:LeftHand"), keys.location_bones.index("mixamorig:RightFoot")
    np.testing.assert_allclose(keys.locations[[0, 1, 3], h], [[0, 0, 0], [0.02, 0.04, -0.02], [0.05, 0.1, -0.05]],
                               atol=1e-7)
    bpy.context.scene.frame_set(15)
    np.testing.assert_allclose(keys.locations[2, h], np.array(hand.location), atol=1e-6)  # Blender's own value
    np.testing.assert_allclose(keys.locations[:, r, 0], 0.01)  # a constant channel; the others at rest
    np.testing.assert_allclose(keys.locations[:, r, 1:], 0.0)
    j = keys.bones.index("mixamorig:LeftHand")
    assert keys.mask[:, j].tolist() == [1, 1, 0, 1]  # keyed by location on 1, 10, 30
    assert keys.mask[:, keys.bones.index("mixamorig:Spine")].tolist() == [1, 0, 1, 1]
    assert keys.root_mask == [True, False, True, True]
    spec = keys.spec()
    from backend.schema import KeySpec
    ks = KeySpec.model_validate(spec)  # the backend's own validator
    assert ks.location_bones == keys.location_bones and ks.locations.numpy().shape == (4, 2, 3)
    fc = compat.fcurves(action, compat.assigned(arm)[1]).find('pose.bones["mixamorig:LeftHand"].location', index=1)
    fc.keyframe_points[1].co.y = float("nan")
    with pytest.raises(channels.SceneError, match=r"mixamorig:LeftHand.*location key that is not a number at "
                                                   r"frame 10"):
        key_read.read_keys(arm)


def test_plan_inbetween_fills_location_bones_only_where_keyed(addon):
    from blender_addon import action_write, compat, inbetween_write, key_read, wire
    arm = load_character()
    action = key_poses(arm, frames=(1, 15, 30))
    hand = arm.pose.bones["mixamorig:LeftHand"]
    for f in (1, 30):
        hand.location = (0.01 * f, 0.0, 0.0)
        hand.keyframe_insert("location", index=0, frame=f, group=hand.name)  # X only
    keys = key_read.read_keys(arm)
    T = 30
    rows = np.searchsorted(keys.frames, np.arange(1, T + 1), side="right") - 1
    loc = keys.locations[rows].copy()
    loc[:, 0, 0] = np.linspace(0.01, 0.3, T)  # the "result": a ramp on the hand
    m = wire.Motion(keys.bones, [-1] * len(keys.bones), 24.0, 1, keys.rotations_xyzw[rows],
                    keys.root_translation[rows], "rig", keys.root_bone, keys.location_bones, loc)
    assert keys.location_bones == ["mixamorig:LeftHand"]
    before = action_write.action_snapshot(action)
    # in-betweening other bones leaves the hand's location alone
    only_spine = inbetween_write.plan_inbetween(arm, m, ["mixamorig:Spine"], keys.frame_range)
    assert {f.fc_path for f in only_spine.fills} == {'pose.bones["mixamorig:Spine"].rotation_quaternion'}
    plan = inbetween_write.plan_inbetween(arm, m, keys.bones, keys.frame_range)
    inbetween_write.apply_inbetween(arm, plan)
    coll = compat.fcurves(*compat.assigned(arm))
    fx = coll.find('pose.bones["mixamorig:LeftHand"].location', index=0)
    np.testing.assert_allclose([k.co[1] for k in fx.keyframe_points], np.linspace(0.01, 0.3, T), atol=1e-6)
    assert coll.find('pose.bones["mixamorig:LeftHand"].location', index=1) is None  # no curve created
    after = action_write.action_snapshot(action)
    for key, snap in before.items():  # the artist's keys: still there, bit for bit
        pos = np.searchsorted(after[key]["co"][0::2], snap["co"][0::2])
        assert np.array_equal(after[key]["co"].reshape(-1, 2)[pos], snap["co"].reshape(-1, 2)), key


def test_preview_restores_properties_a_partial_switched(addon):
    from blender_addon import action_write, rig_read
    from blender_addon import preview as preview_mod
    arm = load_character()
    artist = key_poses(arm)
    arm.pose.bones["mixamorig:Hips"]["IK_FK"] = 0.0
    rig = rig_read.read_rig(arm)
    m = _with_channels(_motion(rig.bones, rig.parents, 6), [], [("mixamorig:Hips", "IK_FK", 1.0),
                                                                ("mixamorig:Head", "head_follow", 1.0)])
    preview = preview_mod.Preview(arm)
    action_write.run_steps(preview.show_motion(m))
    assert arm.animation_data.action.name == preview_mod.PREVIEW_NAME
    assert arm.pose.bones["mixamorig:Hips"]["IK_FK"] == 1.0 and arm.pose.bones["mixamorig:Head"]["head_follow"] == 1.0
    action_write.run_steps(preview.show_motion(m))  # a second partial: still restores the artist's values
    bpy.context.scene.frame_set(3)
    preview.discard()
    assert arm.animation_data.action == artist and preview_mod.PREVIEW_NAME not in bpy.data.actions
    assert arm.pose.bones["mixamorig:Hips"]["IK_FK"] == 0.0 and "head_follow" not in arm.pose.bones["mixamorig:Head"]
