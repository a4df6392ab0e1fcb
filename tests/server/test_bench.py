"""The benchmark command runs end to end and prints the documented keys, each a measured number, with its setup
echoed back; how fast anything was is not asserted (no timing in tests), and the ratios are checked only to be the
quotients of the numbers printed beside them."""
from __future__ import annotations

import json
import math

from backend.cli import main


def test_bench_server_json(capsys):
    assert main(["bench", "server", "--json", "--n", "3", "--jobs", "10", "--clients", "2", "--warmup", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"roundtrip_ms", "first_event_ms", "jobs_per_s", "baseline", "ratios", "setup"}
    assert set(out["baseline"]) == {"health_roundtrip_ms", "inprocess_jobs_per_s"}
    assert set(out["ratios"]) == {"roundtrip_vs_health", "inprocess_vs_service_jobs_per_s"}
    numbers = [out["roundtrip_ms"], out["first_event_ms"], out["jobs_per_s"], *out["baseline"].values()]
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in numbers)  # measured, not placeholders
    r = out["ratios"]
    assert math.isclose(r["roundtrip_vs_health"], out["roundtrip_ms"] / out["baseline"]["health_roundtrip_ms"],
                        rel_tol=0.02, abs_tol=0.01)
    assert math.isclose(r["inprocess_vs_service_jobs_per_s"],
                        out["baseline"]["inprocess_jobs_per_s"] / out["jobs_per_s"], rel_tol=0.05, abs_tol=0.1)
    assert {k: out["setup"][k] for k in ("n", "jobs", "clients")} == {"n": 3, "jobs": 10, "clients": 2}
    assert out["setup"]["job"]["task"] == "echo"
