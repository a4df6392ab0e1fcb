"""Bad requests get a 4xx with a sentence a person understands, and the server keeps serving."""
from __future__ import annotations

import base64
import http.client

import numpy as np
import pytest
from srv_rigs import mixamo_rig

from backend.motion.skeleton import CANONICAL_JOINTS
from backend.pipelines.text2motion import corpus_available
from backend.schema import Array


def arr(a):
    a = np.ascontiguousarray(np.asarray(a, "<f4"))
    return {"dtype": "float32", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}


def quats(*shape):
    q = np.zeros(shape + (4,), np.float32)
    q[..., 3] = 1
    return q


def keys(bones=("pelvis", "left_hip"), frames=(1, 10), rot=None, root=None):
    K, B = len(frames), len(bones)
    return {"frames": list(frames), "bones": list(bones), "rotations": arr(quats(K, B) if rot is None else rot),
            "root_translation": arr(np.zeros((K, 3)) if root is None else root)}


NAN_ROT = quats(2, 2)
NAN_ROT[1, 1, 2] = np.nan
INF_ROOT = np.zeros((2, 3), np.float32)
INF_ROOT[0, 0] = np.inf
RIG = mixamo_rig().model_dump()
def _without_legs(spec) -> dict:
    """The rig with its leg bones removed (renamed legs are still found: by topology and where they hang, and a leg
    may be a single bone since issue 16)."""
    keep = [i for i, b in enumerate(spec.bones) if not any(w in b for w in ("Leg", "Foot", "Toe"))]
    new = {old: k for k, old in enumerate(keep)}
    d = spec.model_dump()
    d["bones"] = [spec.bones[i] for i in keep]
    d["parents"] = [new.get(spec.parents[i], -1) for i in keep]
    d["rest_matrices"] = Array.from_numpy(spec.rest_matrices.numpy()[keep]).model_dump()
    if spec.tails is not None:
        d["tails"] = Array.from_numpy(spec.tails.numpy()[keep]).model_dump()
    return d


LEGLESS = _without_legs(mixamo_rig(prefix=""))

CASES = [
    # (name, body, status, words that must appear in the error)
    ("unknown task", {"task": "dance"}, 422, ["unknown task 'dance'", "text2motion"]),
    ("missing task", {"prompt": "walk"}, 422, ["\"task\" field"]),
    ("not an object", [1, 2, 3], 422, ["JSON object"]),
    ("wrong type", {"task": "echo", "steps": "many"}, 422, ["steps", "integer"]),
    ("unknown field", {"task": "echo", "stepz": 3}, 422, ["stepz", "unknown field"]),
    ("empty prompt", {"task": "text2motion", "prompt": "   "}, 422, ["prompt is empty"]),
    ("10 kB prompt", {"task": "text2motion", "prompt": "walk " * 2000}, 422, ["prompt", "at most 500"]),
    ("zero frames", {"task": "text2motion", "prompt": "walk", "frames": 0}, 422, ["frames", "greater than or equal"]),
    ("absurd length", {"task": "text2motion", "prompt": "walk", "frames": 20000}, 422, ["frames", "10000"]),
    ("NaN in a key", {"task": "inbetween", "keys": keys(rot=NAN_ROT)}, 422, ["keys.rotations", "NaN or infinity",
                                                                             "[1, 1, 2]"]),
    ("inf in a root", {"task": "inbetween", "keys": keys(root=INF_ROOT)}, 422, ["root_translation", "infinity"]),
    ("unknown canonical bone", {"task": "inbetween", "keys": keys(bones=("pelvis", "tail"))}, 422,
     ["'tail'", "not canonical"]),
    ("unknown rig bone", {"task": "inbetween", "rig": RIG, "keys": keys(bones=("mixamorig:Hips", "Wing"))}, 422,
     ["rig does not have", "Wing"]),
    ("keys span too long", {"task": "inbetween", "keys": keys(frames=(1, 20001))}, 422, ["20001 frames"]),
    ("one key only", {"task": "inbetween", "keys": keys(frames=(5,), rot=quats(1, 2), root=np.zeros((1, 3)))}, 422,
     ["at least two keyed frames"]),
    ("keys out of order", {"task": "inbetween", "keys": keys(frames=(10, 1))}, 422, ["strictly increasing"]),
    ("shape mismatch", {"task": "inbetween", "keys": {**keys(), "rotations": arr(quats(3, 2))}}, 422,
     ["shape [2, 2, 4]"]),
    ("bad base64", {"task": "inbetween", "keys": {**keys(), "rotations": {"shape": [2, 2, 4], "data": "!!"}}}, 422,
     ["not valid base64"]),
    ("byte count", {"task": "inbetween", "keys": {**keys(), "rotations": {"shape": [2, 2, 4], "data": "AAAAAA=="}}}, 422,
     ["holds 1 float32 values"]),
    ("zero quaternion", {"task": "inbetween", "keys": keys(rot=np.zeros((2, 2, 4)))}, 422, ["zero quaternion"]),
    ("rig without legs", {"task": "retarget", "target_rig": LEGLESS,
                          "source": {"bones": list(CANONICAL_JOINTS), "parents": [-1] + [0] * 21, "fps": 30,
                                     "rotations": arr(quats(2, 22)), "root_translation": arr(np.zeros((2, 3)))}},
     422, ["no bone found for", "bone_map"]),
    ("cyclic rig", {"task": "inbetween", "keys": keys(bones=("a",)),
                    "rig": {**RIG, "parents": [1, 0] + RIG["parents"][2:]}}, 422, ["cyclic"]),
    ("bone map to nowhere", {"task": "inbetween", "keys": keys(bones=("mixamorig:Hips",)),
                             "rig": {**RIG, "bone_map": {"pelvis": "Nope"}}}, 422, ["'Nope'", "not a bone"]),
    ("bone map from nowhere", {"task": "inbetween", "keys": keys(bones=("mixamorig:Hips",), rot=quats(2, 1)),
                               "rig": {**RIG, "bone_map": {"hips": "mixamorig:Hips"}}}, 422,
     ["canonical joints", "'hips'"]),
    ("location bones without locations", {"task": "inbetween", "rig": RIG, "keys": {
        **keys(bones=("mixamorig:Hips", "mixamorig:LeftFoot")), "location_bones": ["mixamorig:LeftFoot"]}}, 422,
     ["location_bones and locations must be given together"]),
    ("location keys of the wrong shape", {"task": "inbetween", "rig": RIG, "keys": {
        **keys(bones=("mixamorig:Hips", "mixamorig:LeftFoot")), "location_bones": ["mixamorig:LeftFoot"],
        "locations": arr(np.zeros((2, 3)))}}, 422, ["key locations must have shape [2, 1, 3]"]),
    ("location keys without a rig", {"task": "inbetween", "keys": {
        **keys(), "location_bones": ["left_hip"], "locations": arr(np.zeros((2, 1, 3)))}}, 422, ["send the rig"]),
    ("root bone as a location bone", {"task": "inbetween", "rig": RIG, "keys": {
        **keys(bones=("mixamorig:Hips", "mixamorig:Head")), "root_bone": "mixamorig:Hips",
        "location_bones": ["mixamorig:Hips"], "locations": arr(np.zeros((2, 1, 3)))}}, 422, ["do not list it"]),
    ("location keys on an unknown bone", {"task": "inbetween", "rig": RIG, "keys": {
        **keys(bones=("mixamorig:Hips", "mixamorig:Head")), "location_bones": ["Tail"],
        "locations": arr(np.zeros((2, 1, 3)))}}, 422, ["rig does not have", "Tail"]),
]


@pytest.mark.parametrize("name,body,status,words", CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_a_readable_4xx(client, name, body, status, words):
    got, resp = client.request("POST", "/v1/jobs", body)
    assert got == status, resp
    assert set(resp) <= {"error", "detail"}
    for w in words:
        assert w in resp["error"], (w, resp["error"])
    assert "Traceback" not in resp["error"] and "function-after" not in resp["error"]


def test_malformed_json_is_400(server):
    for raw in (b'{"task": "echo", ', b"{'task': 'echo'}", b"\xff\xfe", b'{"task": "echo", "steps": NaN}'):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", "/v1/jobs", body=raw, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        assert 400 <= r.status < 500, (raw, text)
        assert "JSON" in text or "NaN" in text


def test_wrong_content_type_is_415(client):
    status, body = client.request("POST", "/v1/jobs", b'{"task": "echo"}', headers={"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in body["error"]


def test_text2motion_is_accepted_with_a_corpus_and_refused_without(client):
    status, body = client.request("POST", "/v1/jobs", {"task": "text2motion", "prompt": "a person walks"})
    if corpus_available():
        assert status == 202
        client.cancel(body["job_id"])  # no need to load the sentence encoder here
    else:
        assert status == 422 and "motion corpus" in body["error"]


def test_server_keeps_serving_after_bad_input(client):
    for body in (b"\x00" * 100, b"{" * 5000, b'{"task": "echo", "steps": 1e400}'):
        client.request("POST", "/v1/jobs", body)
    assert client.health()["status"] == "ok"
    job = client.submit({"task": "echo", "steps": 1, "payload": "alive"})
    assert list(client.events(job))[-1]["result"]["info"]["payload"] == "alive"
