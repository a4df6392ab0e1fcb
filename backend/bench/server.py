"""``python -m backend bench server [--json]``: service latency and throughput over a real socket.

Starts ``python -m backend serve --port 0`` in a subprocess and measures, for a trivial job (``echo``, one step, no
wait):

* ``roundtrip_ms``: median time from sending ``POST /v1/jobs`` to reading the ``result`` event on its stream;
* ``first_event_ms``: median time from sending the POST to reading the first (``queued``) event;
* ``jobs_per_s``: jobs submitted by 8 concurrent clients and followed to their result, per second of wall time.

Baselines measured in the same run: ``GET /health`` round trip (the cost of one bare HTTP request on this machine)
and the same echo job run in-process with ``backend.pipelines.run_job`` (no HTTP, no queue). The ratios say what
the service adds: ``roundtrip_vs_health`` (a job is at least two requests, POST + stream) and
``inprocess_vs_service_jobs_per_s``.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ..paths import REPO

JOB = {"task": "echo", "steps": 1, "step_ms": 0.0, "payload": "bench"}


def register(subparsers):
    p = subparsers.add_parser("server", help="service round trip, first-event latency and jobs/s over a socket",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--n", type=int, default=50, help="timed single jobs (and health requests)")
    p.add_argument("--jobs", type=int, default=200, help="jobs for the throughput run")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients for the throughput run")
    p.add_argument("--warmup", type=int, default=5)
    p.set_defaults(func=run)


def _start():
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--port", "0", "--threads", "1",
                             "--max-queue", "10000"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = proc.stdout.readline().strip()
    if not first.startswith("MOTIONLOOM_SERVER "):
        proc.kill()
        raise SystemExit(f"bench server: the server did not start (first line {first!r})")
    return proc, first.split(" ", 1)[1]


def _one_job(client) -> tuple[float, float]:
    t0 = time.perf_counter()
    job = client.submit(JOB)
    first = None
    for ev in client.events(job):
        if first is None:
            first = time.perf_counter()
        if ev["type"] == "result":
            return (first - t0) * 1000.0, (time.perf_counter() - t0) * 1000.0
    raise RuntimeError(f"job {job} ended without a result")


def measure(url: str, n: int, jobs: int, clients: int, warmup: int) -> dict:
    from ..server.client import Client

    c = Client(url)
    for _ in range(warmup):
        c.health()
        _one_job(c)
    health = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.health()
        health.append((time.perf_counter() - t0) * 1000.0)
    firsts, trips = zip(*[_one_job(c) for _ in range(n)])
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: _one_job(Client(url)), range(jobs)))
    wall = time.perf_counter() - t0
    return {"health_ms": statistics.median(health), "first_event_ms": statistics.median(firsts),
            "roundtrip_ms": statistics.median(trips), "jobs_per_s": jobs / wall}


def inprocess_jobs_per_s(jobs: int) -> float:
    from ..pipelines import run_job
    from ..schema import EchoRequest

    req = EchoRequest(**JOB)
    run_job(req)
    t0 = time.perf_counter()
    for _ in range(jobs):
        run_job(req)
    return jobs / (time.perf_counter() - t0)


def run(args) -> int:
    proc, url = _start()
    try:
        m = measure(url, args.n, args.jobs, args.clients, args.warmup)
    finally:
        proc.terminate()
        proc.wait(30)
    base = inprocess_jobs_per_s(args.jobs)
    out = {
        "roundtrip_ms": round(m["roundtrip_ms"], 3),
        "first_event_ms": round(m["first_event_ms"], 3),
        "jobs_per_s": round(m["jobs_per_s"], 1),
        "baseline": {"health_roundtrip_ms": round(m["health_ms"], 3), "inprocess_jobs_per_s": round(base, 1)},
        "ratios": {"roundtrip_vs_health": round(m["roundtrip_ms"] / m["health_ms"], 2),
                   "inprocess_vs_service_jobs_per_s": round(base / m["jobs_per_s"], 1)},
        "setup": {"n": args.n, "jobs": args.jobs, "clients": args.clients, "job": JOB,
                  "python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()},
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"service over a real socket ({url}), trivial echo job:")
        print(f"  round trip (POST -> result event)  {out['roundtrip_ms']:8.2f} ms   median of {args.n}")
        print(f"  first event (POST -> queued)       {out['first_event_ms']:8.2f} ms")
        print(f"  throughput, {args.clients} clients            {out['jobs_per_s']:8.1f} jobs/s ({args.jobs} jobs)")
        print(f"  baseline: GET /health              {out['baseline']['health_roundtrip_ms']:8.2f} ms  "
              f"(round trip = {out['ratios']['roundtrip_vs_health']}x)")
        print(f"  baseline: in-process run_job       {out['baseline']['inprocess_jobs_per_s']:8.1f} jobs/s "
              f"({out['ratios']['inprocess_vs_service_jobs_per_s']}x the service)")
    return 0
