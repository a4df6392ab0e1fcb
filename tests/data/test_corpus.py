"""The committed corpus, the build on small fixtures, stats JSON, previews and real-walk contacts."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from backend.data.build import assign_splits
from backend.data.corpus import load_corpus
from backend.motion.formats.bvh import load_bvh, write_bvh
from backend.motion.skeleton import CANONICAL

PY = sys.executable


def run_cli(*args, cwd=None):
    return subprocess.run([PY, "-m", "backend", *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False)


def test_committed_corpus_meets_the_bar():
    c = load_corpus()
    st = c.stats()
    assert st["clips"] >= 100 and st["minutes"] >= 8.0
    assert all(clip.texts and all(t.strip() for t in clip.texts) for clip in c.clips)
    assert {"cmu_asfamc", "cmu_iclone_cc", "deepmimic_motions", "quaternius_cc0"} <= set(st["sources"])
    # splits by take: no take in two splits, test held out
    by_take = {}
    for clip in c.clips:
        by_take.setdefault(clip.take, set()).add(clip.split)
    assert all(len(s) == 1 for s in by_take.values())
    assert st["splits"]["test"] >= 10 and st["splits"]["train"] > st["splits"]["test"]
    m = c.clips[0].motion
    assert m.skeleton.names == CANONICAL.names and m.fps == 30


def test_corpus_clips_are_grounded_and_canonical():
    for clip in load_corpus().clips[::7]:
        p = clip.motion.positions()
        floor = np.percentile(p[..., 2].min(1), 5)
        assert abs(floor - 0.02) < 0.01, clip.id
        assert abs(clip.motion.heading(0)) < 1e-6 and np.allclose(clip.motion.root_pos[0, :2], 0, atol=1e-6)


def test_contacts_on_a_real_walk():
    walk = load_corpus().by_id("cmu_asfamc/02_01").motion  # CMU 02_01: a plain walk
    c = walk.contacts
    left = c[:, 0] | c[:, 1]
    right = c[:, 2] | c[:, 3]
    # a walk alternates support: each foot is planted for a good part of the time and lifts at least once
    assert 0.3 < left.mean() < 0.95 and 0.3 < right.mean() < 0.95
    assert (~left).any() and (~right).any()
    assert (left | right).mean() > 0.9  # almost always one foot down
    # planted toes barely slide
    p = walk.positions()
    toe = p[:, walk.skeleton.index("left_foot")]
    v = np.linalg.norm(np.gradient(toe[:, :2], axis=0) * 30, axis=-1)
    assert np.median(v[c[:, 1]]) < 0.15


def test_split_rule_is_deterministic_and_by_family():
    takes = [(f"cmu:{i:02d}_01", "cmu") for i in range(40)] + [(f"dm:{i}", "dm") for i in range(10)]
    a, b = assign_splits(takes), assign_splits(list(reversed(takes)))
    assert a == b
    assert sum(v == "test" for k, v in a.items() if k.startswith("cmu")) == 4  # 10% of 40
    assert sum(v == "test" for k, v in a.items() if k.startswith("dm")) >= 1


def test_stats_json_keys():
    r = run_cli("data", "stats", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert {"clips", "frames", "minutes", "hours", "takes", "sentences", "labels", "sources", "splits"} <= set(st)
    assert set(st["splits"]) == {"train", "val", "test"} and st["takes"] == sum(st["splits"].values())


def test_preview_writes_a_png(tmp_path):
    out = tmp_path / "walk.png"
    r = run_cli("data", "preview", "02_01", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


@pytest.fixture
def bvh_fixture_folder(tmp_path, fixture_data):
    """A tiny user collection: CMU clips in two BVH conversions, cut short, plus one unlabelled file (cut from the
    committed CMU 02_01 walk at 30 fps)."""
    src = fixture_data / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh"
    m = load_bvh(src)
    folder = tmp_path / "cmu"
    (folder / "sub").mkdir(parents=True)
    write_bvh(m.slice(0, 30), folder / "02_01.bvh", up="Y", unit_scale=100)
    write_bvh(m.slice(25, 60), folder / "sub" / "07_03.bvh", up="Y", unit_scale=100)
    write_bvh(m.slice(0, 15), folder / "notes.bvh", up="Y", unit_scale=100)
    return folder


def test_build_from_user_cmu_folder(tmp_path, bvh_fixture_folder):
    out = tmp_path / "corpus"
    r = run_cli("data", "build", "--cmu", str(bvh_fixture_folder), "--out", str(out))
    assert r.returncode == 0, r.stderr
    c = load_corpus(path=out)
    assert {clip.take for clip in c.clips} == {"cmu:02_01", "cmu:07_03"}  # notes.bvh has no CMU label
    assert c.by_id("07_03").texts == ["walk"]  # from the shipped CMU index
    assert all(clip.motion.fps == 30 for clip in c.clips)
    assert c.by_id("02_01").num_frames == 30  # 30 frames at 30 fps: 1 s


def test_build_from_bvh_folder_with_labels(tmp_path, bvh_fixture_folder):
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "description"])
        w.writerow(["notes.bvh", "a person walks a few steps"])
        w.writerow(["notes.bvh", "short walk"])
    out = tmp_path / "corpus2"
    r = run_cli("data", "build", "--bvh-folder", str(bvh_fixture_folder), "--labels", str(labels), "--out", str(out))
    assert r.returncode == 0, r.stderr
    c = load_corpus(path=out)
    assert len(c) == 1 and c.clips[0].texts == ["a person walks a few steps", "short walk"]
    man = json.loads((out / "manifest.json").read_text())
    assert man["build_command"].startswith("python -m backend data build --bvh-folder")


def test_build_rejects_missing_labels(bvh_fixture_folder):
    r = run_cli("data", "build", "--bvh-folder", str(bvh_fixture_folder))
    assert r.returncode == 2 and "--labels" in r.stderr


def test_same_take_from_two_formats_gives_the_same_canonical_motion(shared_data):
    """CMU 02_01 as original ASF/AMC and as cgspeed BVH (different skeletons, proportions and rest conventions)
    land on the canonical skeleton within a few centimetres of each other."""
    from pathlib import Path

    from backend.data.build import pose_difference, to_canonical
    from backend.data.sources import cmu_asfamc, cmu_bvh_folder
    a = next(r for r in cmu_asfamc(shared_data / "cmu_asfamc") if r.take == "cmu:02_01")
    b = next(r for r in cmu_bvh_folder(Path(shared_data / "cmu_bvh_mb_friendly"), "mb", 1) if r.take == "cmu:02_01")
    assert pose_difference(to_canonical(a), to_canonical(b)) < 0.04
