"""The benchmark command runs end to end and prints the documented keys (values are not asserted: no timing)."""
from __future__ import annotations

import json

from backend.cli import main


def test_bench_server_json(capsys):
    assert main(["bench", "server", "--json", "--n", "3", "--jobs", "10", "--clients", "2", "--warmup", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"roundtrip_ms", "first_event_ms", "jobs_per_s", "baseline", "ratios"} <= set(out)
    assert out["roundtrip_ms"] > 0 and out["first_event_ms"] > 0 and out["jobs_per_s"] > 0
    assert out["first_event_ms"] <= out["roundtrip_ms"]
    assert out["baseline"]["health_roundtrip_ms"] > 0 and out["baseline"]["inprocess_jobs_per_s"] > 0
    assert out["setup"]["jobs"] == 10
