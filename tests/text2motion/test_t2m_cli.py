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
    # fine-tuning: the first run's weights, a frame head added, the normaliser kept
    ft = tmp_path / "ft" / "t2m.safetensors"
    _cli("train", "text2motion", *small[:4], "--init-from", str(outs[0]), "--frame-head", "8", "--log-every", "1",
         "--val-every", "2", "--out", str(ft), "--plot", str(tmp_path / "ft" / "loss.png"))
    c = load_file(str(ft))
    fmeta = json.loads(ft.with_suffix(".json").read_text())
    assert fmeta["config"]["frame_head"] == 8 and fmeta["config"]["d_model"] == 32
    assert fmeta["init_from"]["weights"] == str(outs[0]) and fmeta["init_from"]["steps_done"] == 3
    assert np.array_equal(c["normalizer.mean"], a["normalizer.mean"]) and "denoiser.frame.out.weight" in c
    hist = json.loads((tmp_path / "ft" / "loss.json").read_text())  # the whole run's curve, not up to the pick
    # step 0 is the --init-from weights' own val loss: where the fine-tune starts
    assert [s for s, _ in hist["train total"]] == [1, 2, 3] and [s for s, _ in hist["val total (EMA)"]] == [0, 2, 3]
    m, _ = Text2MotionModel.load(ft).generate_motion("a person walks", 30, options=SamplingOptions(steps=2))
    assert np.all(np.isfinite(m.root_pos))
    # a low-noise expert: trained on levels 0..30 only, then named in a sidecar beside the base weights
    lo = tmp_path / "ft" / "t2m_low.safetensors"
    r = _cli("train", "text2motion", *small[:4], "--init-from", str(ft), "--frame-head", "8", "--max-t", "30",
             "--log-every", "1", "--val-every", "2", "--out", str(lo), "--plot", str(tmp_path / "ft" / "low.png"))
    lmeta = json.loads(lo.with_suffix(".json").read_text())
    assert lmeta["training"]["max_t"] == 30 and "val at step 0" in r.stdout
    assert not all(np.array_equal(v, load_file(str(lo))[k]) for k, v in c.items())  # it did train
    fmeta["sampling"] = {"low_noise_expert": {"weights": lo.name, "max_t": 30}}
    ft.with_suffix(".json").write_text(json.dumps(fmeta))
    both = Text2MotionModel.load(ft)
    assert type(both.denoiser).__name__ == "ExpertDenoisers"
    m2, _ = both.generate_motion("a person walks", 30, options=SamplingOptions(steps=2))
    assert np.all(np.isfinite(m2.root_pos)) and not np.allclose(m2.root_pos, m.root_pos)


def test_train_evaluator_writes_weights(tiny_corpus, tmp_path):
    from backend.models.evaluator.encoders import load_evaluator
    w = tmp_path / "ev.safetensors"
    _cli("train", "evaluator", "--corpus", str(tiny_corpus), "--steps", "3", "--batch", "8", "--log-every", "1",
         "--val-every", "3", "--out", str(w), "--plot", str(tmp_path / "ev.png"))
    ev = load_evaluator(w)
    assert ev.meta["splits_used"] == ["train"] and 0.0 <= ev.meta["eval"]["val_r_precision_top3"] <= 1.0


def test_eval_json_has_every_key_the_checks_read():
    r = _cli("eval", "text2motion", "--corpus", "data/corpus", "--split", "test", "--json", "--limit", "8",
             "--repeats", "2", "--control-samples", "3", "--s-curves", "2", "--latency-runs", "1")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["samples"] == 8 and out["repeats"] == 2
    for key in ("model", "retrieval", "real"):
        rp = out["r_precision"][key]
        assert 0.0 <= rp["top1"] <= rp["top2"] <= rp["top3"] <= 1.0 and rp["top3_ci95"] >= 0
        assert out["mm_dist"][key] > 0 and out["diversity"][key] > 0
    assert out["r_precision"]["real"]["top3_ci95"] == 0.0  # with 8 pairs every repeat scores the same batch
    pr = out["r_precision_paired"]
    assert pr["pairs"] == 8 and pr["real_top3"] == out["r_precision"]["real"]["top3"]  # one batch: no chance left
    for other in ("retrieval", "real"):
        lo, hi = pr[f"model_minus_{other}_ci95"]
        assert lo <= pr[f"model_minus_{other}"] <= hi
        assert abs(pr[f"model_minus_{other}"] - (pr["model_top3"] - pr[f"{other}_top3"])) < 1e-3
    assert out["fid"]["model"] >= 0 and out["fid"]["retrieval_ci95"] >= 0 and "model_ci95" in out["fid"]
    assert set(out["skate_locomotion"]) >= {"model", "real"} and out["penetration_cm"]["model"] >= 0
    assert set(out["path"]) >= {"facing_error_deg", "skate_ratio_vs_real", "root_error_cm"}
    assert 0 <= out["path"]["facing_error_deg"] <= 180 and out["path"]["root_error_cm"] < 5.0
    assert out["novelty_cm"]["retrieval"] < 0.5 < out["novelty_cm"]["model"]  # retrieval replays training clips
    assert out["traj_error_cm"] < 1.0 and out["key_error_max"] < 0.1  # root imputed, keys exact (cm)
    assert out["transition_pj"] > 0 and out["transition_auj"] >= 0
    lat = out["latency_s"]
    assert lat["model_120f_100steps"] > lat["model_120f"] > 0 and lat["steps"] == 10
    assert out["verdict"].startswith("the model: ")


def test_bench_reports_ratios_against_the_full_schedule():
    r = _cli("bench", "text2motion", "--json", "--runs", "1", "--steps", "2")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    rows = out["median_s"]
    assert "retrieval baseline" in rows and "model, 2 steps from noise" in rows
    assert out["speedup_vs_full_schedule"]["model, 100 steps (full schedule, from noise)"] == 1.0
    served = [k for k in rows if k.startswith("model, served")]
    assert served and rows[served[0]] < rows["model, 100 steps (full schedule, from noise)"]


def test_fidelity_the_frame_head_hands_back_more_of_the_input():
    """The committed weights, scored by ``eval t2m_fidelity`` on corpus v3's test windows: the noisy
    input's own error grows with the level, and the served network (frame head) returns x0 closer to the clean
    window than the base network it was fine-tuned from (0.21 -> 0.08 on corpus v3's val windows)."""
    r = _cli("eval", "t2m_fidelity", "--split", "test", "--windows", "16",
             "--clips", "16", "--levels", "0", "30")
    base, head = (json.loads(line) for line in r.stdout.strip().splitlines()[-2:])
    assert base["frame_head"] == 0 and head["frame_head"] > 0
    for row in (base, head):
        assert row["levels"][0]["input_mse"] < 0.01 < row["levels"][1]["input_mse"]
    assert head["levels"][0]["x0_mse"] < 0.8 * base["levels"][0]["x0_mse"]
    assert sum(b["windows"] for b in head["levels"][0]["distance_kept"].values()) <= 16


def test_distance_kept_is_the_ratio_of_root_travel_by_distance():
    from backend.eval.t2m_fidelity import distance_kept
    T = 121  # four seconds at 30 fps
    feats = np.zeros((4, T, 5))
    feats[0, :, 1] = np.linspace(0, -10.0, T)  # a run
    feats[1, :, 0] = np.linspace(0, 4.5, T)  # a walk
    feats[2, :, 0] = np.linspace(0, 5.0, T)
    feats[3, :, 0] = np.linspace(0, 0.2, T)  # standing about: not counted
    real = np.ones((4, T), bool)
    real[1, 101:] = False  # padding beyond the walk's last real frame is ignored (3.75 m to its last real frame)
    pred = feats.copy()
    pred[0, :, 1] *= 0.5
    pred[1, 101:, 0] = 99.0
    pred[2, :, 0] *= 0.9
    out = distance_kept(pred, feats, real)["distance_kept"]
    assert out["over 6 m"] == {"windows": 1, "median_kept": 0.5}
    assert out["4-6 m"] == {"windows": 1, "median_kept": 0.9} and out["2-4 m"] == {"windows": 1, "median_kept": 1.0}
    assert out["0.5-2 m"] == {"windows": 0, "median_kept": None}
