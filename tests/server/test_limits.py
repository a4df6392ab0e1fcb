"""Bounded cost, over a real socket: frame rates, work budgets, frames x bones, previews, and cancels and timeouts
that stop the work itself (issue 15, items 8, 10, 11). Asserted on states and byte counts, never on wall time."""
from __future__ import annotations

import http.client
import json
import time

import numpy as np
import pytest
from srv_live import start_server
from srv_rigs import mixamo_rig
from test_bad_input import arr, keys, quats

from backend.motion.skeleton import CANONICAL_JOINTS
from backend.pipelines.preview import MAX_PARTIAL_BYTES, MAX_PARTIALS
from backend.pipelines.text2motion import learned_available
from backend.schema import MAX_FRAME_BONES, Array, RigSpec

RIG = mixamo_rig().model_dump(mode="json")
SOURCE = {"bones": list(CANONICAL_JOINTS), "parents": [-1] + [0] * 21, "fps": 30,
          "rotations": arr(quats(4, 22)), "root_translation": arr(np.zeros((4, 3)))}
needs_learned = pytest.mark.skipif(not learned_available(), reason="needs weights/text2motion.safetensors")


def wait_until(pred, what: str, guard_s: float = 120.0):
    """Poll ``pred()`` until it is true; the guard only stops a hung test (nothing is asserted about time)."""
    deadline = time.monotonic() + guard_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


# ------------------------------------------------------------------------------------------------ item 8: fps
FPS_CASES = [
    ("text2motion", lambda fps: {"task": "text2motion", "prompt": "walk", "frames": 60, "fps": fps}),
    ("inbetween", lambda fps: {"task": "inbetween", "keys": keys(), "fps": fps}),
    ("retarget", lambda fps: {"task": "retarget", "source": SOURCE, "target_rig": RIG, "fps": fps}),
    ("retarget source", lambda fps: {"task": "retarget", "source": {**SOURCE, "fps": fps}, "target_rig": RIG}),
]


@pytest.mark.parametrize("fps", [1e-300, 5e-324, 0.5, 0.0, -30.0, 241.0, 1e300])
@pytest.mark.parametrize("task,body", FPS_CASES, ids=[c[0] for c in FPS_CASES])
def test_fps_outside_1_to_240_is_a_422_sentence(client, task, body, fps):
    before = client.health()["queue_length"]
    status, resp = client.request("POST", "/v1/jobs", body(fps))
    assert status == 422, resp
    assert "fps" in resp["error"] and ("greater than or equal to 1" in resp["error"]
                                       or "less than or equal to 240" in resp["error"]), resp["error"]
    assert client.health()["queue_length"] == before


def test_the_issues_tiny_fps_request_no_longer_wedges_the_worker(client):
    status, _resp = client.request("POST", "/v1/jobs", {"task": "text2motion", "prompt": "walk", "frames": 60,
                                                        "fps": 1e-300})
    assert status == 422
    job = client.submit({"task": "echo", "steps": 1, "payload": "free"})
    assert list(client.events(job))[-1]["result"]["info"]["payload"] == "free"


# --------------------------------------------------------------------------------------- item 8: work budgets
@pytest.mark.parametrize("body,words", [
    ({"frames": 10_000, "fps": 1}, ["299,971 frames at the model's 30 fps", "limit of 30,000"]),
    ({"frames": 10_000, "fps": 30, "steps": 200}, ["2,000,000 frame-steps", "10,000 model frames x 200 steps",
                                                   "limit of 1,000,000"]),
    ({"frames": 5_000, "fps": 30, "steps": 30, "num_variations": 8}, ["frame-steps", "x 8 variations"]),
])
def test_text2motion_over_its_work_budget_is_refused_before_queueing(client, body, words):
    before = client.health()["queue_length"]
    status, resp = client.request("POST", "/v1/jobs", {"task": "text2motion", "prompt": "walk", **body})
    assert status == 422, resp
    for w in words:
        assert w in resp["error"], (w, resp["error"])
    assert client.health()["queue_length"] == before


def test_retarget_resampling_past_the_frame_limit_is_refused(client):
    source = {**SOURCE, "fps": 1.0, "rotations": arr(quats(100, 22)), "root_translation": arr(np.zeros((100, 3)))}
    status, resp = client.request("POST", "/v1/jobs", {"task": "retarget", "source": source, "target_rig": RIG,
                                                        "fps": 240})
    assert status == 422 and "makes 23761 frames" in resp["error"], resp


# ---------------------------------------------------------------------------------------- item 11: frames x bones
def big_rig(n_bones: int) -> dict:
    """The Mixamo test rig with extra bones fanning out of its head-top bone, ``n_bones`` in all."""
    base = mixamo_rig()
    rest = base.rest_matrices.numpy()
    head = base.bones.index("mixamorig:HeadTop_End")
    bones, parents, mats = list(base.bones), list(base.parents), list(rest)
    for i in range(n_bones - len(bones)):
        bones.append(f"extra_{i:03d}")
        parents.append(head)
        m = rest[head].copy()
        m[:3, 3] += [0.001 * i, 5.0, 0.0]
        mats.append(m)
    return RigSpec(name="big", bones=bones, parents=parents, rest_matrices=Array.from_numpy(np.stack(mats)),
                   matrix_world=base.matrix_world).model_dump(mode="json")


def test_inbetween_of_a_500_bone_rig_over_9999_frames_is_refused_before_work(client):
    rig = big_rig(500)
    body = {"task": "inbetween", "rig": rig, "keys": keys(bones=rig["bones"], frames=(1, 10_000))}
    assert len(json.dumps(body)) < 200_000  # a small request...
    before = client.health()["queue_length"]
    status, resp = client.request("POST", "/v1/jobs", body)
    assert status == 422, resp  # ... that would have made a ~100 MB result
    assert "10000 frames x 500 bones = 5,000,000 bone-frames" in resp["error"], resp["error"]
    assert f"limit of {MAX_FRAME_BONES:,}" in resp["error"] and "at most 4,000 frames" in resp["error"]
    assert client.health()["queue_length"] == before
    # the same rig over a span inside the limit is served
    ok = {"task": "inbetween", "rig": rig, "keys": keys(bones=rig["bones"][:30], frames=(1, 40))}
    assert client.run(ok)["motions"][0]["rotations"]["shape"][:2] == [40, 30]


@pytest.mark.parametrize("body,words", [
    ({"task": "text2motion", "prompt": "walk", "frames": 10_000, "num_variations": 8, "rig": "big"},
     ["x 8 variations", "bone-frames"]),
    ({"task": "retarget", "source": {**SOURCE, "rotations": arr(quats(9_000, 22)),
                                     "root_translation": arr(np.zeros((9_000, 3)))}, "target_rig": "big"},
     ["9000 frames x 300 bones"]),
])
def test_other_tasks_over_the_frames_x_bones_cap_are_refused(client, body, words):
    rig = big_rig(300)
    body = {k: (rig if v == "big" else v) for k, v in body.items()}
    status, resp = client.request("POST", "/v1/jobs", body)
    assert status == 422, resp
    for w in words:
        assert w in resp["error"], (w, resp["error"])


# ------------------------------------------------------------------------- item 8: cancel and timeout stop the work
def long_t2m(frames=2000, steps=60):
    return {"task": "text2motion", "prompt": "a person walks forward", "frames": frames, "steps": steps}


@needs_learned
def test_cancelling_a_long_generation_stops_its_worker_at_the_next_step(client):
    job = client.submit(long_t2m())
    stream = client.events(job, timeout=300)
    for ev in stream:
        if ev["type"] == "progress" and ev.get("step", 0) >= 3:
            break
    at_cancel = client.cancel(job)["step"]
    rest = list(stream)
    assert rest[-1]["type"] == "cancelled"
    st = client.status(job)
    # the cancelled event is sent by the worker once the runner has returned: the work itself stopped
    assert st["status"] == "cancelled" and st["working"] is False
    assert st["step"] <= at_cancel + 1 < st["total"], st
    nxt = client.submit({"task": "echo", "steps": 1, "payload": "next"})
    assert list(client.events(nxt))[-1]["result"]["info"]["payload"] == "next"
    assert client.status(job)["step"] == st["step"]  # and nothing of it ran on afterwards


@needs_learned
def test_a_timed_out_generation_stops_working_too():
    s = start_server("--job-timeout", "4")
    try:
        c = s.client()
        warm = c.submit({"task": "text2motion", "prompt": "walk", "frames": 30, "steps": 1})
        list(c.events(warm, timeout=300))  # loads the model and the text encoder (it may time out doing so)
        job = c.submit(long_t2m(frames=3000, steps=100))
        evs = list(c.events(job, timeout=300))
        assert evs[-1]["type"] == "error" and "longer than 4 s" in evs[-1]["message"]
        at_timeout = evs[-1]["step"]
        def returned():
            x = c.status(job)
            return None if x["working"] else x

        st = wait_until(returned, "the timed-out runner returned")
        assert st["status"] == "error" and st["step"] <= at_timeout + 1 < st["total"], (st, at_timeout)
        nxt = c.submit({"task": "echo", "steps": 1, "payload": "after"})
        assert list(c.events(nxt))[-1]["result"]["info"]["payload"] == "after"
    finally:
        s.stop()


def test_the_retargeting_checks_between_its_stages():
    """``from_canonical(check=...)`` calls the job's check between stages, so a cancel lands inside a long solve."""
    from test_pipelines import random_motion

    from backend.pipelines.rigs import RigBinding

    class Stop(Exception):
        pass

    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise Stop()

    b = RigBinding(mixamo_rig())
    with pytest.raises(Stop):
        b.to_rig(random_motion(T=40), check=check)
    assert len(calls) == 3
    calls.clear()
    b.to_rig(random_motion(T=40), check=lambda: calls.append(1))
    assert len(calls) >= 4  # transfer, each leg's cleanup, channels


# ------------------------------------------------------------------------------------ item 10: bounded previews
def raw_stream(port: int, job: str) -> list[tuple[str, int, dict]]:
    """(event type, bytes of its SSE block, data) for every event of a job, read off the socket as sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request("GET", f"/v1/jobs/{job}/events")
    text = conn.getresponse().read().decode()
    conn.close()
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":")
                     and ": " in line)
        if "data" in lines:
            out.append((lines["event"], len(block.encode()) + 2, json.loads(lines["data"])))
    return out


@needs_learned
def test_a_2000_frame_generation_streams_bounded_previews_and_a_complete_result(server, client):
    """Before: every denoising step resent the whole motion (110 MB for 2k frames). Now at most MAX_PARTIALS + 1
    partials of at most MAX_PARTIAL_BYTES each (10.5 MiB in the worst case); this job streams under 5 MB."""
    job = client.submit({"task": "text2motion", "prompt": "a person walks forward", "frames": 2000, "steps": 3,
                         "exemplar_strength": 1.0})  # from noise: all 3 steps of every window run
    events = raw_stream(server.port, job)
    assert events[-1][0] == "result"
    partials = [(n, d) for t, n, d in events if t == "partial"]
    progress = [d for t, _, d in events if t == "progress" and d.get("total", 0) > 0]
    assert len(progress) > 2 * MAX_PARTIALS  # many more steps than previews...
    assert 2 <= len(partials) <= MAX_PARTIALS + 1  # ...yet a bounded number of previews
    assert all(n <= MAX_PARTIAL_BYTES for n, _ in partials)
    spans = []
    for _, d in partials:  # the frames made so far, down-sampled in time: every k-th frame at fps / k
        p = d["partial"]
        T, k = p["rotations"]["shape"][0], round(30.0 / p["fps"])
        assert T * 22 * 4 <= 40_000 and (T - 1) * k <= 1999 and p["fps"] * k == pytest.approx(30.0)
        spans.append((T - 1) * k)
    assert spans == sorted(spans) and spans[-1] >= 1999 - round(30.0 / partials[-1][1]["partial"]["fps"])
    assert round(30.0 / partials[-1][1]["partial"]["fps"]) >= 2  # the last previews are down-sampled
    result_bytes = events[-1][1]
    total = sum(n for _, n, _ in events)
    assert total - result_bytes <= (MAX_PARTIALS + 1) * MAX_PARTIAL_BYTES + 2_000 * len(events)
    assert total < 5_000_000, total
    print(f"2000-frame job: {len(events)} events, {len(partials)} partials, {total:,} bytes streamed, result "
          f"{result_bytes:,} bytes")
    res = events[-1][2]["result"]["motions"][0]
    assert res["rotations"]["shape"] == [2000, 22, 4] and res["fps"] == 30.0  # the result is complete
    fetched = client.request("GET", f"/v1/jobs/{job}/result")[1]["motions"][0]
    assert {k: v for k, v in fetched.items() if v is not None} == res
