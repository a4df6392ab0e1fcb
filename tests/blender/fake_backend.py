"""A scripted stand-in for the MotionLoom backend, for the failure modes a real one cannot produce on demand.

Speaks the same HTTP + Server-Sent Events contract (``/health``, ``/v1/models``, ``POST /v1/jobs``,
``/v1/jobs/{id}/events``, ``DELETE /v1/jobs/{id}``, ``/v1/bonemap``), checks every job request against the real
wire schema (``backend.schema``), and answers with simple but well-formed results (in-betweens by normalised
linear interpolation of the sent key channels; generation and retargeting as rest poses). Faults, chosen on the
command line:

* ``--die-after N``: the process exits abruptly (``os._exit``) after sending N events of a job's stream;
* ``--garbage-after N``: sends a malformed event after N events;
* ``--step-delay S``: seconds between events (to cancel mid-stream);
* ``--partials K``: number of partial results per job;
* ``--switch BONE:NAME=VALUE`` (repeatable): generation and retargeting results (and their partials) also set this
  pose-bone property, like the real backend's Rigify IK/FK switches.

Run: ``python tests/blender/fake_backend.py --port 0``; prints ``MOTIONLOOM_SERVER http://127.0.0.1:PORT`` first,
like ``python -m backend serve``. Used only by the tests; the integration tests use the real backend.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backend import schema

ARGS = None
JOBS: dict = {}  # every job request as it arrived (GET /fake/requests lists them in order)
# (name, task, active, available, note): more than one model for generation and in-betweening, one for retargeting
MODELS = (("fake-lerp", "inbetween", True, True, "linear in-betweens"),
          ("fake-learned", "inbetween", False, True, "a second in-betweener (answers like fake-lerp)"),
          ("fake-missing", "inbetween", False, False, "needs weights/fake.safetensors"),
          ("fake-rest", "text2motion", True, True, "rest poses"),
          ("fake-retrieval", "text2motion", False, True, "rest poses too"),
          ("fake-rest", "retarget", True, True, "rest poses"))
CANCELLED: set = set()


def arr(a) -> dict:
    a = np.ascontiguousarray(np.asarray(a, "<f4"))
    return {"dtype": "float32", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}


def unarr(d) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["data"]), "<f4").reshape(d["shape"]).astype(np.float64)


def motion(bones, parents, fps, start, rot, root, root_bone) -> dict:
    return {"schema_version": "1", "space": "rig", "bones": bones, "parents": parents, "fps": fps,
            "start_frame": int(start), "rotations": arr(rot), "root_translation": arr(root), "root_bone": root_bone}


def sub_parents(names, all_names, all_parents):
    pos = {n: i for i, n in enumerate(names)}
    idx = {n: i for i, n in enumerate(all_names)}
    out = []
    for n in names:
        p = all_parents[idx[n]]
        while p >= 0 and all_names[p] not in pos:
            p = all_parents[p]
        out.append(pos[all_names[p]] if p >= 0 else -1)
    return out


def inbetween(req: dict) -> dict:
    k = req["keys"]
    frames = np.array(k["frames"], float)
    q = unarr(k["rotations"])
    root = unarr(k["root_translation"])
    lo, hi = req.get("frame_range") or (k["frames"][0], k["frames"][-1])
    out = np.arange(lo, hi + 1, dtype=float)
    rot = np.empty((len(out), q.shape[1], 4))
    for b in range(q.shape[1]):
        qb = q[:, b].copy()
        for i in range(1, len(qb)):  # shortest path between consecutive keys
            if np.dot(qb[i], qb[i - 1]) < 0:
                qb[i] = -qb[i]
        for c in range(4):
            rot[:, b, c] = np.interp(out, frames, qb[:, c])
    rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
    loc = np.stack([np.interp(out, frames, root[:, c]) for c in range(3)], 1)
    rows = np.searchsorted(out, frames)
    rot[rows] = q  # keys come back exactly as sent
    loc[rows] = root
    rig = req["rig"]
    root_bone = k.get("root_bone") or rig["bones"][rig["parents"].index(-1)]
    m = motion(k["bones"], sub_parents(k["bones"], rig["bones"], rig["parents"]), req["fps"], lo, rot, loc,
               root_bone)
    if k.get("location_bones"):  # further location keys: linear between keys, sent back exactly
        kl = unarr(k["locations"])
        locs = np.stack([np.stack([np.interp(out, frames, kl[:, i, c]) for c in range(3)], 1)
                         for i in range(kl.shape[1])], 1)
        locs[rows] = kl
        m["location_bones"], m["locations"] = list(k["location_bones"]), arr(locs)
    return m


def rest_motion(rig: dict, frames: int, fps: float, start: int, traj=None) -> dict:
    B = len(rig["bones"])
    rot = np.zeros((frames, B, 4))
    rot[..., 3] = 1.0
    loc = np.zeros((frames, 3))
    if traj is not None:
        loc[:, 0] = traj[:, 0]
    return motion(rig["bones"], rig["parents"], fps, start, rot, loc, rig["bones"][rig["parents"].index(-1)])


def with_switches(m: dict) -> dict:
    props = []
    for sw in ARGS.switch:
        bone_name, value = sw.rsplit("=", 1)
        bone, name = bone_name.rsplit(":", 1)
        props.append({"bone": bone, "name": name, "value": float(value)})
    if props:
        m["properties"] = props
    return m


def served_by(req: dict) -> str:
    """The model a request names, else its task's active one (unknown names were refused at submit)."""
    return req.get("model") or next(n for n, t, active, _a, _n in MODELS if t == req["task"] and active)


def model_problem(req: dict) -> str | None:
    """The real server's 422 sentence for a model the task does not have or cannot load."""
    name, task = req.get("model"), req.get("task")
    if name is None or task == "echo":
        return None
    entry = next((m for m in MODELS if m[0] == name and m[1] == task), None)
    if entry is None:
        return f"no {task} model named {name!r}"
    if not entry[3]:
        return f"{task} is not available on this installation: {name} needs weights"
    return None


def reference_used(choice) -> str:
    """What the real backend's info.source_reference says for each request value."""
    if isinstance(choice, int):
        return f"frame {choice} of the source"
    return {"rest": "rest pose", "tpose": "T-pose estimated from the skeleton"}.get(choice, "rest pose (a T/A-pose)")


def result_for(req: dict) -> dict:
    task = req["task"]
    if task == "inbetween":
        return {"motions": [inbetween(req)], "model": served_by(req)}
    if task == "text2motion":
        traj = unarr(req["trajectory"]) if req.get("trajectory") else None
        ms = [with_switches(rest_motion(req["rig"], req["frames"], req["fps"], req.get("start_frame", 1), traj))
              for _ in range(req.get("num_variations", 1))]
        info = {}
        if "stock market" in req.get("prompt", ""):  # what the real service says of a prompt unlike any training text
            info["out_of_vocabulary"] = (f"{req['prompt']!r} is far from anything the model was trained on "
                                         "(closest training text: 'a person walks', similarity 0.32, below 0.61)")
        return {"motions": ms, "model": served_by(req), "info": info}
    if task == "retarget":
        T = req["source"]["rotations"]["shape"][0]
        return {"motions": [with_switches(rest_motion(req["target_rig"], T, req["fps"], req.get("start_frame", 1)))],
                "model": served_by(req), "info": {"source_reference": reference_used(req.get("source_reference",
                                                                                             "auto"))}}
    return {"motions": [], "model": "echo"}


def _sentences(e) -> str:
    """Pydantic errors as the real service words them: 'where: what' per problem."""
    if not hasattr(e, "errors"):
        return str(e)
    out = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("text2motion", "inbetween", "retarget", "echo"))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _json(self, status: int, body) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self):
        n = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(n) or b"null")

    def do_GET(self):
        if self.path == "/health":
            return self._json(200, {"status": "ok", "version": "fake-0", "schema_version": "1", "device": "cpu",
                                    "queue_length": 0, "models": []})
        if self.path == "/v1/models":
            return self._json(200, [{"name": n, "task": t, "kind": "baseline", "loaded": True, "training_data": "none",
                                     "active": active, "available": available, "note": note}
                                    for n, t, active, available, note in MODELS])
        if self.path == "/fake/requests":
            return self._json(200, list(JOBS.values()))
        if self.path.startswith("/v1/jobs/") and self.path.endswith("/events"):
            return self._events(self.path.split("/")[3])
        self._json(404, {"error": "not found"})

    def do_DELETE(self):
        job_id = self.path.split("/")[3]
        CANCELLED.add(job_id)
        self._json(200, {"job_id": job_id, "task": "?", "status": "cancelled"})

    def do_POST(self):
        body = self._body()
        if self.path == "/v1/bonemap":
            try:
                schema.RigSpec.model_validate(body)
            except ValueError as e:  # pydantic.ValidationError
                return self._json(422, {"error": _sentences(e)})
            return self._json(200, [{"canonical": "pelvis", "bone": body["bones"][0], "confidence": 0.9},
                                    {"canonical": "head", "bone": None, "confidence": 0.0}])
        if self.path == "/v1/jobs":
            try:
                from pydantic import TypeAdapter
                TypeAdapter(schema.JobRequest).validate_python(body)
            except ValueError as e:  # pydantic.ValidationError
                return self._json(422, {"error": _sentences(e)})
            if model_problem(body):
                return self._json(422, {"error": model_problem(body)})
            job_id = uuid.uuid4().hex[:12]
            JOBS[job_id] = body
            return self._json(202, {"job_id": job_id, "status": "queued", "events_url": f"/v1/jobs/{job_id}/events"})
        self._json(404, {"error": "not found"})

    def _events(self, job_id: str):
        req = JOBS.get(job_id)
        if req is None:
            return self._json(404, {"error": f"no job {job_id}"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        seq = 0

        def send(etype: str, **fields):
            nonlocal seq
            if ARGS.die_after is not None and seq >= ARGS.die_after:
                self.wfile.flush()
                os._exit(3)  # the backend "crashes" mid-stream
            if ARGS.garbage_after is not None and seq == ARGS.garbage_after:
                frame = "event: partial\ndata: {this is not json\n\n"
            else:
                frame = f"id: {seq}\nevent: {etype}\ndata: {json.dumps({'type': etype, 'job_id': job_id, 'seq': seq, **fields})}\n\n"
            raw = frame.encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()
            seq += 1

        try:
            send("queued")
            send("started")
            result = result_for(req)
            steps = max(1, ARGS.partials)
            for i in range(steps):
                time.sleep(ARGS.step_delay)
                if job_id in CANCELLED:
                    send("cancelled", message="cancelled")
                    break
                if ARGS.partials and result["motions"]:
                    send("partial", step=i + 1, total=steps, partial=result["motions"][0])
                else:
                    send("progress", step=i + 1, total=steps)
            else:
                send("result", result=result)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--die-after", type=int, default=None)
    ap.add_argument("--garbage-after", type=int, default=None)
    ap.add_argument("--step-delay", type=float, default=0.0)
    ap.add_argument("--partials", type=int, default=2)
    ap.add_argument("--switch", action="append", default=[])
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    print(f"MOTIONLOOM_SERVER http://127.0.0.1:{srv.server_address[1]}", flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sys.stdin.read()  # exits when the test closes our stdin (or dies)
    finally:
        srv.shutdown()


if __name__ == "__main__":
    main()
