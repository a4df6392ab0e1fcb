"""``train inbetween``: deterministic for a seed, weights in safetensors with the sidecar the project requires."""
from __future__ import annotations

import json

import numpy as np


def _train(tmp_path, name, seed=3, monkeypatch=None):
    from backend.cli import main
    out = tmp_path / f"{name}.safetensors"
    argv = ["train", "inbetween", "--steps", "3", "--batch", "4", "--window", "32", "--fraction", "0.1",
                 "--d-model", "32", "--layers", "1", "--heads", "2", "--seed", str(seed), "--no-eval",
            "--val-every", "0", "--out", str(out), "--plot", str(tmp_path / f"{name}.png")]
    if monkeypatch is not None:  # as if run from the shell, so the sidecar records the command
        from pathlib import Path

        import backend
        monkeypatch.setattr("sys.argv", [str(Path(backend.__file__).parent / "__main__.py")] + argv)
    assert main(argv) == 0
    return out


def test_same_seed_same_weights_and_a_complete_sidecar(tmp_path, monkeypatch):
    from safetensors.numpy import load_file
    a, b = _train(tmp_path, "a", monkeypatch=monkeypatch), _train(tmp_path, "b")
    c = _train(tmp_path, "c", seed=4)
    wa, wb, wc = load_file(str(a)), load_file(str(b)), load_file(str(c))
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa if k.startswith("net."))
    meta = json.loads(a.with_suffix(".json").read_text())
    for key in ("config", "command", "data_version", "seed", "train_wall_s", "parameters"):
        assert key in meta
    assert meta["seed"] == 3 and meta["config"]["steps"] == 3
    assert meta["command"].startswith("python -m backend train inbetween --steps 3")
    assert (tmp_path / "a.png").stat().st_size > 1000
    from backend.models.inbetween.model import Inbetweener
    model = Inbetweener.load(a)
    assert model.net.cfg.d_model == 32
