"""The vectorised retargeting gives the numbers the per-joint code gave (issue 15, item 13).

``tests/fixtures/retarget_reference.npz`` holds a 90-frame CMU walk on the canonical skeleton and what
``from_canonical`` (with and without contact cleanup) and ``to_canonical`` made of it on three rigs before the
vectorisation (commit fce9e66, the per-joint loops): the 65-bone Mixamo bench rig, the Rigify dump (FK controls and
switch properties) and the Quaternius dump (feet moved by location). Issue 16 changed the cleanup's maths (per-run
flat foot, feet solved again where they dip, the body kept above the floor): the outputs were then remade by the
per-joint code of the issue-16 branch (commit 7e5da23) on the same walk. Speed is measured by ``python -m backend bench
retarget``, not here. Regenerate (only when the maths is meant to change): ``python
tests/retarget/test_reference_outputs.py``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "fixtures" / "retarget_reference.npz"
RIG_DUMPS = REPO / "tests" / "fixtures" / "rigs"
FRAMES = 90


def rigs():
    from backend.bench.retarget import mixamo65
    from backend.retarget.rig import Rig
    out = {"mixamo65": mixamo65(REPO / "tests" / "fixtures" / "data")}
    for name in ("rigify_basic_human", "quaternius_male_casual"):
        d = json.loads((RIG_DUMPS / f"{name}.json").read_text())
        out[name] = Rig.from_matrices(d["bones"], d["parents"], np.array(d["rest_matrices"]),
                                      tails=np.array(d["tails"]), matrix_world=np.array(d["matrix_world"]),
                                      name=d["name"])
    return out


def outputs(rig, motion) -> dict[str, np.ndarray]:
    from backend.retarget.api import from_canonical, prepare, to_canonical
    prep = prepare(rig)
    out = {}
    for tag, cleanup in (("clean", True), ("bare", False)):
        pose = from_canonical(rig, motion, prepared=prep, contact_cleanup_on=cleanup).pose
        out[f"{tag}_rot"] = pose.rotations
        for b, v in pose.locations.items():
            out[f"{tag}_loc_{b}"] = v
        if cleanup:
            back = to_canonical(rig, pose, prepared=prep).motion
            out["back_rot"], out["back_root"] = back.rotations, back.root_pos
            out["bones"] = np.array(pose.bones)
    return out


def source_motion():
    from backend.bench.retarget import bench_motion
    return bench_motion(FRAMES)


def regenerate() -> None:
    m = source_motion()
    arrays = {"src_rot": m.rotations, "src_root": m.root_pos, "src_fps": np.array(m.fps)}
    for name, rig in rigs().items():
        for k, v in outputs(rig, m).items():
            arrays[f"{name}/{k}"] = v.astype(np.float32) if v.dtype.kind == "f" else v
    np.savez_compressed(REFERENCE, **arrays)


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.is_file():
        pytest.fail(f"{REFERENCE} is missing")
    return dict(np.load(REFERENCE))


@pytest.mark.parametrize("name", ["mixamo65", "rigify_basic_human", "quaternius_male_casual"])
def test_retargeting_matches_the_per_joint_reference(reference, name):
    from backend.motion.motion import Motion
    from backend.motion.skeleton import CANONICAL
    motion = Motion(CANONICAL, float(reference["src_fps"]), reference["src_root"], reference["src_rot"])
    got = outputs(rigs()[name], motion)
    want = {k.split("/", 1)[1]: v for k, v in reference.items() if k.startswith(name + "/")}
    assert sorted(got) == sorted(want)
    assert list(got["bones"]) == list(want["bones"])
    for k, v in want.items():
        if k == "bones":
            continue
        assert got[k].shape == v.shape, k
        # float32 storage: 1e-5 on unit quaternions and metres / armature units is far below anything visible
        err = np.abs(got[k] - v.astype(np.float64)).max()
        assert err < 1e-5 * max(1.0, np.abs(v).max()), (k, err)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    regenerate()
    print(f"wrote {REFERENCE}")
