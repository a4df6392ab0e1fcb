"""The add-on's stdlib mirror of the wire schema and its HTTP/SSE client, checked against the backend's pydantic
schema and against byte-level edge cases (no Blender scene needed)."""
import io
import json

import numpy as np
import pytest
from pydantic import TypeAdapter

from backend import schema
from blender_addon import client, wire

JOB = TypeAdapter(schema.JobRequest)


def _rig(B=3):
    rest = np.tile(np.eye(4, dtype=np.float32), (B, 1, 1))
    rest[:, 2, 3] = np.arange(B)
    return wire.rig_spec("r", [f"b{i}" for i in range(B)], [-1] + list(range(B - 1)), rest, np.zeros((B, 3)),
                         np.eye(4), [True] * B, {"pelvis": "b0"})


def test_requests_validate_against_the_backend_schema():
    traj = np.stack([np.linspace(0, 2, 40), np.zeros(40), np.zeros(40)], 1)
    t2m = wire.text2motion_request(" walk ", 40, 24.0, start_frame=1, seed=5, num_variations=2, rig=_rig(),
                                   trajectory=traj, joint_targets=[("right_wrist", 10, (0.1, 0.2, 1.0))])
    m = JOB.validate_python(t2m)
    assert m.prompt == "walk" and m.trajectory.numpy().shape == (40, 3) and m.rig.bone_map == {"pelvis": "b0"}
    q = np.tile([0, 0, 0, 1.0], (2, 3, 1))
    keys = wire.key_spec([1, 9], ["b0", "b1", "b2"], q, np.zeros((2, 3)), np.ones((2, 3)), [True, False], "b0")
    ib = JOB.validate_python(wire.inbetween_request(keys, 30.0, rig=_rig(), frame_range=(1, 9)))
    assert ib.keys.frames == [1, 9] and ib.keys.mask.numpy().sum() == 6 and ib.keys.root_bone == "b0"
    src = wire.motion_spec(["b0", "b1", "b2"], [-1, 0, 1], 30.0, np.tile([0, 0, 0, 1.0], (5, 3, 1)), np.zeros((5, 3)),
                           1, "rig", "b0")
    rt = JOB.validate_python(wire.retarget_request(src, _rig(), 30.0, source_rig=_rig()))
    assert rt.source.num_frames == 5


def test_arrays_round_trip_and_refuse_nan():
    a = np.random.default_rng(0).normal(size=(3, 4, 4)).astype(np.float32)
    d = wire.encode_array(a)
    assert np.array_equal(schema.Array.model_validate(d).numpy(), a)
    assert np.array_equal(wire.decode_array(schema.Array.from_numpy(a).model_dump()), a)
    a[1, 2, 3] = np.nan
    with pytest.raises(wire.WireError, match=r"not a number \(at index \[1, 2, 3\]\)"):
        wire.encode_array(a, "key rotations")
    with pytest.raises(wire.WireError, match="needs 6"):
        wire.decode_array({"dtype": "float32", "shape": [2, 3], "data": "AAAAAA=="})
    with pytest.raises(wire.WireError, match="more than the backend's limit"):
        wire.text2motion_request("walk", 10_001, 30.0)


def test_sse_reader_handles_comments_retry_and_multiline_data():
    res = schema.JobResult(model="m", motions=[])
    ev = schema.JobEvent(type="result", job_id="j", seq=3, result=res).model_dump_json(exclude_none=True)
    stream = (b"retry: 1000\n\n: keep-alive\n\n"
              b"id: 0\nevent: progress\ndata: {\"type\": \"progress\", \"job_id\": \"j\",\n"
              b"data:  \"seq\": 0, \"step\": 1, \"total\": 4}\n\n"
              b"id: 3\r\nevent: result\r\ndata: " + ev.encode() + b"\r\n\r\n")
    events = list(client.SSEReader(io.BytesIO(stream)))
    assert [e.type for e in events] == ["progress", "result"]
    assert events[0].fraction == 0.25 and events[1].result.model == "m"
    with pytest.raises(wire.WireError, match="unknown event type"):
        list(client.SSEReader(io.BytesIO(b'data: {"type": "party"}\n\n')))


def test_backend_url_and_errors_read_as_words():
    with pytest.raises(client.BackendError, match="not a backend address"):
        client.Backend("localhost:8000")
    assert client.is_loopback("http://127.0.0.1:1") and client.is_loopback("http://localhost:1")
    assert not client.is_loopback("http://gpu-box:8000") and not client.is_loopback("http://10.0.0.2:80")
    body = json.dumps({"error": "keys.rotations: array contains NaN or infinity at index [0, 3, 1]"}).encode()
    assert client._error_text(422, body) == ("the backend rejected the request: keys.rotations: array contains NaN "
                                             "or infinity at index [0, 3, 1]")
    assert "wrong or missing token" in client._error_text(401, b'{"error": "missing bearer token"}')
    fastapi_style = json.dumps({"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}).encode()
    assert client._error_text(422, fastapi_style).endswith("prompt: field required")
