"""Real tasks through the service: what the add-on sends and gets back survives the wire exactly."""
from __future__ import annotations

import numpy as np
import pytest

from backend.pipelines.convert import canonical_motion_to_spec
from backend.pipelines.rigs import RigBinding
from backend.pipelines.text2motion import corpus_available
from backend.schema import Array, JobResult, KeySpec
from srv_rigs import mixamo_rig
from test_pipelines import random_motion


def test_rig_inbetween_over_http_returns_the_sent_keys_bit_for_bit(client):
    rig = mixamo_rig()
    b = RigBinding(rig)
    m = b.from_canonical(random_motion(T=31, seed=9))
    bones = ["mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:Spine2", "mixamorig:Root"]
    pose, loc = b.motion_to_channels(m, bones)
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
    # the model loaded once for this job and stays warm
    slerp = [m for m in client.models() if m["name"] == "slerp-baseline"][0]
    assert slerp["loaded"] and slerp["active"]


def test_retarget_over_http(client):
    rig = mixamo_rig()
    m = random_motion(T=10, seed=11)
    req = {"task": "retarget", "source": canonical_motion_to_spec(m).model_dump(mode="json"),
           "target_rig": rig.model_dump(mode="json")}
    result = JobResult.model_validate(client.run(req))
    assert result.model == "rest-offset-transfer"
    b = RigBinding(rig)
    pos = b.spec_to_motion(result.motions[0]).positions()
    idx = [b.rig.index(b.mapping[c]) for c in m.skeleton.names]
    assert np.abs(pos[:, idx] - m.positions()).max() < 1e-4


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
        assert result.model == "text2motion-diffusion"
        assert sum(e["type"] == "progress" for e in events) >= 10
    else:
        assert result.model == "retrieval-baseline" and "walk" in str(result.info["match_text"]).lower()
    s = result.motions[0]
    assert s.space == "rig" and s.num_frames == T and s.start_frame == 10
    # on the rig, the hips follow the path: the motion converted back to the world puts the root on it
    b = RigBinding(rig)
    m = b.spec_to_motion(s)
    hips = m.positions()[:, b.rig.index("mixamorig:Hips")]
    assert np.abs(hips[:, :2] - path[:, :2]).max() < 0.05
    assert any(e["type"] == "partial" for e in events)
