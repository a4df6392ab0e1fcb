"""Real tasks through the service: what the add-on sends and gets back survives the wire exactly."""
from __future__ import annotations

import numpy as np
import pytest
from srv_rigs import joint_positions, mixamo_rig, pose_channels
from test_pipelines import CANONICAL_FLOOR, random_motion

from backend.pipelines.convert import canonical_motion_to_spec
from backend.pipelines.rigs import RigBinding
from backend.pipelines.text2motion import corpus_available
from backend.schema import Array, JobResult, KeySpec


def test_rig_inbetween_over_http_returns_the_sent_keys_bit_for_bit(client):
    rig = mixamo_rig()
    b = RigBinding(rig)
    bones = ["mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:Spine2", "mixamorig:Root"]
    pose, loc = pose_channels(b.to_rig(random_motion(T=31, seed=9)).pose, bones, b.translation_bone)
    frames = [0, 15, 30]
    keys = KeySpec(frames=[f + 101 for f in frames], bones=bones, rotations=Array.from_numpy(pose[frames]),
                   root_translation=Array.from_numpy(loc[frames]))
    req = {"task": "inbetween", "rig": rig.model_dump(mode="json"), "keys": keys.model_dump(mode="json")}
    events = []
    result = JobResult.model_validate(client.run(req, on_event=events.append))
    assert [e["type"] for e in events][:2] == ["queued", "started"] and events[-1]["type"] == "result"
    assert any(e["type"] == "partial" for e in events)
    s = result.motions[0]
    assert s.start_frame == 101 and s.num_frames == 31 and s.bones == bones and s.root_bone == "mixamorig:Hips"
    out = s.rotations.numpy()
    assert np.array_equal(out[frames], keys.rotations.numpy())
    assert np.array_equal(s.root_translation.numpy()[frames], keys.root_translation.numpy())
    # the (learned) model loaded once for this job and stays warm
    assert result.model == "inbetween-delta-transformer"
    learned = next(m for m in client.models() if m["name"] == result.model)
    assert learned["loaded"] and learned["active"]


def test_retarget_over_http(client):
    rig = mixamo_rig().model_copy(update={"floor": CANONICAL_FLOOR})  # stands where the canonical body does
    m = random_motion(T=10, seed=11)
    req = {"task": "retarget", "source": canonical_motion_to_spec(m).model_dump(mode="json"),
           "target_rig": rig.model_dump(mode="json"), "contact_cleanup": False}
    result = JobResult.model_validate(client.run(req))
    assert result.model == "rest-offset-transfer"
    b = RigBinding(rig)
    pos = joint_positions(b, result.motions[0])
    got = np.stack([pos[b.mapping[c]] for c in m.skeleton.names], 1)
    assert np.abs(got - m.positions()).max() < 1e-4


def test_retarget_results_carry_locations_and_properties_over_http(client):
    """Feet parented to the root come back as location channels, Rigify's IK/FK switches as properties."""
    from test_rig_channels import fixture_rig
    m = random_motion(T=8, seed=12)
    source = canonical_motion_to_spec(m).model_dump(mode="json")
    q = JobResult.model_validate(client.run({"task": "retarget", "source": source,
                                             "target_rig": fixture_rig("quaternius_male_casual").model_dump(mode="json")}))
    s = q.motions[0]
    assert s.root_bone == "Body" and s.location_bones == ["Foot.L", "Foot.R"] and s.locations.shape == [8, 2, 3]
    assert np.ptp(s.locations.numpy(), axis=0).max() > 0.05 and q.info["location_bones"] == 2
    r = JobResult.model_validate(client.run({"task": "retarget", "source": source,
                                             "target_rig": fixture_rig("rigify_basic_human").model_dump(mode="json")}))
    props = {(p.bone, p.name): p.value for p in r.motions[0].properties}
    assert props[("thigh_parent.L", "IK_FK")] == 1.0 and props[("torso", "neck_follow")] == 1.0
    assert r.motions[0].root_bone == "torso" and r.info["properties"] == len(props)
    by = {e.canonical: (e.bone, e.confidence) for e in r.bone_map}
    assert by["left_knee"] == ("shin_fk.L", 1.0)


def test_bonemap_endpoint(client):
    rig = mixamo_rig()
    entries = client.bonemap(rig.model_dump(mode="json"))
    by = {e["canonical"]: e for e in entries}
    assert len(entries) == 22
    assert by["pelvis"]["bone"] == "mixamorig:Hips" and by["pelvis"]["confidence"] == 1.0
    assert by["left_wrist"]["bone"] == "mixamorig:LeftHand"
    over = client.bonemap({**rig.model_dump(mode="json"), "bone_map": {"head": "mixamorig:Neck"}})
    by = {e["canonical"]: e for e in over}
    assert by["head"]["bone"] == "mixamorig:Neck" and by["neck"]["bone"] is None
    status, body = client.request("POST", "/v1/bonemap", {**rig.model_dump(mode="json"), "parents": [0] * 25})
    assert status == 422 and "cyclic parent chain" in body["error"]


@pytest.mark.skipif(not corpus_available(), reason="the motion corpus (data/corpus) is not built")
def test_text2motion_on_the_real_corpus_over_http(client):
    rig = mixamo_rig()
    T = 90
    path = np.stack([np.linspace(0, 2.5, T), np.zeros(T), np.zeros(T)], 1)  # walk 2.5 m along +X
    req = {"task": "text2motion", "prompt": "a person walks forward", "frames": T, "start_frame": 10,
           "trajectory": Array.from_numpy(path).model_dump(mode="json"), "rig": rig.model_dump(mode="json")}
    events = []
    result = JobResult.model_validate(client.run(req, on_event=events.append))
    from backend.pipelines.text2motion import learned_available
    if learned_available():  # the diffusion model: one progress event per denoising step, previews as partials
        from backend.models.diffusion.schedule import CosineSchedule
        assert result.model == "text2motion-diffusion" and result.info["exemplar_text"]
        strength, sch = result.info["exemplar_strength"], CosineSchedule(100)
        steps = len(sch.timesteps_from(strength, 10)) + len(sch.timesteps_from(strength, 5))  # + the pre-pass
        assert sum(e["type"] == "progress" and e.get("total", 0) > 0 for e in events) == steps
    else:
        assert result.model == "retrieval-baseline" and "walk" in str(result.info["match_text"]).lower()
    s = result.motions[0]
    assert s.space == "rig" and s.num_frames == T and s.start_frame == 10
    # on the rig, the hips follow the path: the motion converted back to the world puts the root on it
    b = RigBinding(rig)
    hips = joint_positions(b, s)["mixamorig:Hips"]
    assert np.abs(hips[:, :2] - path[:, :2]).max() < 0.05
    assert any(e["type"] == "partial" for e in events)


def test_retarget_from_a_file_whose_rest_is_its_first_frame_over_http(client):
    """Issue 16 over a real socket: a rig-space source (``Neo_`` names, away from the origin, its rest pose a turned
    frame of the walk) is read against an estimated T-pose by default, the result says so, and the limbs and heading
    of the result follow the source; a reference frame outside the motion is a 422 with a sentence."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "retarget"))
    from source_rigs import CMU, cmu_clip, file_rig, limb_and_heading_errors

    from backend.pipelines.files import rig_spec_from_rig
    m = cmu_clip(40, yaw=79.0)
    rig, pose = file_rig(m, "Neo_", shift=(2.0, -3.0, 0.0), rest_frame=0, roll=30.0)
    spec = rig_spec_from_rig(rig)
    source = RigBinding(spec).pose_to_spec(pose, 0, root_bone=rig.names[0])
    target = mixamo_rig()
    req = {"task": "retarget", "source": source.model_dump(mode="json"), "source_rig": spec.model_dump(mode="json"),
           "target_rig": target.model_dump(mode="json"), "contact_cleanup": False}
    result = JobResult.model_validate(client.run(req))
    assert result.info["source_reference"].startswith("T-pose estimated from the skeleton")
    assert 1.0 < result.info["target_height_m"] < 2.5
    b = RigBinding(target)
    out = b.world_motion(b.spec_to_pose(result.motions[0]))
    limb, heading = limb_and_heading_errors(m, CMU, out, b.mapping)
    assert limb < 5.0 and heading < 5.0, (limb, heading)
    status, body = client.request("POST", "/v1/jobs", {**req, "source_reference": 40})
    assert status == 422 and "source_reference frame 40 is outside the source motion" in str(body), body
