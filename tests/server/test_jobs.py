"""Cancel, concurrency, queue limits, timeouts and a server that dies: asserted on events and states only."""
from __future__ import annotations

import http.client
import threading
import time

import pytest
from srv_live import start_server

from backend.server.client import BackendGone, BackendHTTPError


def echo(steps=3, step_ms=0.0, payload=""):
    return {"task": "echo", "steps": steps, "step_ms": step_ms, "payload": payload}


def test_cancel_stops_a_running_job_within_one_step(client):
    job = client.submit(echo(steps=1000, step_ms=20))
    stream = client.events(job)
    for ev in stream:
        if ev["type"] == "progress" and ev["step"] >= 2:
            break
    st = client.cancel(job)
    at_cancel = st["step"]
    rest = list(stream)
    assert rest[-1]["type"] == "cancelled"
    assert rest[-1]["step"] <= at_cancel + 1, "the runner went on past the next step"
    assert all(e["step"] <= at_cancel + 1 for e in rest if e["type"] == "progress")
    assert client.status(job)["status"] == "cancelled"
    assert "cancelled at step" in rest[-1]["message"]
    # cancelling again leaves it as it is
    assert client.cancel(job)["status"] == "cancelled"


def test_cancel_a_queued_job_and_a_finished_one(server):
    c = server.client()
    blocker = c.submit(echo(steps=1000, step_ms=20))
    queued = c.submit(echo(steps=1, payload="never"))
    assert c.status(queued)["status"] == "queued"
    assert c.cancel(queued)["status"] == "cancelled"
    evs = list(c.events(queued))
    assert [e["type"] for e in evs] == ["queued", "cancelled"]
    c.cancel(blocker)
    assert list(c.events(blocker))[-1]["type"] == "cancelled"
    done = c.submit(echo(steps=1, payload="kept"))
    list(c.events(done))
    assert c.cancel(done)["status"] == "done"
    assert list(c.events(done))[-1]["result"]["info"]["payload"] == "kept"


def test_twenty_jobs_at_once_all_finish_none_lost_or_mixed(server):
    c = server.client()
    ids: dict[int, str] = {}
    errors = []

    def submit(i):
        try:
            ids[i] = c.submit(echo(steps=3, step_ms=5, payload=f"job-{i}"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(ids) == 20 and len(set(ids.values())) == 20
    results: dict[int, list] = {}

    def follow(i):
        results[i] = list(c.events(ids[i]))

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 20
    for i, evs in results.items():
        assert [e["type"] for e in evs] == ["queued", "started", "progress", "progress", "progress", "result"]
        assert all(e["job_id"] == ids[i] for e in evs)
        assert evs[-1]["result"]["info"]["payload"] == f"job-{i}"


@pytest.fixture(scope="module")
def tight_server():
    s = start_server("--max-queue", "2", "--job-timeout", "1", "--keep-results", "1", "--keepalive", "0.2")
    yield s
    s.stop()


def test_full_queue_is_503_with_a_reason_and_the_server_keeps_serving(tight_server):
    c = tight_server.client()
    running = c.submit(echo(steps=1000, step_ms=100))
    for ev in c.events(running):
        if ev["type"] == "started":
            break
    waiting = [c.submit(echo(steps=1)), c.submit(echo(steps=1))]
    with pytest.raises(BackendHTTPError) as e:
        c.submit(echo(steps=1))
    assert e.value.status == 503 and "queue is full" in e.value.message
    assert c.health()["queue_length"] == 2
    for j in [running] + waiting:
        c.cancel(j)
    assert c.submit(echo(steps=1))


def test_a_job_past_its_timeout_ends_with_an_error(tight_server):
    c = tight_server.client()
    job = c.submit(echo(steps=1000, step_ms=50))
    evs = list(c.events(job))
    assert evs[-1]["type"] == "error" and "longer than 1 s" in evs[-1]["message"]
    assert c.status(job)["status"] == "error"
    assert evs[-2]["type"] == "progress" and evs[-2]["step"] < 1000


def test_quiet_streams_get_keepalive_comments(tight_server):
    job = tight_server.client().submit(echo(steps=1, step_ms=600))  # quiet for 0.6 s; keep-alive every 0.2 s
    conn = http.client.HTTPConnection("127.0.0.1", tight_server.port, timeout=30)
    conn.request("GET", f"/v1/jobs/{job}/events")
    text = conn.getresponse().read().decode()
    conn.close()
    assert ": keep-alive\n\n" in text
    assert text.endswith("\n\n") and ("event: result" in text or "event: error" in text)


def test_finished_jobs_are_forgotten_after_the_retention_period():
    """The janitor's sweep on a clock the test sets: kept up to ``keep_results_s`` after finishing, gone after."""
    from backend.pipelines import run_job
    from backend.schema import EchoRequest
    from backend.server.jobs import JobManager
    m = JobManager(run_job, keep_results_s=30.0)
    m.start(None)
    try:
        job = m.submit(EchoRequest(steps=1, payload="brief"))
        guard = time.monotonic() + 60  # only guards against a hang
        while not job.finished and time.monotonic() < guard:
            time.sleep(0.01)
        assert job.status == "done" and job.result.info["payload"] == "brief"
        m.sweep(now=job.finished_at + 29.9)
        assert m.get(job.id) is job
        m.sweep(now=job.finished_at + 30.1)
        assert m.get(job.id) is None
    finally:
        m.shutdown()
        m.join()


def test_an_unknown_or_forgotten_job_is_a_404_that_says_so(tight_server):
    c = tight_server.client()
    status, body = c.request("GET", "/v1/jobs/" + "0" * 32)
    assert status == 404 and "forgotten" in body["error"]
    with pytest.raises(BackendHTTPError) as e:
        list(c.events("0" * 32))
    assert e.value.status == 404


def test_server_killed_mid_stream_gives_the_client_a_clear_error():
    s = start_server()
    try:
        c = s.client()
        job = c.submit(echo(steps=1000, step_ms=20))
        stream = c.events(job)
        for ev in stream:
            if ev["type"] == "progress":
                break
        s.proc.kill()  # SIGKILL: no goodbye
        with pytest.raises(BackendGone) as e:
            for _ in stream:
                pass
        assert "before it finished" in str(e.value) or "lost the connection" in str(e.value)
        with pytest.raises(BackendGone) as e2:
            c.health()
        assert "cannot reach the backend" in str(e2.value)
    finally:
        s.stop(kill=True)


def test_server_stopped_mid_stream_tells_the_client_why():
    s = start_server()
    try:
        c = s.client()
        job = c.submit(echo(steps=1000, step_ms=20))
        stream = c.events(job)
        for ev in stream:
            if ev["type"] == "progress":
                break
        s.proc.terminate()  # SIGTERM: a clean shutdown ends open streams with an error event
        rest = list(stream)
        assert rest[-1]["type"] == "error" and "shutting down" in rest[-1]["message"]
        assert s.proc.wait(30) in (0, -15)  # uvicorn re-raises the signal it handled
    finally:
        s.stop(kill=True)
