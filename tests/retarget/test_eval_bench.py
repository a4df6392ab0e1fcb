"""The eval and bench commands run end to end and report what the issue asks (no timing assertions), on the committed
data fixtures (``--data tests/fixtures/data``: the same characters, their meshes cut down)."""
from __future__ import annotations

import json
import subprocess
import sys

from retarget_helpers import DATA, REPO


def test_eval_retarget_json_reports_both_methods_per_character():
    r = subprocess.run([sys.executable, "-m", "backend", "eval", "retarget", "--json", "--characters",
                        "anny_mixamo_child", "quaternius_male", "--max-clips", "1", "--max-frames", "90",
                        "--data", str(DATA)], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert set(res["characters"]) == {"anny_mixamo_child", "quaternius_male"}
    for name, c in res["characters"].items():
        for method in ("motionloom", "naive"):
            assert set(c[method]) >= {"foot_skate_cm_s", "penetration_cm", "ee_error", "roundtrip_deg"}
        # what the issue asks of MotionLoom: half the naive copy's skating at most
        assert c["motionloom"]["foot_skate_cm_s"] <= 0.5 * c["naive"]["foot_skate_cm_s"], name
        assert c["motionloom"]["ee_error"] < c["naive"]["ee_error"], name
        # issue 16: feet planted without one-frame ankle snaps, every body part above the floor, on the test clip
        # and on the floor work (crawl, get-up, roll)
        assert c["motionloom"]["foot_pop_frames"] == 0 and c["motionloom"]["below_floor_cm_max"] < 2.0, name
        if res["floor_work_clips"]:
            fw = c["floor_work"]["motionloom"]
            assert fw["foot_pop_frames"] == 0 and fw["below_floor_cm_max"] < 2.0, (name, fw)
            assert c["floor_work"]["motionloom_no_cleanup"]["below_floor_cm_max"] > 2.0, "the floor work goes low"
    assert res["characters"]["anny_mixamo_child"]["motionloom"]["roundtrip_deg"] < 2.0


def test_bench_rig_is_a_65_bone_mixamo_rig():
    from backend.bench.retarget import mixamo65
    from backend.retarget.bonemap import rig_bone_map
    rig = mixamo65(DATA)
    assert len(rig.names) == 65
    assert rig_bone_map(rig).bone("left_wrist") == "mixamorig:LeftHand"
