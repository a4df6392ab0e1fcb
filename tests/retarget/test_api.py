"""rig <-> canonical through the API: round trips, rest-pose alignment, units and axes, rolls, quaternion order,
hips translation, contact cleanup, control rigs, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from retarget_helpers import DATA, FIXTURES, load_rig_cached, need

from backend.motion.motion import Motion, MotionError
from backend.motion.rotations import np_euler_to_quat, np_quat_angle, np_quat_to_matrix, wxyz_to_xyzw, xyzw_to_wxyz
from backend.motion.skeleton import CANONICAL, CANONICAL_JOINTS
from backend.retarget.api import MAX_FRAMES, RigPose, from_canonical, prepare, source_contacts, to_canonical
from backend.retarget.bonemap import BoneMap
from backend.retarget.rig import Rig, RigError
from backend.retarget.rig_files import bvh_rig_and_pose
from backend.retarget.transfer import RetargetError

_CLIP = {}


def walk_clip() -> Motion:
    """CMU 02_01 (walk), brought to the canonical skeleton, 30 fps, grounded (cached)."""
    if "walk" not in _CLIP:
        rig, pose = bvh_rig_and_pose(need(DATA / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh"), fps=30.0)
        _CLIP["walk"] = to_canonical(rig, pose).motion.grounded()
    return _CLIP["walk"]


def angles_deg(a: Motion, b: Motion) -> np.ndarray:
    return np.degrees(np_quat_angle(a.rotations, b.rotations))


ROUND_TRIP_RIGS = ["canonical", "anny_characters/anny_mixamo_child.glb", "anny_characters/anny_cmu_mb_heavy_f.glb",
                   "vrm_humanoid_fixture/VRMC_vrm_expressions_isBinary_Overrides.vrm",
                   "tests/fixtures/rigs/quaternius_robot.json"]


@pytest.mark.parametrize("rel", ROUND_TRIP_RIGS, ids=lambda r: r.split("/")[-1])
def test_round_trip_canonical_rig_canonical(rel):
    rig = load_rig_cached(rel)
    src = walk_clip()
    res = from_canonical(rig, src, contact_cleanup_on=False)
    back = to_canonical(rig, res.pose).motion
    err = angles_deg(src, back)
    mapped = [CANONICAL_JOINTS.index(c) for c in res.bone_map.mapping()]
    assert err[:, mapped].max() < 1e-3, "every mapped joint comes back exactly"
    assert err.mean() < 2.0
    # hips translation comes back too (scaled there, unscaled back)
    assert np.abs(back.root_pos - src.root_pos).max() < 1e-6


def test_a_pose_character_gets_the_same_world_limb_directions():
    """The anny characters rest in an A-pose; the canonical rest pose is a T-pose. A T-pose source frame must give
    T-pose arms (horizontal), not A-pose + nothing."""
    rig = load_rig_cached("anny_characters/anny_mixamo_adult_m.glb")
    src = Motion.rest(CANONICAL, 2)
    res = from_canonical(rig, src, contact_cleanup_on=False)
    prep = prepare(rig)
    p = res.motion.positions()[0]
    drv = prep.driving
    for s in ("left", "right"):
        a = p[drv.index(prep.mapping[f"{s}_shoulder"])]
        b = p[drv.index(prep.mapping[f"{s}_elbow"])]
        c = p[drv.index(prep.mapping[f"{s}_wrist"])]
        for u, v in ((a, b), (b, c)):
            d = (v - u) / np.linalg.norm(v - u)
            assert abs(d[2]) < 0.05, f"{s} arm is not horizontal: direction {d}"
    rest = drv.rest_positions()
    d_rest = rest[drv.index(prep.mapping["left_elbow"])] - rest[drv.index(prep.mapping["left_shoulder"])]
    assert d_rest[2] / np.linalg.norm(d_rest) < -0.3, "the character's own rest pose really is an A-pose"


def _yup_cm_and_rolled(rig: Rig, roll_deg: float, seed=0):
    """The same character authored Y-up in centimetres, with every bone rolled about its own axis."""
    order = rig.order
    J = len(order)
    heads = rig.skeleton.rest_positions()
    rng = np.random.default_rng(seed)
    to_arm = np.array([[1, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # Z-up world -> Y-up armature
    rest = np.zeros((J, 4, 4))
    tails = np.zeros((J, 3))
    names, parents = [None] * J, [-1] * J
    for k in range(J):
        R = np_quat_to_matrix(rig.rest_rot[k])
        axis = R[:, 1]
        ang = np.radians(rng.uniform(-roll_deg, roll_deg))
        roll = np_quat_to_matrix(np.concatenate([axis * np.sin(ang / 2), [np.cos(ang / 2)]]))
        m = np.eye(4)
        m[:3, :3] = to_arm @ roll @ R
        m[:3, 3] = to_arm @ heads[k] * 100.0
        rest[order[k]] = m
        tails[order[k]] = to_arm @ rig.tails[k] * 100.0
        names[order[k]] = rig.names[k]
        p = rig.skeleton.parents[k]
        parents[order[k]] = int(order[p]) if p >= 0 else -1
    mw = np.eye(4)
    mw[:3, :3] = to_arm.T * 0.01
    return Rig.from_matrices(names, parents, rest, matrix_world=mw, tails=tails, name="yup_cm_rolled")


def test_y_up_centimetre_rolled_rig_gives_the_same_world_motion():
    base = load_rig_cached("anny_characters/anny_cmu_mb_adult_m.glb")
    other = _yup_cm_and_rolled(base, 90.0)
    assert other.unit_scale == pytest.approx(0.01)
    src = walk_clip()
    a = from_canonical(base, src, contact_cleanup_on=False)
    b = from_canonical(other, src, contact_cleanup_on=False)
    pa, pb = a.motion.positions(), b.motion.positions()
    assert np.abs(pa - pb).max() < 1e-6
    # ... while the channels differ (rolled frames, centimetres): the conversion is doing real work
    la = a.pose.locations[a.pose.bones[0]] if a.pose.bones[0] in a.pose.locations else next(iter(a.pose.locations.values()))
    lb = next(iter(b.pose.locations.values()))
    assert np.abs(np.linalg.norm(lb, axis=-1) - 100 * np.linalg.norm(la, axis=-1)).max() < 1e-4
    i = list(a.pose.bones).index("LeftArm")
    assert np.degrees(np_quat_angle(a.pose.rotations[:, i], b.pose.rotations[:, i])).max() > 5.0


def test_quaternion_order_is_xyzw_and_converts_at_the_boundary():
    """A 90-degree turn about world Z of the canonical left elbow comes out, on a world-aligned rig, as the XYZW
    quaternion (0, 0, sin 45, cos 45); Blender gets (cos 45, 0, 0, sin 45)."""
    rig = Rig.from_skeleton(CANONICAL)
    m = Motion.rest(CANONICAL, 1)
    e = CANONICAL.index("left_elbow")
    m.rotations[0, e] = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]
    res = from_canonical(rig, m, contact_cleanup_on=False)
    q = res.pose.rotations[0, list(res.pose.bones).index("left_elbow")]
    q = q * np.sign(q[3])
    assert np.allclose(q, [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-9)
    assert np.allclose(xyzw_to_wxyz(q), [np.sqrt(0.5), 0, 0, np.sqrt(0.5)], atol=1e-9)
    assert np.allclose(wxyz_to_xyzw(xyzw_to_wxyz(q)), q)
    # the wrist moved to where a Z turn of the forearm puts it (forearm along +X -> along +Y)
    p = res.motion.positions()[0]
    fore = p[CANONICAL.index("left_wrist")] - p[e]
    assert fore[1] > 0.9 * np.linalg.norm(fore)
    # and reading WXYZ as if it were XYZW is caught: it is a different rotation
    wrong = RigPose(res.pose.bones, xyzw_to_wxyz(res.pose.rotations), res.pose.locations, res.pose.fps)
    back = to_canonical(rig, wrong).motion
    assert np.degrees(np_quat_angle(back.rotations[0, e], m.rotations[0, e])) > 30


def test_hips_translation_is_kept_and_scaled_by_leg_length():
    src = walk_clip()
    for rel in ("anny_characters/anny_mixamo_child.glb", "tests/fixtures/rigs/quaternius_male_casual.json"):
        rig = load_rig_cached(rel)
        res = from_canonical(rig, src, contact_cleanup_on=False)
        s = res.alignment.scale
        prep = prepare(rig)
        drv = prep.driving
        hips = 0.5 * (res.motion.positions()[:, drv.index(prep.mapping["left_hip"])] +
                      res.motion.positions()[:, drv.index(prep.mapping["right_hip"])])
        sp = src.positions()
        ships = 0.5 * (sp[:, CANONICAL.index("left_hip")] + sp[:, CANONICAL.index("right_hip")])
        travel_dst = np.linalg.norm(hips[-1, :2] - hips[0, :2])
        travel_src = np.linalg.norm(ships[-1, :2] - ships[0, :2])
        assert travel_src > 0.5, "the walk goes somewhere"
        assert travel_dst == pytest.approx(s * travel_src, rel=1e-6)
        # the translation is on the hips bone's location channel, not dropped
        loc = res.pose.locations[prep.location_bones[0]]
        assert np.ptp(loc, axis=0).max() > 0.1


def test_contact_cleanup_holds_planted_feet_without_pops_and_above_the_floor():
    src = walk_clip()
    rig = load_rig_cached("anny_characters/anny_mixamo_child.glb")
    prep = prepare(rig)
    bare = from_canonical(rig, src, prepared=prep, contact_cleanup_on=False)
    full = from_canonical(rig, src, prepared=prep)
    c = source_contacts(src)
    drv = prep.driving
    fps = src.fps
    for k, s in enumerate(("left", "right")):
        a = drv.index(prep.mapping[f"{s}_ankle"])
        planted = c[:, k, 0]
        assert planted.sum() > 5
        v_bare = np.linalg.norm(np.gradient(bare.motion.positions()[:, a, :2], axis=0), axis=-1) * fps
        v_full = np.linalg.norm(np.gradient(full.motion.positions()[:, a, :2], axis=0), axis=-1) * fps
        assert v_full[planted].mean() < 0.5 * v_bare[planted].mean()
        # no pops: frame-to-frame ankle steps stay within what the motion itself does (plus a little)
        step_bare = np.linalg.norm(np.diff(bare.motion.positions()[:, a], axis=0), axis=-1)
        step_full = np.linalg.norm(np.diff(full.motion.positions()[:, a], axis=0), axis=-1)
        assert step_full.max() < step_bare.max() + 0.02
    # feet never go below their rest height over the floor
    rest = drv.rest_positions()
    for j in (prep.mapping[f"{s}_{x}"] for s in ("left", "right") for x in ("ankle", "foot")):
        i = drv.index(j)
        assert full.motion.positions()[:, i, 2].min() >= rest[i, 2] - 1e-6


def test_hand_targets_pull_the_wrists():
    src = walk_clip().slice(0, 20)
    rig = load_rig_cached("anny_characters/anny_mixamo_adult_m.glb")
    prep = prepare(rig)
    plain = from_canonical(rig, src, prepared=prep)
    w = prep.driving.index(prep.mapping["left_wrist"])
    goal = plain.motion.positions()[:, w] + np.array([0.0, -0.15, 0.1])
    res = from_canonical(rig, src, prepared=prep, hand_targets={"left_wrist": (goal, np.ones(20))})
    assert np.abs(res.motion.positions()[:, w] - goal).max() < 1e-6
    half = from_canonical(rig, src, prepared=prep, hand_targets={"left_wrist": (goal, np.full(20, 0.5))})
    mid = 0.5 * (goal + plain.motion.positions()[:, w])
    assert np.abs(half.motion.positions()[:, w] - mid).max() < 1e-6
    with pytest.raises(RetargetError, match="hand target"):
        from_canonical(rig, src, prepared=prep, hand_targets={"left_wrist": (goal[:5], np.ones(5))})


def test_ik_parented_feet_get_location_channels():
    rig = load_rig_cached("tests/fixtures/rigs/quaternius_male_casual.json")
    res = from_canonical(rig, walk_clip())
    assert {"Foot.L", "Foot.R", "Body"} <= set(res.pose.locations)
    assert np.ptp(res.pose.locations["Foot.L"], axis=0).max() > 0.1
    assert "PoleTarget.L" not in res.pose.bones


def test_rigify_results_go_on_fk_controls_with_switches_set():
    rig = load_rig_cached("tests/fixtures/rigs/rigify_basic_human.json")
    res = from_canonical(rig, walk_clip())
    bones = set(res.pose.bones)
    assert {"torso", "chest", "neck", "head", "upper_arm_fk.L", "forearm_fk.L", "hand_fk.L", "thigh_fk.L",
            "shin_fk.L", "foot_fk.L", "toe_fk.R"} <= bones
    assert not any(b.startswith(("DEF-", "ORG-", "MCH-")) for b in bones), "never key deform or mechanism bones"
    assert set(res.pose.locations) == {"torso"}
    for s in ("L", "R"):
        assert res.pose.properties[f"thigh_parent.{s}"]["IK_FK"] == 1.0
        assert res.pose.properties[f"upper_arm_parent.{s}"]["IK_FK"] == 1.0
    assert res.bone_map.bone("left_shoulder") == "upper_arm_fk.L"


def test_saved_bone_map_reloads_and_gives_the_same_result(tmp_path):
    rig = load_rig_cached("anny_characters/anny_mixamo_child.glb")
    src = walk_clip().slice(0, 10)
    a = from_canonical(rig, src, contact_cleanup_on=False)
    path = a.bone_map.save(tmp_path / "map.json")
    b = from_canonical(rig, src, bone_map=BoneMap.load(path), contact_cleanup_on=False)
    assert np.abs(a.pose.rotations - b.pose.rotations).max() < 1e-12


def test_user_override_is_used():
    rig = load_rig_cached("anny_characters/anny_mixamo_child.glb")
    src = walk_clip().slice(0, 5)
    res = from_canonical(rig, src, overrides={"head": "mixamorig:Neck", "neck": None}, contact_cleanup_on=False)
    assert res.bone_map.entries["head"] == ("mixamorig:Neck", 1.0)
    assert res.bone_map.bone("neck") is None


@pytest.mark.parametrize("frames", [1, 2, 2000])
def test_any_length(frames):
    rig = load_rig_cached("anny_characters/anny_mixamo_child.glb")
    m = Motion.rest(CANONICAL, frames)
    rng = np.random.default_rng(frames)
    m.rotations[:] = np_euler_to_quat("XYZ", rng.normal(0, 8, (frames, 22, 3)))
    res = from_canonical(rig, m)
    assert res.pose.num_frames == frames
    back = to_canonical(rig, from_canonical(rig, m, contact_cleanup_on=False).pose).motion
    assert back.num_frames == frames


# ------------------------------------------------------------------------------------------------ bad input
def _rig_from(names, parents, pos):
    rest = np.tile(np.eye(4), (len(names), 1, 1))
    rest[:, :3, 3] = pos
    return Rig.from_matrices(names, parents, rest)


def test_rig_without_legs_is_refused_clearly():
    names = ["hips", "spine", "chest", "neck", "head", "upperarm_l", "lowerarm_l", "hand_l", "upperarm_r",
             "lowerarm_r", "hand_r"]
    parents = [-1, 0, 1, 2, 3, 2, 5, 6, 2, 8, 9]
    pos = [[0, 0, 1], [0, 0, 1.1], [0, 0, 1.3], [0, 0, 1.5], [0, 0, 1.6], [.2, 0, 1.4], [.45, 0, 1.4], [.7, 0, 1.4],
           [-.2, 0, 1.4], [-.45, 0, 1.4], [-.7, 0, 1.4]]
    rig = _rig_from(names, parents, pos)
    with pytest.raises(RetargetError, match="no legs"):
        from_canonical(rig, Motion.rest(CANONICAL, 3))


def test_duplicate_bone_names_and_cycles_are_refused():
    pos = np.zeros((3, 3))
    with pytest.raises(RigError, match="duplicate joint name 'a'"):
        _rig_from(["a", "b", "a"], [-1, 0, 1], pos)
    with pytest.raises(RigError, match="cyclic parent chain"):
        _rig_from(["a", "b", "c"], [1, 2, 0], pos)
    from backend.retarget.rig_files import rig_from_dict
    with pytest.raises(RigError, match="duplicate bone name"):
        rig_from_dict({"bones": ["x", "x"], "parents": [-1, 0], "rest_matrices": np.tile(np.eye(4), (2, 1, 1))})


def test_nan_motion_and_nan_pose_are_refused():
    rot = np.tile([0, 0, 0, 1.0], (4, 22, 1))
    rot[2, 5] = np.nan
    with pytest.raises(MotionError, match="NaN"):
        Motion(CANONICAL, 30, np.zeros((4, 3)), rot)
    rig = load_rig_cached("anny_characters/anny_mixamo_child.glb")
    pose = RigPose(("mixamorig:Hips",), np.tile([0, 0, 0, 1.0], (3, 1, 1)), {"mixamorig:Hips": np.zeros((3, 3))})
    pose.rotations[1, 0, 2] = np.nan
    with pytest.raises(RetargetError, match="frame 1 is NaN"):
        to_canonical(rig, pose)
    pose = RigPose(("mixamorig:Hips",), np.tile([0, 0, 0, 1.0], (3, 1, 1)), {"mixamorig:Hips": np.full((3, 3), np.inf)})
    with pytest.raises(RetargetError, match="NaN or infinity"):
        to_canonical(rig, pose)


def test_unknown_bones_and_absurd_lengths_are_refused():
    rig = load_rig_cached("anny_characters/anny_mixamo_child.glb")
    pose = RigPose(("Tail",), np.tile([0, 0, 0, 1.0], (2, 1, 1)))
    with pytest.raises(RetargetError, match="does not have: Tail"):
        to_canonical(rig, pose)
    long = RigPose(("mixamorig:Hips",), np.broadcast_to([0, 0, 0, 1.0], (MAX_FRAMES + 1, 1, 4)))
    with pytest.raises(RetargetError, match="frames"):
        to_canonical(rig, long)
    with pytest.raises(RetargetError, match="not a bone of this rig"):
        from_canonical(rig, Motion.rest(CANONICAL, 2), overrides={"head": "Skull"})


def test_reference_pose_replaces_a_rest_pose_that_is_not_a_t_pose():
    """Rigs whose rest pose is not a T-pose (Character Creator's zero pose) can name a reference frame in which they
    stand like the canonical rest pose. Here the A-pose Anny character gets a T-pose frame as reference: that frame
    comes back as the canonical rest pose, and other frames come back as they do through the rig's own rest pose."""
    rig = load_rig_cached("anny_characters/anny_mixamo_adult_m.glb")
    t_pose = from_canonical(rig, Motion.rest(CANONICAL, 1), contact_cleanup_on=False).pose
    back = to_canonical(rig, t_pose, reference=t_pose).motion
    # (not to 1e-9: the body heading is re-measured from the reference pose's hips)
    assert np.degrees(np_quat_angle(back.rotations[0], np.tile([0, 0, 0, 1.0], (22, 1)))).max() < 0.5
    src = walk_clip().slice(0, 20)
    pose = from_canonical(rig, src, contact_cleanup_on=False).pose
    a = to_canonical(rig, pose, reference=t_pose).motion
    b = to_canonical(rig, pose).motion
    assert angles_deg(a, b).max() < 0.5
    assert angles_deg(a, src).mean() < 0.5


def test_rig_from_the_wire_schema():
    """What the add-on sends (schema.RigSpec, float32 arrays) works like the fixture it came from."""
    import json as _json

    from backend.schema import Array, RigSpec
    d = _json.loads((FIXTURES / "quaternius_male_casual.json").read_text())
    spec = RigSpec(name=d["name"], bones=d["bones"], parents=d["parents"],
                   rest_matrices=Array.from_numpy(np.array(d["rest_matrices"])),
                   tails=Array.from_numpy(np.array(d["tails"])), matrix_world=Array.from_numpy(np.array(d["matrix_world"])))
    rig = Rig.from_spec(spec)
    src = walk_clip().slice(0, 10)
    a = from_canonical(rig, src).motion.positions()
    b = from_canonical(load_rig_cached("tests/fixtures/rigs/quaternius_male_casual.json"), src).motion.positions()
    assert np.abs(a - b).max() < 1e-4 * rig.unit_scale + 1e-4  # float32 on the wire


def _blocky():
    """A 6-bone blocky character: body, head, and whole legs and arms as single bones (tails at feet and hands)."""
    names = ["Body", "Head", "Leg.L", "Leg.R", "Arm.L", "Arm.R"]
    parents = [-1, 0, 0, 0, 0, 0]
    heads = np.array([[0, 0, 0.9], [0, 0, 1.45], [0.15, 0, 0.9], [-0.15, 0, 0.9], [0.25, 0, 1.35], [-0.25, 0, 1.35]])
    tails = np.array([[0, 0, 1.45], [0, 0, 1.75], [0.15, 0, 0.0], [-0.15, 0, 0.0], [0.85, 0, 1.35],
                      [-0.85, 0, 1.35]])
    rest = np.tile(np.eye(4), (6, 1, 1))
    rest[:, :3, 3] = heads
    return Rig.from_matrices(names, parents, rest, tails=tails, name="blocky")


def test_a_blocky_character_with_single_bone_legs_is_retargeted():
    """Issue 16: whole-leg bones (no knees) were refused. The legs take the thighs' directions, the hips travel by the
    ratio of leg lengths (hip heights over the feet), the feet stay above the floor; overriding the hips keeps the
    pelvis."""
    rig = _blocky()
    src = walk_clip().slice(0, 60)
    res = from_canonical(rig, src)
    bm = res.bone_map
    assert bm.bone("pelvis") == "Body" and bm.bone("left_hip") == "Leg.L" and bm.bone("right_hip") == "Leg.R"
    assert bm.bone("left_knee") is None and bm.bone("left_ankle") is None and bm.bone("head") == "Head"
    assert res.alignment.scale == pytest.approx(0.9 / 0.9, abs=0.15)  # hip height over the foot, each side
    prep = prepare(rig)
    assert prep.ground == pytest.approx(0.0)  # the legs' tails, not the lowest bone head (the hips)
    g, _p = res.motion.global_rotations_and_positions()
    pc = src.positions()
    drv = prep.driving
    for s in ("left", "right"):
        j = drv.index(f"Leg.{s[0].upper()}")
        leg = np_quat_to_matrix(g[:, j]) @ np.array([0, 0, -1.0])  # the rest leg points down
        thigh = pc[:, CANONICAL_JOINTS.index(f"{s}_knee")] - pc[:, CANONICAL_JOINTS.index(f"{s}_hip")]
        thigh /= np.linalg.norm(thigh, axis=-1, keepdims=True)
        assert np.degrees(np.arccos(np.clip(np.sum(leg * thigh, -1), -1, 1))).max() < 1.0
    travel = np.linalg.norm(res.motion.root_pos[-1, :2] - res.motion.root_pos[0, :2])
    assert travel > 0.5
    over = from_canonical(rig, src, overrides={"left_hip": "Leg.L", "right_hip": "Leg.R"})
    assert over.bone_map.bone("pelvis") == "Body"
    back = to_canonical(rig, res.pose).motion
    assert back.num_frames == 60 and np.all(np.isfinite(back.rotations))
