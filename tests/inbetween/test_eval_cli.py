"""``eval inbetween`` and ``bench inbetween`` end to end on the committed demo corpus (quick runs): the JSON the issue's
checks read, keys exact, SLERP beside the model in the same run."""
import json

import numpy as np
import pytest


def test_eval_json_has_every_row_on_a_quick_run(trained, capsys, tmp_path):
    from backend.cli import main
    from backend.data.corpus import DEFAULT_CORPUS
    out = tmp_path / "eval.json"
    # the demo corpus has its 181-frame walks in the train split only
    assert main(["eval", "inbetween", "--corpus", str(DEFAULT_CORPUS), "--split", "train", "--limit", "2",
                 "--repeats", "2", "--json",
                 "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == res
    for row in ("model", "slerp", "spline"):
        for metric in ("l2p", "l2q", "npss"):
            assert set(res[row][metric]) == {"5", "15", "30", "45"}
            assert all(np.isfinite(v) and v >= 0 for v in res[row][metric].values())
    assert res["key_error_max"] < 1e-5
    assert res["key_error"]["sparse_walk_fill"] < 1e-12  # fill writes the keys back exactly
    sw = res["sparse_walk"]
    assert sw["windows"] == 2
    for row in ("model", "slerp", "spline"):
        assert {"skate_ratio_vs_real", "contact_count_error", "key_accel_ratio"} <= set(sw[row])
        assert sw[row]["contact_count_error"] >= 0 and sw[row]["key_accel_ratio"] > 0
    assert res["latency_ms"]["threads"] == 1 and res["latency_ms"]["model"] > 0


def test_bench_reports_the_30_frame_transition_beside_slerp(trained, capsys):
    from backend.cli import main
    from backend.data.corpus import DEFAULT_CORPUS
    assert main(["bench", "inbetween", "--corpus", str(DEFAULT_CORPUS), "--repeats", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["threads"] == 1
    row = res["cases"]["transition_30"]
    assert row["frames"] == 41 and row["model_ms"] > 0 and row["slerp_ms"] > 0
    assert row["ratio"] == pytest.approx(row["model_ms"] / row["slerp_ms"], rel=0.05)  # ms are rounded to 0.01
