"""``eval inbetween --lafan1 PATH`` on a folder shaped like LaFAN1 (the real data cannot ship here), and the LaFAN1
files as training data (``train inbetween --data``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lafan1_fixture import TO_CANON, lafan1_like, write_folder


@pytest.fixture(scope="module")
def lafan_folder(corpus, tmp_path_factory):
    train = [c for c in corpus.clips if c.split == "train" and c.num_frames >= 120][:4]
    test = [c for c in corpus.clips if c.split == "test" and c.num_frames >= 140][:2]
    clips = {f"take{i}_subject{i + 1}": c.motion for i, c in enumerate(train)}
    clips.update({f"test{i}_subject5": c.motion for i, c in enumerate(test)})
    return write_folder(tmp_path_factory.mktemp("lafan1"), clips)


def test_fixture_is_exact_and_its_rest_pose_is_not_a_t_pose(corpus):
    m = corpus.clips[0].motion
    lm = lafan1_like(m)
    idx = [m.skeleton.index(n) for n in TO_CANON]
    assert np.abs(lm.positions() - m.positions()[:, idx]).max() < 1e-9
    rest = lm.skeleton.rest_positions()
    assert np.ptp(rest[:, 0]) > 1.0 and np.ptp(rest[:, 2]) < 0.5  # lies along X at rest, like LaFAN1


def test_lafan1_files_become_canonical_clips_exactly(lafan_folder, corpus):
    from backend.data.user_corpus import bvh_to_canonical, load_folder
    src = next(c for c in corpus.clips if c.split == "train" and c.num_frames >= 120).motion
    m, profile = bvh_to_canonical(lafan_folder / "take0_subject1.bvh")
    assert profile == "lafan1" and m.num_frames == src.num_frames
    a, b = m.positions(), src.positions()
    err = np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1)
    assert err.max() < 1e-3  # every joint where the original put it (the file keeps 6 decimals of cm)
    clips = load_folder(lafan_folder, log=lambda *a: None)
    assert {c.split for c in clips if "subject5" in c.id} == {"test"}
    assert all(c.split in ("train", "val") for c in clips if "subject5" not in c.id)


def test_eval_lafan1_produces_the_standard_table(lafan_folder, trained, capsys):
    from backend.cli import main
    assert main(["eval", "inbetween", "--lafan1", str(lafan_folder), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["lengths"] == [5, 15, 30, 45]
    for row in ("zerovel", "slerp", "model"):
        for metric in ("l2p", "l2q", "npss"):
            assert set(res[row][metric]) == {"5", "15", "30", "45"}
            assert all(np.isfinite(v) and v >= 0 for v in res[row][metric].values())
    assert all(v > 0 for v in res["windows"].values())
    # LaFAN1 -> canonical -> LaFAN1 is exact on this skeleton: the model alone explains its error
    assert max(res["retarget_floor"]["l2p"].values()) < 1e-6
    for n in ("5", "15", "30", "45"):
        assert res["slerp"]["l2p"][n] < res["zerovel"]["l2p"][n]
    assert main(["eval", "inbetween", "--lafan1", str(lafan_folder), "--baselines-only"]) == 0
    table = capsys.readouterr().out
    assert "=== L2P ===" in table and "Zero-Vel" in table and "SLERP" in table and "Model" not in table


def test_eval_lafan1_needs_both_subject_groups(tmp_path, corpus):
    from backend.eval.lafan1 import run_lafan1
    write_folder(tmp_path, {"walk1_subject5": corpus.clips[0].motion})
    with pytest.raises(ValueError, match="subjects 1-4"):
        run_lafan1(tmp_path)
