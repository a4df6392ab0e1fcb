"""The contract agrees with itself (issue 15, item 12): the documented ``model`` field is accepted, checked against
the registry and honoured; the event stream's schema describes its events; OPTIONS lists every method of a path; the
add-on's ``wire.py`` mirrors the schema's constants; and each limit is defined once."""
from __future__ import annotations

import http.client
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from test_bad_input import arr, keys, quats

from backend import schema
from backend.pipelines import TASKS
from backend.pipelines.text2motion import corpus_available
from backend.server.jobs import TERMINAL

REPO = Path(__file__).resolve().parents[2]


def load_wire():
    """``blender_addon/wire.py`` on its own (standard library and numpy; the package's ``__init__`` needs bpy)."""
    spec = importlib.util.spec_from_file_location("motionloom_wire", REPO / "blender_addon" / "wire.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------------------------- the model field
def test_a_request_can_name_its_model_and_gets_that_model(client):
    body = {"task": "inbetween", "keys": keys(frames=(1, 9)), "model": "slerp-baseline"}
    res = client.run(body)
    assert res["model"] == "slerp-baseline"
    q = np.asarray(res["motions"][0]["rotations"]["shape"])
    assert list(q) == [9, 22, 4]
    default = client.run({k: v for k, v in body.items() if k != "model"})
    active = next(m["name"] for m in client.models() if m["task"] == "inbetween" and m["active"])
    assert default["model"] == active


@pytest.mark.skipif(not corpus_available(), reason="needs the motion corpus")
def test_text2motion_can_ask_for_the_retrieval_baseline(client):
    res = client.run({"task": "text2motion", "prompt": "a person walks forward", "frames": 40,
                      "model": "retrieval-baseline"})
    assert res["model"] == "retrieval-baseline" and "similarity" in res["info"]


@pytest.mark.parametrize("task_body,name,words", [
    ({"task": "inbetween", "keys": keys()}, "nope", ["no inbetween model named 'nope'", "slerp-baseline"]),
    ({"task": "text2motion", "prompt": "walk"}, "slerp-baseline", ["no text2motion model named 'slerp-baseline'"]),
    ({"task": "echo"}, "rest-offset-transfer", ["no echo model named"]),
    ({"task": "echo"}, "../../etc/passwd", ["model", "pattern"]),
])
def test_an_unknown_model_is_a_422_before_queueing(client, task_body, name, words):
    before = client.health()["queue_length"]
    status, resp = client.request("POST", "/v1/jobs", {**task_body, "model": name})
    assert status == 422, resp
    for w in words:
        assert w in resp["error"], (w, resp["error"])
    assert client.health()["queue_length"] == before


def test_docs_fields_are_schema_fields():
    """Every request field docs/server.md names in its requests list exists in the schema (``model`` was not)."""
    doc = (REPO / "docs" / "server.md").read_text()
    assert '"model": NAME' in doc
    for cls in (schema.Text2MotionRequest, schema.InbetweenRequest, schema.RetargetRequest, schema.EchoRequest):
        assert "model" in cls.model_fields
    block = doc[doc.index("- **Requests** share"):doc.index("- **Limits**")]
    fields = set().union(*(cls.model_fields for cls in (schema.Text2MotionRequest, schema.InbetweenRequest,
                                                         schema.RetargetRequest, schema.EchoRequest)))
    named = {w for w in re.findall(r"`(\w+)`", block) if w not in TASKS}
    assert len(named) > 20 and named <= fields, named - fields
    shared = re.search(r"share (.*?): a registered", block, re.DOTALL).group(1)
    for field in re.findall(r"`(\w+)`", shared):  # the shared ones are on every task with a rig
        for cls in (schema.Text2MotionRequest, schema.InbetweenRequest, schema.RetargetRequest):
            assert field in cls.model_fields, (cls.__name__, field)


# --------------------------------------------------------------------------------------------- the event stream
def test_the_event_stream_schema_describes_each_event(client):
    spec = client.request("GET", "/openapi.json")[1]
    media = spec["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    item = media["itemSchema"]
    assert item["properties"]["data"]["contentSchema"] == {"$ref": "#/components/schemas/JobEvent"}
    assert item["properties"]["event"]["enum"] == list(load_wire().EVENT_TYPES)
    job_event = spec["components"]["schemas"]["JobEvent"]
    assert job_event["properties"]["type"]["enum"] == item["properties"]["event"]["enum"]
    # and a real stream matches it: every block has id, event and JobEvent data with the same type and seq
    job = client.submit({"task": "echo", "steps": 2, "partial_every": 1})
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    conn.request("GET", f"/v1/jobs/{job}/events")
    text = conn.getresponse().read().decode()
    conn.close()
    blocks = [b for b in text.split("\n\n") if b.startswith("id: ")]
    assert len(blocks) == 7
    for b in blocks:
        fields = dict(line.split(": ", 1) for line in b.split("\n"))
        assert set(fields) == {"id", "event", "data"}
        ev = schema.JobEvent.model_validate_json(fields["data"])
        assert ev.type == fields["event"] and str(ev.seq) == fields["id"]


# --------------------------------------------------------------------------------------------------- OPTIONS
def test_options_lists_every_method_of_a_path(client):
    for path, methods in (("/v1/jobs/abc", {"GET", "DELETE"}), ("/v1/jobs", {"POST"}), ("/health", {"GET"}),
                          ("/v1/jobs/abc/events", {"GET"}), ("/v1/bonemap", {"POST"})):
        conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
        conn.request("OPTIONS", path)
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 204, path
        assert set(r.getheader("Allow").split(", ")) == methods | {"OPTIONS"}, (path, r.getheader("Allow"))
    status, body = client.request("PUT", "/v1/jobs/abc")
    assert status == 405 and "DELETE" in body["error"] and "GET" in body["error"]


# ---------------------------------------------------------------------------------------- one source of truth
def test_the_addon_wire_constants_equal_the_schema():
    wire = load_wire()
    shared = [n for n in dir(wire) if n.isupper() and hasattr(schema, n)]
    assert {"SCHEMA_VERSION", "MAX_FRAMES", "MAX_PROMPT_CHARS", "MIN_FPS", "MAX_FPS", "MAX_FRAME_BONES",
            "MAX_BONES"} <= set(shared)
    for n in shared:
        assert getattr(wire, n) == getattr(schema, n), n
    assert tuple(wire.EVENT_TYPES) == schema.JobEvent.model_fields["type"].annotation.__args__
    assert tuple(wire.TERMINAL_EVENTS) == TERMINAL


def test_the_addons_source_references_are_the_schemas():
    ann = schema.RetargetRequest.model_fields["source_reference"].annotation
    literal = next(a for a in ann.__args__ if getattr(a, "__args__", None) and all(isinstance(x, str)
                                                                                  for x in a.__args__))
    assert tuple(load_wire().SOURCE_REFERENCES) == literal.__args__


def test_the_addons_model_chooser_reads_the_servers_model_list_and_its_choice_is_served(client):
    """What the panel's chooser offers for a task (``wire.task_models`` on ``GET /v1/models``): the task's models,
    the active one first, with availability; a request naming an available one is served by it."""
    wire = load_wire()
    models = client.models()
    for task in ("text2motion", "inbetween", "retarget"):
        got = wire.task_models(models, task)
        assert [c.name for c in got] and sorted(c.name for c in got) == sorted(m["name"] for m in models
                                                                               if m["task"] == task)
        assert got[0].active and sum(c.active for c in got) == 1, task
    ib = {c.name: c for c in wire.task_models(models, "inbetween")}
    assert ib["slerp-baseline"].available and ib["slerp-baseline"].kind == "baseline"
    body = wire.inbetween_request(keys(frames=(1, 9)), 30.0, model=wire.check_model(models, "inbetween",
                                                                                     "slerp-baseline"))
    assert client.run(body)["model"] == "slerp-baseline"


def test_limits_are_defined_once_in_the_schema():
    """MAX_FRAMES was defined in five modules with two values; now only backend/schema.py assigns it."""
    assigned = [str(p.relative_to(REPO)) for p in (REPO / "backend").rglob("*.py")
                if re.search(r"^MAX_FRAMES\s*=", p.read_text(), re.MULTILINE)]
    assert assigned == ["backend/schema.py"]
    from backend.models.diffusion import model as diffusion
    from backend.models.inbetween import model as inbetween
    from backend.retarget import api
    assert diffusion.MAX_FRAMES == inbetween.MAX_FRAMES == api.MAX_FRAMES == schema.MAX_FRAMES


def test_motion_frame_rates_share_the_request_range():
    good = {"bones": ["pelvis"], "parents": [-1], "rotations": arr(quats(2, 1)),
            "root_translation": arr(np.zeros((2, 3)))}
    for fps in (schema.MIN_FPS, 24.0, schema.MAX_FPS):
        schema.MotionSpec(fps=fps, **good)
    for fps in (1e-300, 0.99, 240.5):
        with pytest.raises(ValueError):
            schema.MotionSpec(fps=fps, **good)
