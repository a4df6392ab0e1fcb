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


def _rig_result(T=5, L=2):
    """A rig-space MotionSpec with every optional channel, built and checked by the backend's own schema."""
    rng = np.random.default_rng(1)
    q = rng.normal(size=(T, 4, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return schema.MotionSpec(
        space="rig", bones=["Body", "Foot.L", "Foot.R", "torso"], parents=[-1, -1, -1, -1], fps=24.0, start_frame=3,
        rotations=schema.Array.from_numpy(q), root_translation=schema.Array.from_numpy(rng.normal(size=(T, 3))),
        root_bone="Body", location_bones=["Foot.L", "Foot.R"][:L],
        locations=schema.Array.from_numpy(rng.normal(size=(T, L, 3))),
        properties=[schema.PoseBoneProperty(bone="thigh_parent.L", name="IK_FK", value=1.0),
                    schema.PoseBoneProperty(bone="torso", name="neck_follow", value=0.5)])


def test_rig_results_with_location_bones_and_properties_are_read():
    spec = _rig_result()
    d = json.loads(spec.model_dump_json(exclude_none=True))
    m = wire.parse_motion(d)
    assert m.location_bones == ["Foot.L", "Foot.R"] and m.root_bone == "Body"
    np.testing.assert_array_equal(m.locations, spec.locations.numpy())
    assert m.properties == [wire.PoseBoneProperty("thigh_parent.L", "IK_FK", 1.0),
                            wire.PoseBoneProperty("torso", "neck_follow", 0.5)]
    # the v1 reply without the optional channels still reads (nothing to write beyond the root)
    for k in ("location_bones", "locations", "properties"):
        d.pop(k)
    m = wire.parse_motion(d)
    assert m.location_bones == [] and m.locations is None and m.properties == []
    # a result event whose bone map leaves a joint out (null or missing "bone")
    res = schema.JobResult(model="m", motions=[spec], bone_map=[
        schema.BoneMapEntry(canonical="pelvis", bone="Body", confidence=0.9),
        schema.BoneMapEntry(canonical="jaw", bone=None, confidence=0.0)])
    ev = wire.parse_event("result", schema.JobEvent(type="result", job_id="j", seq=1, result=res)
                          .model_dump_json(exclude_none=True))
    assert [(e.canonical, e.bone) for e in ev.result.bone_map] == [("pelvis", "Body"), ("jaw", None)]
    assert ev.result.motions[0].properties[0].name == "IK_FK"


@pytest.mark.parametrize("break_it, message", [
    (lambda d: d.pop("locations"), "location_bones without locations"),
    (lambda d: d.update(location_bones=["Foot.L"]), r"shape \[5, 2, 3\], expected \[5, 1, 3\]"),
    (lambda d: d.update(location_bones=["Foot.L", "Foot.L"]), "lists a bone twice"),
    (lambda d: d.update(location_bones=["Foot.L", "Hand.L"]), "does not list: 'Hand.L'"),
    (lambda d: d.update(location_bones=["Foot.L", "Body"]), "root bone 'Body' among the location bones"),
    (lambda d: d["properties"].append({"bone": "torso", "name": "neck_follow", "value": 1.0}), "twice"),
    (lambda d: d["properties"].append({"bone": "torso", "value": 1.0}), "malformed pose-bone property"),
    (lambda d: d["properties"].append({"bone": "torso", "name": "x", "value": "NaN"}), "not a number"),
    (lambda d: d.update(properties={"IK_FK": 1}), "not a list"),
])
def test_malformed_rig_channels_are_refused_in_words(break_it, message):
    d = json.loads(_rig_result().model_dump_json(exclude_none=True))
    break_it(d)
    with pytest.raises(wire.WireError, match=message):
        wire.parse_motion(d)


def test_location_keys_and_source_locations_validate_against_the_backend():
    q = np.tile([0, 0, 0, 1.0], (2, 3, 1))
    locs = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    keys = wire.key_spec([1, 9], ["b0", "b1", "b2"], q, np.zeros((2, 3)), np.ones((2, 3)), [True, True], "b0",
                         ["b1", "b2"], locs)
    ib = JOB.validate_python(wire.inbetween_request(keys, 30.0, rig=_rig(), frame_range=(1, 9)))
    assert ib.keys.location_bones == ["b1", "b2"] and np.array_equal(ib.keys.locations.numpy(), locs)
    src = wire.motion_spec(["b0", "b1", "b2"], [-1, 0, 1], 30.0, np.tile([0, 0, 0, 1.0], (5, 3, 1)),
                           np.zeros((5, 3)), 1, "rig", "b0", ["b2"], np.ones((5, 1, 3)))
    rt = JOB.validate_python(wire.retarget_request(src, _rig(), 30.0, source_rig=_rig()))
    assert rt.source.location_bones == ["b2"]
    with pytest.raises(wire.WireError, match="expected"):
        wire.key_spec([1, 9], ["b0"], q[:, :1], np.zeros((2, 3)), location_bones=["b1"], locations=locs)
    with pytest.raises(wire.WireError, match="not a number"):
        wire.key_spec([1, 9], ["b0"], q[:, :1], np.zeros((2, 3)), location_bones=["b1"],
                      locations=np.full((2, 1, 3), np.nan))


def _src(T=5, fps=30.0):
    return wire.motion_spec(["b0", "b1", "b2"], [-1, 0, 1], fps, np.tile([0, 0, 0, 1.0], (T, 3, 1)),
                            np.zeros((T, 3)), 1, "rig", "b0")


@pytest.mark.parametrize("reference", ["auto", "rest", "tpose", 0, 4])
def test_model_and_source_reference_validate_against_the_backend_schema(reference):
    rt = JOB.validate_python(wire.retarget_request(_src(), _rig(), 30.0, source_rig=_rig(), model="rest-offset-transfer",
                                                   source_reference=reference))
    assert rt.model == "rest-offset-transfer" and rt.source_reference == reference
    t2m = wire.text2motion_request("walk", 10, 30.0, rig=_rig(), model=None)
    assert "model" not in t2m and JOB.validate_python(t2m).model is None  # default: the active model
    assert "exemplar_strength" not in t2m and JOB.validate_python(t2m).exemplar_strength is None
    t2m = wire.text2motion_request("walk", 10, 30.0, rig=_rig(), exemplar_strength=0.6)
    assert JOB.validate_python(t2m).exemplar_strength == 0.6


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_an_invention_outside_0_1_is_refused_by_both_sides(strength):
    with pytest.raises(wire.WireError, match="invention"):
        wire.text2motion_request("walk", 10, 30.0, exemplar_strength=strength)
    body = wire.text2motion_request("walk", 10, 30.0)
    body["exemplar_strength"] = strength
    with pytest.raises(ValueError):
        JOB.validate_python(body)


@pytest.mark.parametrize("reference", [5, -1, "first", 1.5])
def test_a_bad_source_reference_is_refused_by_both_sides(reference):
    with pytest.raises(wire.WireError, match="reference"):
        wire.retarget_request(_src(), _rig(), 30.0, source_rig=_rig(), source_reference=reference)
    body = wire.retarget_request(_src(), _rig(), 30.0, source_rig=_rig())
    body["source_reference"] = reference
    with pytest.raises(ValueError):
        JOB.validate_python(body)


@pytest.mark.parametrize("fps", [0.5, 0.99, 1.0, 24.0, 240.0, 240.5, 1e-300, float("inf")])
def test_the_addon_refuses_exactly_the_frame_rates_the_backend_refuses(fps):
    body = {"task": "text2motion", "prompt": "walk", "frames": 10, "fps": fps}
    try:
        JOB.validate_python(body)
        backend_ok = True
    except ValueError:
        backend_ok = False
    try:
        wire.text2motion_request("walk", 10, fps)
        addon_ok = True
    except wire.WireError as e:
        assert "fps, outside the 1-240 fps the backend works with" in str(e)
        addon_ok = False
    assert addon_ok == backend_ok == (1.0 <= fps <= 240.0)


@pytest.mark.parametrize("frames,variations", [(10_000, 1), (10_000, 8), (5_000, 8), (4_500, 8)])
def test_the_addon_refuses_exactly_the_sizes_the_backend_refuses(frames, variations):
    rig = _rig(50)
    body = wire.text2motion_request("walk", 10, 30.0, rig=rig)
    body.update(frames=frames, num_variations=variations)
    try:
        JOB.validate_python(body)
        backend_ok = True
    except ValueError:
        backend_ok = False
    try:
        wire.text2motion_request("walk", frames, 30.0, rig=rig, num_variations=variations)
        addon_ok = True
    except wire.WireError as e:
        assert "bone-frames, more than the backend's limit of 2,000,000" in str(e)
        addon_ok = False
    assert addon_ok == backend_ok == (frames * 50 * variations <= 2_000_000)


@pytest.mark.parametrize("T,src_fps,fps", [(100, 30.0, 30.0), (100, 30.0, 24.0), (7, 120.0, 30.0), (2, 1.0, 240.0)])
def test_retarget_result_frames_equal_the_backends(T, src_fps, fps):
    rt = JOB.validate_python(wire.retarget_request(_src(T, src_fps), _rig(), fps, source_rig=_rig()))
    assert wire.retarget_result_frames(T, src_fps, fps) == rt.result_frames


def test_a_rig_over_the_bone_limit_is_refused_in_words():
    B = wire.MAX_BONES + 1
    with pytest.raises(wire.WireError, match="rig 'big' has 1001 bones, more than the backend's limit of 1,000"):
        wire.rig_spec("big", [f"b{i}" for i in range(B)], [-1] * B, np.tile(np.eye(4), (B, 1, 1)))


def test_task_models_reads_the_model_list():
    models = [{"name": "b", "task": "inbetween", "kind": "baseline", "active": False},
              {"name": "a", "task": "inbetween", "kind": "learned", "active": True, "available": False, "note": "x"},
              {"name": "c", "task": "retarget"}, "junk", {"task": "inbetween"}]
    got = wire.task_models(models, "inbetween")
    assert [(c.name, c.active, c.available) for c in got] == [("a", True, False), ("b", False, True)]
    assert wire.check_model(models, "inbetween", "b") == "b" and wire.check_model(models, "inbetween", "") is None
    with pytest.raises(wire.WireError, match="'a' is not available on this backend \\(x\\)"):
        wire.check_model(models, "inbetween", "a")


def test_a_source_motion_outside_the_frame_rates_says_so():
    with pytest.raises(wire.WireError, match="the source motion runs at 480 fps, outside the 1-240 fps the backend "
                                             "works with: resample it"):
        _src(5, 480.0)
