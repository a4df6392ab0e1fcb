"""The full retargeting result through the task runners and the wire: contact cleanup, Rigify FK controls with their
switch properties, feet parented to the root moved by location, extra spine/neck bones sharing the bend, control bones
listed by the add-on, and in-betweening with location keys and a root bone above the hips."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from srv_rigs import joint_positions, mixamo_rig, pose_channels
from test_pipelines import CANONICAL_FLOOR, random_motion

from backend.models.inbetween.interpolation import lerp_points
from backend.motion.rotations import np_quat_angle
from backend.motion.skeleton import CANONICAL_JOINTS
from backend.pipelines import JobContext, RequestError, check_request, inbetween, retarget
from backend.pipelines.convert import canonical_motion_to_spec
from backend.pipelines.files import rig_spec_from_rig
from backend.pipelines.rigs import RigBinding
from backend.retarget.api import from_canonical, source_contacts, to_canonical
from backend.retarget.rig import Rig
from backend.retarget.rig_files import bvh_rig_and_pose, load_rig
from backend.schema import Array, InbetweenRequest, JobResult, KeySpec, MotionSpec, RetargetRequest, RigSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rigs"


def fixture_rig(name: str) -> RigSpec:
    """A rig dump made from a real character (what the add-on sends) as the wire RigSpec."""
    d = json.loads((FIXTURES / f"{name}.json").read_text())
    return RigSpec(name=d["name"], bones=d["bones"], parents=d["parents"],
                   rest_matrices=Array.from_numpy(np.array(d["rest_matrices"])),
                   tails=Array.from_numpy(np.array(d["tails"])), matrix_world=Array.from_numpy(np.array(d["matrix_world"])),
                   controls=d.get("controls") or None)


@pytest.fixture(scope="module")
def walk(fixture_data):
    """CMU 02_01 (a walk; the committed fixture) on the canonical skeleton, 30 fps, grounded: 86 frames, 2.9 s."""
    rig, pose = bvh_rig_and_pose(fixture_data / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh", fps=30.0)
    return to_canonical(rig, pose).motion.grounded().slice(0, 90)


def _retarget(target: RigSpec, motion, cleanup=True) -> JobResult:
    req = RetargetRequest(source=canonical_motion_to_spec(motion), target_rig=target, contact_cleanup=cleanup)
    # the wire: every result survives JSON both ways
    return JobResult.model_validate_json(retarget.run(req, JobContext()).model_dump_json())


# ------------------------------------------------------------------------------------------------ retarget
def test_contact_cleanup_keeps_planted_feet_planted(fixture_data, walk):
    target = rig_spec_from_rig(load_rig(fixture_data / "anny_characters" / "anny_mixamo_child.glb"))
    b = RigBinding(target)
    on, off = _retarget(target, walk), _retarget(target, walk, cleanup=False)
    assert on.info["contact_cleanup"] == "on" and off.info["contact_cleanup"] == "off"
    p_on, p_off = joint_positions(b, on.motions[0]), joint_positions(b, off.motions[0])
    contacts = source_contacts(walk)
    for k, side in enumerate(("left", "right")):
        ankle = b.mapping[f"{side}_ankle"]
        planted = contacts[:, k, 0]
        assert planted.sum() > 10

        def skate(p, ankle=ankle, planted=planted):
            return (np.linalg.norm(np.gradient(p[ankle][:, :2], axis=0), axis=-1) * walk.fps)[planted].mean()
        assert skate(p_on) < 0.5 * skate(p_off), side
    # the cleanup moves legs only: the hips and the head are where the transfer put them
    for j in ("pelvis", "head", "left_wrist"):
        assert np.abs(p_on[b.mapping[j]] - p_off[b.mapping[j]]).max() < 1e-5


def test_rigify_results_are_fk_controls_with_the_switch_properties(walk):
    rig = fixture_rig("rigify_basic_human")
    res = _retarget(rig, walk.slice(0, 20))
    s = res.motions[0]
    assert s.root_bone == "torso" and s.location_bones is None
    assert set(s.bones) <= set(rig.controls) and not any(b.startswith(("DEF-", "ORG-", "MCH-")) for b in s.bones)
    assert {"torso", "chest", "neck", "head", "thigh_fk.L", "shin_fk.R", "foot_fk.L", "upper_arm_fk.R"} <= set(s.bones)
    props = {(p.bone, p.name): p.value for p in s.properties}
    for side in ("L", "R"):
        assert props[(f"thigh_parent.{side}", "IK_FK")] == 1.0 and props[(f"upper_arm_parent.{side}", "IK_FK")] == 1.0
    assert props[("torso", "neck_follow")] == 1.0 and props[("torso", "head_follow")] == 1.0
    by = {e.canonical: e for e in res.bone_map}
    assert by["left_shoulder"].bone == "upper_arm_fk.L" and by["left_shoulder"].confidence == 1.0
    # the channels are the retargeting API's, unchanged by the trip through the pipeline and the wire (float32)
    api = from_canonical(Rig.from_spec(rig), walk.slice(0, 20)).pose
    rot = s.rotations.numpy()
    for i, bone in enumerate(s.bones):
        a = api.rotations[:, list(api.bones).index(bone)]
        assert np.degrees(np_quat_angle(rot[:, i].astype(float), a)).max() < 0.01, bone
    assert np.abs(s.root_translation.numpy() - api.locations["torso"]).max() < 1e-5


def test_feet_parented_to_the_root_move_by_location_and_stay_on_the_legs(walk):
    rig = fixture_rig("quaternius_male_casual")
    s = _retarget(rig, walk).motions[0]
    assert s.root_bone == "Body" and set(s.location_bones) == {"Foot.L", "Foot.R"}
    b = RigBinding(rig)
    pos = joint_positions(b, s)
    for side in ("L", "R"):  # the foot's head sits at the end of the shin all along
        gap = np.linalg.norm(pos[f"Foot.{side}"] - pos[f"LowerLeg.{side}_end"], axis=-1)
        assert gap.max() < 0.01 * b.rig.unit_scale + 1e-3, side
    # without those location channels (the wire before them) the feet stay behind at the root, off the legs
    bare = s.model_copy(update={"location_bones": None, "locations": None})
    gap = np.linalg.norm(joint_positions(b, bare)["Foot.L"] - pos["LowerLeg.L_end"], axis=-1)
    assert gap.max() > 0.3


def test_extra_neck_bone_shares_the_bend_and_is_written(fixture_data):
    """The CMU-named Anny character has two neck bones (Neck, Neck1) for the canonical neck; the one the map does not
    take shares the bend, so it is in the result: without it the head ends up elsewhere."""
    target = rig_spec_from_rig(load_rig(fixture_data / "anny_characters" / "anny_cmu_mb_adult_m.glb"))
    b = RigBinding(target)
    m = random_motion(T=6, seed=8)
    s = _retarget(target, m, cleanup=False).motions[0]
    mapped = set(b.mapping.values())
    extra = [x for x in s.bones if x not in mapped]
    assert "Neck1" in extra and "Neck1" not in mapped
    i = s.bones.index("Neck1")
    assert np.degrees(np_quat_angle(s.rotations.numpy()[:, i].astype(float), np.array([0, 0, 0, 1.0]))).max() > 5
    head = joint_positions(b, s)["Head"]
    dropped = s.model_copy(update={"rotations": Array.from_numpy(np.where(
        np.arange(len(s.bones))[None, :, None] == i, [0, 0, 0, 1.0], s.rotations.numpy()))})
    assert np.linalg.norm(joint_positions(b, dropped)["Head"] - head, axis=-1).max() > 0.01


def _with_controls(fmt="{}_ctrl"):
    """A deform rig (Mixamo names, A-pose, Y-up cm) with a parallel FK control chain that the add-on lists."""
    base = mixamo_rig(extra_bones=False, prefix="")
    B = len(base.bones)
    bones = list(base.bones) + [fmt.format(b) for b in base.bones]
    parents = list(base.parents) + [p + B if p >= 0 else -1 for p in base.parents]
    return base, RigSpec(name="controlled", bones=bones, parents=parents,
                         rest_matrices=Array.from_numpy(np.concatenate([base.rest_matrices.numpy()] * 2)),
                         tails=Array.from_numpy(np.concatenate([base.tails.numpy()] * 2)),
                         matrix_world=base.matrix_world, controls=bones[B:])


def test_listed_control_bones_get_the_channels():
    base, rig = _with_controls()
    m = random_motion(T=5, seed=3)
    res = _retarget(rig, m, cleanup=False)
    s = res.motions[0]
    assert all(b.endswith("_ctrl") for b in s.bones) and len(s.bones) == 22 and s.root_bone == "Hips_ctrl"
    assert {e.canonical: e.bone for e in res.bone_map}["left_knee"] == "LeftLeg_ctrl"
    # keyed on the controls, the controls land where the plain rig's bones land
    plain = joint_positions(RigBinding(base), _retarget(base, m, cleanup=False).motions[0])
    ctrl = joint_positions(RigBinding(rig), s)
    for bone in base.bones:
        assert np.abs(ctrl[f"{bone}_ctrl"] - plain[bone]).max() < 1e-5, bone
    # an override must name a control bone
    bad = rig.model_copy(update={"bone_map": {"head": "Head"}})
    with pytest.raises(RequestError, match="rig.controls"):
        check_request(RetargetRequest(source=canonical_motion_to_spec(m), target_rig=bad))


# ------------------------------------------------------------------------------------------------ in-between
def test_inbetween_with_a_root_bone_above_the_hips():
    """The add-on keys root motion on whichever bone carries it; a root bone above the hips takes the whole
    translation, and the body moves exactly as when the hips carry it."""
    rig = mixamo_rig().model_copy(update={"floor": CANONICAL_FLOOR})
    b = RigBinding(rig)
    pose = b.to_rig(random_motion(T=21, seed=6), contact_cleanup=False).pose
    frames = [0, 10, 20]
    bones = list(rig.bones)
    rot, hips_loc = pose_channels(pose, bones, "mixamorig:Hips")
    on_hips = KeySpec(frames=frames, bones=bones, rotations=Array.from_numpy(rot[frames]),
                      root_translation=Array.from_numpy(hips_loc[frames]))
    # the same keys with the translation on the root bone: the same displacement, in the root bone's own frame
    root_rest = rig.rest_matrices.numpy()[0].astype(float)
    hips_rest = rig.rest_matrices.numpy()[1].astype(float)
    disp_arm = np.einsum("ab,tb->ta", hips_rest[:3, :3], hips_loc)  # hips location -> armature space
    root_loc = np.einsum("ba,tb->ta", root_rest[:3, :3], disp_arm)  # -> the root bone's own space
    hips_rot = rot.copy()
    on_root = on_hips.model_copy(update={"root_bone": "mixamorig:Root",
                                         "root_translation": Array.from_numpy(root_loc[frames])})
    a = inbetween.run(InbetweenRequest(keys=on_hips, rig=rig), JobContext()).motions[0]
    r = inbetween.run(InbetweenRequest(keys=on_root, rig=rig), JobContext()).motions[0]
    assert r.root_bone == "mixamorig:Root" and a.root_bone == "mixamorig:Hips"
    assert np.array_equal(r.root_translation.numpy()[frames], on_root.root_translation.numpy())
    assert np.array_equal(r.rotations.numpy()[frames], hips_rot[frames].astype(np.float32))
    pa, pr = joint_positions(b, a), joint_positions(b, r)
    for bone in ("mixamorig:Hips", "mixamorig:LeftFoot", "mixamorig:Head"):
        assert np.abs(pa[bone] - pr[bone]).max() < 1e-4, bone
    assert np.ptp(pa["mixamorig:Hips"][:, 1]) > 0.3  # the body travels


def test_inbetween_with_location_keys_on_root_parented_feet(walk):
    """Quaternius as the add-on sees it: the root bone ``Bone`` stays put, ``Body`` carries the hips' translation and
    the feet (IK targets under the root) are keyed by location. Keys come back bit for bit, locations included, and
    between the keys the feet stay on the legs (the canonical detour moves them with the body)."""
    rig = fixture_rig("quaternius_male_casual")
    b = RigBinding(rig)
    s = _retarget(rig, walk.slice(0, 31)).motions[0]
    pose = b.spec_to_pose(s)
    frames = [0, 15, 30]
    bones = list(s.bones)
    loc_bones = ["Body", "Foot.L", "Foot.R"]
    rot = s.rotations.numpy()
    locs = np.stack([pose.locations[x] for x in loc_bones], 1).astype(np.float32)
    keys = KeySpec(frames=[f + 1 for f in frames], bones=bones, rotations=Array.from_numpy(rot[frames]),
                   root_translation=Array.from_numpy(np.zeros((3, 3))), root_bone="Bone",
                   location_bones=loc_bones, locations=Array.from_numpy(locs[frames]))
    req = InbetweenRequest(keys=keys, rig=rig)
    check_request(req)
    res = inbetween.run(req, JobContext())
    out = res.motions[0]
    assert out.root_bone == "Bone" and out.location_bones == loc_bones and out.num_frames == 31
    assert np.array_equal(out.rotations.numpy()[frames][:, :len(bones)], rot[frames])
    assert np.array_equal(out.locations.numpy()[frames], locs[frames])
    assert np.array_equal(out.root_translation.numpy()[frames], np.zeros((3, 3), np.float32))
    pos = joint_positions(b, out)
    gap = np.linalg.norm(pos["Foot.L"] - pos["LowerLeg.L_end"], axis=-1)
    # interpolating the feet's locations directly would leave them off the legs between keys
    direct = out.model_copy(update={"locations": Array.from_numpy(lerp_points(
        np.array(frames), locs[frames].reshape(3, -1), np.ones(3, bool), np.arange(31)).reshape(31, 3, 3))})
    pd = joint_positions(b, direct)
    gap_direct = np.linalg.norm(pd["Foot.L"] - pd["LowerLeg.L_end"], axis=-1)
    assert gap.max() < 0.5 * gap_direct.max() and gap.max() < 0.05 * b.rig.unit_scale


def test_location_keys_naming_the_root_bone_are_refused():
    rig = mixamo_rig()
    q = np.tile(np.array([0, 0, 0, 1.0], np.float32), (2, 1, 1))
    keys = KeySpec(frames=[1, 5], bones=["mixamorig:Head"], rotations=Array.from_numpy(q),
                   root_translation=Array.from_numpy(np.zeros((2, 3))), location_bones=["mixamorig:Hips"],
                   locations=Array.from_numpy(np.zeros((2, 1, 3))))
    with pytest.raises(RequestError, match="root_translation holds"):
        check_request(InbetweenRequest(keys=keys, rig=rig))


def test_motion_spec_checks_its_location_channels():
    m = random_motion(T=3)
    base = {"space": "rig", "bones": ["a", "b"], "parents": [-1, 0], "fps": 30,
                "rotations": Array.from_numpy(m.rotations[:, :2]), "root_translation": Array.from_numpy(m.root_pos),
                "root_bone": "a"}
    MotionSpec(**base, location_bones=["b"], locations=Array.from_numpy(np.zeros((3, 1, 3))))
    for extra, words in (({"location_bones": ["b"]}, "given together"),
                         ({"location_bones": ["b"], "locations": Array.from_numpy(np.zeros((2, 1, 3)))}, "[3, 1, 3]"),
                         ({"location_bones": ["c"], "locations": Array.from_numpy(np.zeros((3, 1, 3)))}, "not among"),
                         ({"location_bones": ["a"], "locations": Array.from_numpy(np.zeros((3, 1, 3)))}, "root_bone"),
                         ({"properties": [{"bone": "x", "name": "IK_FK", "value": 1},
                                           {"bone": "x", "name": "IK_FK", "value": 0}]}, "twice")):
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            MotionSpec(**base, **extra)
    with pytest.raises(ValueError, match="rig-space"):
        MotionSpec(**{**base, "space": "canonical"}, properties=[{"bone": "x", "name": "p", "value": 1}])


def test_a_rig_lying_on_its_back_is_solved_upright_and_moves_as_seen():
    """Blender's BVH export writes Z up and its import reads Y up, so a round-tripped clip lies on its back. The
    retargeting needs legs hanging down; the binding solves such a rig in an upright view and turns motions back,
    so each side gets what the other shows: a canonical walk stands the lying rig up, and a lying clip gives a
    lying canonical body."""
    upright = mixamo_rig(a_pose_deg=0.0, extra_bones=False, prefix="", name="upright")
    turn = np.eye(4)
    turn[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # -90 degrees about X: the head goes to -Y, on its back
    lying = upright.model_copy(update={"name": "lying", "matrix_world": Array.from_numpy(
        turn @ upright.matrix_world.numpy().astype(float))})
    b_up, b_ly = RigBinding(upright), RigBinding(lying)
    assert b_up.up_fix is None and b_ly.up_fix is not None and b_ly.has_body
    m = random_motion(T=6, seed=13)
    # onto the lying rig: the joints go where the canonical ones are, in the real world (it stands up and moves)
    s = _retarget(lying, m, cleanup=False).motions[0]
    pos = joint_positions(b_ly, s)
    got = np.stack([pos[b_ly.mapping[c]] for c in CANONICAL_JOINTS], 1)
    assert np.abs(got - m.positions()).max() < 1e-4
    # from the lying rig: the channels that make the upright rig do m make the lying one do m turned onto its back
    pose = b_up.to_rig(m, contact_cleanup=False).pose
    back = b_ly.to_canonical(pose)
    lying_truth = np.einsum("ab,tjb->tja", turn[:3, :3], m.positions())
    assert np.abs(back.positions() - lying_truth).max() < 1e-4
