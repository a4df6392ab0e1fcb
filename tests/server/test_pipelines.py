"""Task runners in-process (the code path the CLI and the server share): numbers, poses, exact keys."""
from __future__ import annotations

import numpy as np
import pytest
from srv_corpus import corpus
from srv_rigs import joint_positions, mixamo_rig, pose_channels

from backend.models.inbetween.interpolation import slerp_channels
from backend.models.retrieval import RetrievalBaseline, TokenOverlapEncoder
from backend.motion.motion import Motion
from backend.motion.rotations import np_quat_angle, np_quat_slerp
from backend.motion.skeleton import CANONICAL, CANONICAL_JOINTS
from backend.pipelines import JobContext, RequestError, check_request, inbetween, retarget, text2motion
from backend.pipelines.convert import canonical_motion_to_spec, spec_to_canonical_motion
from backend.pipelines.rigs import RigBinding
from backend.schema import Array, InbetweenRequest, KeySpec, MotionSpec, RetargetRequest, Text2MotionRequest


def random_motion(T=12, seed=0, sigma=0.35) -> Motion:
    rng = np.random.default_rng(seed)
    rv = rng.normal(0, sigma, (T, 22, 3))
    ang = np.linalg.norm(rv, axis=-1, keepdims=True)
    q = np.concatenate([rv / ang * np.sin(ang / 2), np.cos(ang / 2)], -1)
    root = np.tile(CANONICAL.offsets[0], (T, 1)) + np.linspace(0, 1, T)[:, None] * [0.3, -1.0, 0.05]
    return Motion(CANONICAL, 30, root, q)


class Recorder(JobContext):
    def __init__(self):
        self.events = []
        super().__init__(on_progress=lambda s, t, eta, m: self.events.append(("progress", s, t)),
                         on_partial=lambda spec: self.events.append(("partial", spec)))


# ------------------------------------------------------------------------------------------------ convert
def test_canonical_spec_round_trip_and_partial_bone_lists():
    m = random_motion()
    spec = canonical_motion_to_spec(m, start_frame=7)
    assert spec.bones == list(CANONICAL_JOINTS) and spec.start_frame == 7 and spec.root_bone == "pelvis"
    back = spec_to_canonical_motion(MotionSpec.model_validate_json(spec.model_dump_json()))
    assert np.allclose(back.rotations, m.rotations, atol=1e-6) and np.allclose(back.root_pos, m.root_pos, atol=1e-6)
    # a spec naming only two joints leaves the others at rest
    sub = MotionSpec(bones=["left_knee", "pelvis"], parents=[-1, -1], fps=30,
                     rotations=Array.from_numpy(m.rotations[:, [4, 0]]), root_translation=Array.from_numpy(m.root_pos))
    mm = spec_to_canonical_motion(sub)
    assert np.allclose(mm.rotations[:, 4], m.rotations[:, 4], atol=1e-6)
    assert np.allclose(mm.rotations[:, 1], [0, 0, 0, 1])
    with pytest.raises(RequestError, match="'Hips'"):
        spec_to_canonical_motion(sub.model_copy(update={"bones": ["left_knee", "Hips"]}))


# ------------------------------------------------------------------------------------------------ in-between
def _canon_keys(m, frames, bones=CANONICAL_JOINTS, mask=None, offset=1):
    idx = [CANONICAL_JOINTS.index(b) for b in bones]
    return KeySpec(frames=[f + offset for f in frames], bones=list(bones),
                   rotations=Array.from_numpy(m.rotations[frames][:, idx]),
                   root_translation=Array.from_numpy(m.root_pos[frames]),
                   mask=None if mask is None else Array.from_numpy(mask))


def test_slerp_inbetween_canonical_keys_exact_and_slerp_between():
    m = random_motion(T=21)
    keys = _canon_keys(m, [0, 10, 20])
    res = inbetween.run(InbetweenRequest(keys=keys), Recorder())
    assert res.model == "slerp-baseline"
    s = res.motions[0]
    assert s.space == "canonical" and s.num_frames == 21 and s.start_frame == 1
    out, root = s.rotations.numpy(), s.root_translation.numpy()
    sent = keys.rotations.numpy()
    for k, f in enumerate([0, 10, 20]):
        assert np.array_equal(out[f], sent[k]), "keys must come back bit for bit"
        assert np.array_equal(root[f], keys.root_translation.numpy()[k])
    mid = np_quat_slerp(sent[0], sent[1], 0.3)
    assert np.degrees(np_quat_angle(out[3], mid)).max() < 1e-3
    assert np.allclose(root[5], (root[0] + root[10]) / 2, atol=1e-6)


def test_partial_body_keys_use_each_bones_own_keys():
    m = random_motion(T=21, seed=3)
    mask = np.ones((3, 22), np.float32)
    mask[1, CANONICAL_JOINTS.index("left_elbow")] = 0  # elbow keyed at 0 and 20 only: frame 10 is context
    keys = _canon_keys(m, [0, 10, 20], mask=mask)
    out = inbetween.run(InbetweenRequest(keys=keys), JobContext()).motions[0].rotations.numpy()
    e = CANONICAL_JOINTS.index("left_elbow")
    sent = keys.rotations.numpy()
    assert np.degrees(np_quat_angle(out[10, e], np_quat_slerp(sent[0, e], sent[2, e], 0.5))) < 1e-3
    assert not np.allclose(out[10, e], sent[1, e], atol=1e-3)
    k = CANONICAL_JOINTS.index("left_knee")
    assert np.array_equal(out[10, k], sent[1, k])


def test_frame_range_holds_outside_the_keys():
    m = random_motion(T=11)
    keys = _canon_keys(m, [0, 10], offset=5)  # keys at scene frames 5 and 15
    s = inbetween.run(InbetweenRequest(keys=keys, frame_range=(1, 20)), JobContext()).motions[0]
    out = s.rotations.numpy()
    assert s.start_frame == 1 and s.num_frames == 20
    assert np.array_equal(out[0], out[4]) and np.array_equal(out[4], keys.rotations.numpy()[0])
    assert np.array_equal(out[19], keys.rotations.numpy()[1])


@pytest.fixture(scope="module")
def rig():
    return mixamo_rig()


def _rig_keys(binding, pose, frames, bones=None, offset=1):
    bones = list(binding.spec.bones) if bones is None else bones
    rot, loc = pose_channels(pose, bones, binding.translation_bone)
    return KeySpec(frames=[f + offset for f in frames], bones=bones, rotations=Array.from_numpy(rot[frames]),
                   root_translation=Array.from_numpy(loc[frames]))


def test_rig_space_inbetween_goes_through_canonical_and_returns_exact_keys(rig):
    b = RigBinding(rig)
    pose = b.to_rig(random_motion(T=13, seed=5), contact_cleanup=False).pose
    keys = _rig_keys(b, pose, [0, 6, 12])
    ctx = Recorder()
    res = inbetween.run(InbetweenRequest(keys=keys, rig=rig), ctx)
    s = res.motions[0]
    assert s.space == "rig" and s.bones == list(rig.bones) and s.root_bone == "mixamorig:Hips"
    assert res.info["via_canonical"] == 1 and res.info["bones_via_canonical"] == 22
    assert res.info["bones_direct"] == 3  # the root, a finger and the head-top end map to no canonical joint
    out, sent = s.rotations.numpy(), keys.rotations.numpy()
    for k, f in enumerate([0, 6, 12]):
        assert np.array_equal(out[f], sent[k])
        assert np.array_equal(s.root_translation.numpy()[f], keys.root_translation.numpy()[k])
    # slerp commutes with the rest-frame change, so the detour through canonical must equal slerp in channels
    direct = slerp_channels(np.array([0, 6, 12]), sent.astype(float), np.ones(sent.shape[:2], bool),
                                      np.arange(13))
    assert np.degrees(np_quat_angle(out.astype(float), direct)).max() < 0.01
    assert [e[0] for e in ctx.events].count("partial") == 1
    steps = [e[1] for e in ctx.events if e[0] == "progress"]
    assert steps == sorted(steps) and steps[-1] == 3
    assert {e.canonical: e.bone for e in res.bone_map}["left_knee"] == "mixamorig:LeftLeg"


def test_rig_inbetween_of_a_subset_of_bones_with_a_legless_rig_interpolates_channels(rig):
    legless = rig.model_copy(update={"bones": [n.replace("Leg", "Limb").replace("Foot", "Paw") for n in rig.bones]})
    rng = np.random.default_rng(1)
    q = rng.normal(size=(3, 2, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    keys = KeySpec(frames=[0, 4, 8], bones=["mixamorig:Head", "mixamorig:LeftLimb"], rotations=Array.from_numpy(q),
                   root_translation=Array.from_numpy(rng.normal(size=(3, 3))))
    res = inbetween.run(InbetweenRequest(keys=keys, rig=legless), JobContext())
    s = res.motions[0]
    assert res.info["via_canonical"] == 0
    assert s.bones == ["mixamorig:Head", "mixamorig:LeftLimb", "mixamorig:Hips"]
    out = s.rotations.numpy()
    assert np.array_equal(out[[0, 4, 8], :2], q)
    assert np.degrees(np_quat_angle(out[2, :2], np_quat_slerp(q[0], q[1], 0.5))).max() < 1e-3
    assert np.allclose(s.root_translation.numpy()[2], keys.root_translation.numpy()[:2].mean(0), atol=1e-5)


# ------------------------------------------------------------------------------------------------ retarget
# The retargeting puts each side's floor at its lowest rest joint (the canonical toes, 2 cm up) unless the rig says
# where it stands; this rig's lowest joint is its root bone at the origin, so the tests that compare positions with
# the canonical body tell it that its floor is where the canonical one is.
CANONICAL_FLOOR = float(CANONICAL.rest_positions()[:, 2].min())


def test_retarget_canonical_onto_an_a_pose_rig_keeps_joint_positions(rig):
    m = random_motion(T=8, seed=2)
    on_floor = rig.model_copy(update={"floor": CANONICAL_FLOOR})
    req = RetargetRequest(source=canonical_motion_to_spec(m), target_rig=on_floor, contact_cleanup=False)
    res = retarget.run(req, JobContext())
    s = res.motions[0]
    b = RigBinding(on_floor)
    # the mapped bones and the hips' location; the root, the finger and the head-top end are left alone
    assert s.space == "rig" and set(s.bones) == set(b.mapping.values()) and s.root_bone == "mixamorig:Hips"
    assert s.location_bones is None and s.properties is None and res.info["contact_cleanup"] == "off"
    pos = joint_positions(b, s)
    got = np.stack([pos[b.mapping[c]] for c in CANONICAL_JOINTS], 1)
    # same body proportions: every mapped joint lands where the canonical joint is (to a tenth of a millimetre)
    assert np.abs(got - m.positions()).max() < 1e-4
    # without the floor, the rig stands on its lowest bone (the root at z = 0): the same motion, lowered 2 cm
    s0 = retarget.run(req.model_copy(update={"target_rig": rig}), JobContext()).motions[0]
    pos0 = joint_positions(RigBinding(rig), s0)
    got0 = np.stack([pos0[b.mapping[c]] for c in CANONICAL_JOINTS], 1)
    assert np.abs(got0 - got - [0.0, 0.0, -CANONICAL_FLOOR]).max() < 1e-4


def test_retarget_rig_to_rig(rig):
    src_spec = mixamo_rig(a_pose_deg=0.0, seed=7, extra_bones=False, prefix="", name="tpose")
    src = RigBinding(src_spec)
    m = random_motion(T=6, seed=4)
    source = src.pose_to_spec(src.to_rig(m, contact_cleanup=False).pose, start_frame=10)
    on_floor = rig.model_copy(update={"floor": CANONICAL_FLOOR})
    req = RetargetRequest(source=source, source_rig=src_spec, target_rig=on_floor, contact_cleanup=False)
    s = retarget.run(req, JobContext()).motions[0]
    assert s.start_frame == 10
    b = RigBinding(on_floor)
    pos = joint_positions(b, s)
    got = np.stack([pos[b.mapping[c]] for c in CANONICAL_JOINTS], 1)
    assert np.abs(got - m.positions()).max() < 1e-4


def test_retarget_checks_name_the_missing_joints(rig):
    # a whole leg with unrecognisable names (one odd name between named bones is found by chain topology)
    renames = {"LeftUpLeg": "LeftPart6", "LeftLeg": "LeftPart7", "LeftFoot": "LeftPart8", "LeftToeBase": "LeftPart9"}
    bones = [n.split(":")[0] + ":" + renames.get(n.split(":")[-1], n.split(":")[-1]) if ":" in n else n
             for n in rig.bones]
    legless = rig.model_copy(update={"bones": bones})
    req = RetargetRequest(source=canonical_motion_to_spec(random_motion(T=2)), target_rig=legless)
    with pytest.raises(RequestError, match="no bone found for left (hip|knee|ankle).*bone_map"):
        check_request(req)
    fixed = legless.model_copy(update={"bone_map": {"left_hip": "mixamorig:LeftPart6", "left_knee": "mixamorig:LeftPart7",
                                                    "left_ankle": "mixamorig:LeftPart8"}})
    check_request(req.model_copy(update={"target_rig": fixed}))


def test_bone_map_overrides_win(rig):
    spec = rig.model_copy(update={"bone_map": {"spine3": "mixamorig:Spine1"}})
    b = RigBinding(spec)
    assert b.mapping["spine3"] == "mixamorig:Spine1" and b.confidence["spine3"] == 1.0
    assert b.mapping.get("spine2") != "mixamorig:Spine1"  # a bone plays one joint only


# ------------------------------------------------------------------------------------------------ text2motion
@pytest.fixture(scope="module")
def retrieval():
    c = corpus()
    return RetrievalBaseline(corpus=c, encoder=TokenOverlapEncoder(
        [t for clip in c.clips for t in clip.texts]))


def test_retrieval_finds_the_described_clip(retrieval):
    assert retrieval.rank("a person is jumping")[0].clip.id == "jump_01"
    assert retrieval.rank("walks forward")[0].clip.id == "walk_01"
    assert retrieval.rank("wave hand")[0].clip.id == "wave_01"


def test_generate_fits_length_and_faces_minus_y(retrieval):
    for frames in (30, 200):  # a window of the 45-frame clip, and the clip looped
        req = Text2MotionRequest(prompt="a man waves", frames=frames, start_frame=5)
        ctx = Recorder()
        res = text2motion.run(req, ctx, retrieval)
        s = res.motions[0]
        assert s.num_frames == frames and s.start_frame == 5 and res.info["clip"] == "wave_01"
        m = spec_to_canonical_motion(s)
        assert abs(m.heading(0)) < 1e-6 and np.allclose(m.root_pos[0, :2], 0, atol=1e-9)
        assert [e[0] for e in ctx.events].count("partial") == 1


def test_looped_walk_keeps_going_forward_without_jumps(retrieval):
    s = text2motion.run(Text2MotionRequest(prompt="walking", frames=300), JobContext(), retrieval).motions[0]
    m = spec_to_canonical_motion(s)
    step = np.linalg.norm(np.diff(m.root_pos[:, :2], axis=0), axis=1)
    assert step.max() < 3 * np.median(step)  # no teleport at the loop seams
    assert m.root_pos[-1, 1] < -8.0  # 10 s at 1.2 m/s, minus crossfades
    ang = np.degrees(np_quat_angle(m.rotations[1:], m.rotations[:-1]))
    assert ang.max() < 20


def test_timed_trajectory_is_followed_and_the_body_turns_with_it(retrieval):
    T = 120
    path = np.stack([np.linspace(0, 3, T), np.zeros(T), np.zeros(T)], 1)  # walk along +X
    req = Text2MotionRequest(prompt="walks forward", frames=T, trajectory=Array.from_numpy(path))
    m = spec_to_canonical_motion(text2motion.run(req, JobContext(), retrieval).motions[0])
    assert np.allclose(m.root_pos[:, :2], path[:, :2], atol=1e-5)
    # facing +X means a heading of +90 degrees (0 = -Y, counter-clockwise)
    assert abs(np.degrees(np.median(m.heading())) - 90) < 10


def test_untimed_path_is_walked_end_to_end(retrieval):
    path = np.array([[0, 0, 0], [0, -2, 0], [2, -2, 0]], float)
    req = Text2MotionRequest(prompt="walks forward", frames=90, trajectory=Array.from_numpy(path),
                             trajectory_timed=False)
    m = spec_to_canonical_motion(text2motion.run(req, JobContext(), retrieval).motions[0])
    assert np.allclose(m.root_pos[0, :2], [0, 0], atol=1e-6) and np.allclose(m.root_pos[-1, :2], [2, -2], atol=1e-6)
    h = np.degrees(m.heading())
    assert abs(h[10]) < 15 and abs(h[-10] - 90) < 15  # first heads -Y, then +X


def test_variations_timeline_and_rig_output(retrieval, rig):
    req = Text2MotionRequest(prompt="a person walks forward", frames=60, num_variations=2, rig=rig,
                             timeline=[{"prompt": "jumping up", "start": 20, "end": 40}])
    res = text2motion.run(req, JobContext(), retrieval)
    assert len(res.motions) == 2 and all(s.space == "rig" and s.num_frames == 60 for s in res.motions)
    assert res.info["clips_used"] == 3
    assert not np.allclose(res.motions[0].rotations.numpy(), res.motions[1].rotations.numpy())
    assert res.bone_map is not None


def test_real_sentence_encoder_ranks_by_meaning():
    c = corpus()
    r = RetrievalBaseline(corpus=c)  # all-MiniLM-L6-v2, offline
    assert r.encoder.name == "all-MiniLM-L6-v2"
    assert r.rank("somebody hops up and down")[0].clip.id == "jump_01"
    assert r.rank("a woman strolls along")[0].clip.id in ("walk_01", "walk_02")
