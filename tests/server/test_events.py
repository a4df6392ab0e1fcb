"""Job events over a real socket: order, partials, replay after reconnect, disconnects, status and result."""
from __future__ import annotations

import http.client
import json

import pytest

from backend.server.client import BackendHTTPError


def echo(steps=3, step_ms=0.0, payload="", partial_every=0):
    return {"task": "echo", "steps": steps, "step_ms": step_ms, "payload": payload, "partial_every": partial_every}


def test_event_order_for_a_job(client):
    job = client.submit(echo(steps=4, payload="order", partial_every=2))
    evs = list(client.events(job))
    types = [e["type"] for e in evs]
    assert types == ["queued", "started", "progress", "progress", "partial", "progress", "progress", "partial",
                     "result"]
    assert [e["seq"] for e in evs] == list(range(len(evs)))
    assert all(e["job_id"] == job for e in evs)
    steps = [e["step"] for e in evs if e["type"] == "progress"]
    assert steps == [1, 2, 3, 4] and all(e["total"] == 4 for e in evs if e["type"] == "progress")
    eta = [e["eta_s"] for e in evs if e["type"] == "progress"]
    assert eta[-1] == 0 and all(x >= 0 for x in eta)
    partial = evs[4]["partial"]
    assert partial["space"] == "canonical" and partial["rotations"]["shape"] == [1, 22, 4]
    assert evs[-1]["result"]["info"]["payload"] == "order" and evs[-1]["result"]["model"] == "echo"
    assert client.status(job)["status"] == "done"


def test_sse_framing_is_plain_lines(server):
    """What a stdlib client sees: `id:`, `event:`, one `data:` line of JSON, blank line; nothing else."""
    c = server.client()
    job = c.submit(echo(steps=1))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", f"/v1/jobs/{job}/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    text = resp.read().decode()
    conn.close()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert blocks[0] == "retry: 1000"
    for seq, b in enumerate(blocks[1:]):
        lines = b.split("\n")
        assert lines[0] == f"id: {seq}" and lines[1].startswith("event: ") and lines[2].startswith("data: ")
        assert len(lines) == 3
        assert json.loads(lines[2][6:])["type"] == lines[1][7:]
    assert blocks[-1].split("\n")[1] == "event: result"


def test_reconnect_gets_missed_events_and_result(client):
    job = client.submit(echo(steps=5, step_ms=20, payload="again"))
    first = []
    for ev in client.events(job):
        first.append(ev)
        if ev["type"] == "started":
            break  # the client goes away mid-stream
    rest = list(client.events(job, after=first[-1]["seq"]))
    assert rest[0]["seq"] == first[-1]["seq"] + 1
    assert [e["type"] for e in first + rest] == ["queued", "started"] + ["progress"] * 5 + ["result"]
    # long after the end, a reconnect from the start replays everything, result included
    again = list(client.events(job))
    assert again == first + rest
    assert client.events(job, after=again[-1]["seq"] - 1).__next__()["type"] == "result"


def test_disconnect_mid_stream_does_not_kill_the_job(server):
    c = server.client()
    job = c.submit(echo(steps=20, step_ms=10, payload="survivor"))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", f"/v1/jobs/{job}/events")
    resp = conn.getresponse()
    while b"event: progress" not in resp.readline():
        pass
    conn.sock.close()  # hang up abruptly
    conn.close()
    evs = list(c.events(job))
    assert evs[-1]["type"] == "result" and evs[-1]["result"]["info"]["payload"] == "survivor"
    assert [e["step"] for e in evs if e["type"] == "progress"] == list(range(1, 21))


def test_status_and_result_endpoints(client):
    job = client.submit(echo(steps=2, payload="st"))
    list(client.events(job))
    st = client.status(job)
    assert st == {"job_id": job, "task": "echo", "status": "done", "step": 2, "total": 2, "message": None,
                  "working": False}
    status, res = client.request("GET", f"/v1/jobs/{job}/result")
    assert status == 200 and res["info"]["payload"] == "st"


def test_unknown_job_is_404_everywhere(client):
    for method, path in (("GET", "/v1/jobs/nope"), ("GET", "/v1/jobs/nope/events"), ("DELETE", "/v1/jobs/nope"),
                         ("GET", "/v1/jobs/nope/result")):
        status, body = client.request(method, path)
        assert status == 404, (method, path)
        assert "no job 'nope'" in body["error"]
    with pytest.raises(BackendHTTPError) as e:
        list(client.events("nope"))
    assert e.value.status == 404


def test_health_and_models(client):
    h = client.health()
    assert h["status"] == "ok" and h["schema_version"] == "1" and h["device"] in ("cpu", "cuda")
    assert isinstance(h["queue_length"], int)
    models = client.models()
    by_task = {m["task"]: m for m in models if m["active"]}
    assert {"echo", "inbetween", "retarget"} <= set(by_task)
    # the learned in-betweener is active (its weights are committed); the baseline stays listed by name
    assert by_task["inbetween"]["name"] == "inbetween-delta-transformer" and by_task["inbetween"]["kind"] == "learned"
    assert by_task["inbetween"]["eval_summary"]
    assert any(m["name"] == "slerp-baseline" and not m["active"] for m in models)
    t2m = [m for m in models if m["task"] == "text2motion"]
    assert any(m["name"] == "retrieval-baseline" and m["kind"] == "baseline" for m in t2m)  # kept by name
    from backend.pipelines.text2motion import learned_available
    if learned_available():  # the learned model serves text2motion once its weights are committed
        assert by_task["text2motion"]["name"] == "text2motion-diffusion"
        assert by_task["text2motion"]["kind"] == "learned"
    assert all(m["training_data"] for m in models)


def test_openapi_is_served_and_names_the_contract(client):
    status, spec = client.request("GET", "/openapi.json")
    assert status == 200
    paths = spec["paths"]
    assert {"/health", "/v1/models", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events",
            "/v1/bonemap"} <= set(paths)
    body = paths["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "task"
    assert set(body["discriminator"]["mapping"]) == {"text2motion", "inbetween", "retarget", "echo"}
    assert "text/event-stream" in paths["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    for name in ("MotionSpec", "RigSpec", "KeySpec", "JobEvent", "JobResult", "Array"):
        assert name in spec["components"]["schemas"]
