"""The commands, run as a user runs them: train (tiny, twice: same seed, same weights), evaluate, benchmark."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _cli(*args, timeout=600) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                       timeout=timeout, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, corpus):
    from backend.data.corpus import save_corpus
    clips = [c for c in corpus.clips if c.split == "train"][:6] + [c for c in corpus.clips if c.split == "val"][:2]
    out = tmp_path_factory.mktemp("corpus")
    save_corpus(out, clips, {k: v for k, v in corpus.manifest.items() if k != "clips"})
    return out


def test_train_text2motion_writes_reproducible_weights_that_generate(tiny_corpus, tmp_path, corpus):
    corpus_version = corpus.version
    from safetensors.numpy import load_file

    from backend.models.diffusion.model import Text2MotionModel
    from backend.models.diffusion.sampler import SamplingOptions
    small = ["--corpus", str(tiny_corpus), "--steps", "3", "--batch", "4", "--d-model", "32", "--layers", "1",
             "--heads", "2", "--ff", "64", "--log-every", "1", "--val-every", "2"]
    outs = []
    for k in range(2):
        w = tmp_path / f"run{k}" / "t2m.safetensors"
        r = _cli("train", "text2motion", *small, "--out", str(w), "--plot", str(tmp_path / f"run{k}" / "loss.png"))
        assert "step 3/3" in r.stdout and (tmp_path / f"run{k}" / "loss.png").stat().st_size > 1000
        outs.append(w)
    a, b = load_file(str(outs[0])), load_file(str(outs[1]))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    meta = json.loads(outs[0].with_suffix(".json").read_text())
    assert meta["seed"] == 0 and meta["corpus_version"] == corpus_version and meta["command"].startswith("python -m backend")
    assert meta["config"]["d_model"] == 32 and meta["wall_time_s"] > 0 and "feat" in meta["final_val"]
    m, _ = Text2MotionModel.load(outs[0]).generate_motion("a person walks", 30, options=SamplingOptions(steps=2))
    assert m.num_frames == 30 and np.all(np.isfinite(m.root_pos))


def test_train_evaluator_writes_weights(tiny_corpus, tmp_path):
    from backend.models.evaluator.encoders import load_evaluator
    w = tmp_path / "ev.safetensors"
    _cli("train", "evaluator", "--corpus", str(tiny_corpus), "--steps", "3", "--batch", "8", "--log-every", "1",
         "--val-every", "3", "--out", str(w), "--plot", str(tmp_path / "ev.png"))
    ev = load_evaluator(w)
    assert ev.meta["splits_used"] == ["train"] and 0.0 <= ev.meta["eval"]["val_r_precision_top3"] <= 1.0


def test_eval_json_has_every_reported_number():
    r = _cli("eval", "text2motion", "--split", "test", "--json", "--limit", "2", "--repeats", "1", "--stride",
             "120", "--latency-runs", "1")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("model", "retrieval", "real"):
        assert 0.0 <= out["r_precision_top3"][key] <= 1.0
    assert set(out["fid"]) == {"model", "retrieval"} and out["fid"]["model"] >= 0
    assert set(out["diversity"]) == {"model", "retrieval", "real"}
    assert set(out["foot_skate_ratio"]) >= {"model", "model_no_cleanup", "retrieval", "real"}
    assert out["traj_error_cm"] < 1.0  # the root channels are imputed
    assert out["key_error_max"] < 0.1  # keys come back exactly (cm)
    assert out["transition_pj"] > 0 and out["transition_auj"] >= 0
    assert out["latency_s"]["model_120f"] > 0 and out["latency_s"]["steps"] == 10
    assert "verdict" in out


def test_bench_reports_ratios_against_the_full_schedule():
    r = _cli("bench", "text2motion", "--json", "--runs", "1", "--steps", "2")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    rows = out["median_s"]
    assert "retrieval baseline" in rows and "model, 2 steps" in rows
    assert out["speedup_vs_full_schedule"]["model, 100 steps (full schedule)"] == 1.0
