"""``python -m backend generate | inbetween | retarget``: the service's pipelines without a server, on real files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from backend.cli import main
from backend.motion.formats.bvh import load_bvh
from backend.pipelines.text2motion import corpus_available

# committed fixtures (tests/fixtures/data): the CMU 02_01 walk at 30 fps, and the skeleton of CMU 131_01 (3dsMax BVH)
CMU_MB = Path("cmu_bvh_mb_friendly") / "bvh" / "02_01.bvh"
CMU_MAX = Path("cmu_bvh11_max") / "bvh" / "131_01.bvh"


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_inbetween_cli_keeps_keys_and_reports_its_error(tmp_path, capsys, fixture_data):
    src_path = fixture_data / CMU_MB
    out = tmp_path / "ib.bvh"
    assert main(["inbetween", str(src_path), "--keys", "0,8,16", "--out", str(out), "--model", "slerp-baseline"]) == 0
    report = _json_line(capsys.readouterr().out)
    assert report["model"] == "slerp-baseline" and report["frames"] == 17 and report["filled_frames"] == 14
    # 8 frames (a quarter second at 30 fps) of walking filled by slerp: a few degrees, a few cm
    assert 0 < report["rotation_error_deg"] < 5 and 0 < report["position_error_cm"] < 5
    src, res = load_bvh(src_path), load_bvh(out)
    assert res.skeleton.names == src.skeleton.names and res.num_frames == 17
    assert abs(res.fps - src.fps) < 1e-3
    for f in (0, 8, 16):  # keys come back (to the 6 decimals BVH text keeps)
        assert np.abs(res.positions()[f] - src.positions()[f]).max() < 1e-4


def test_retarget_cli_bvh_to_bvh_keeps_limb_directions(tmp_path, capsys, fixture_data):
    src_path, tgt_path = fixture_data / CMU_MB, fixture_data / CMU_MAX
    out = tmp_path / "rt.bvh"
    # The first-version automatic bone map reads the 3dsMax skeleton's "LeftShoulder" (the upper arm; its clavicle
    # is "LeftCollar") as a clavicle, so the arms are named explicitly, as an animator would in the add-on.
    arms = {f"{side}_{j}": f"{Side}{b}" for side, Side in (("left", "Left"), ("right", "Right"))
            for j, b in (("collar", "Collar"), ("shoulder", "Shoulder"), ("elbow", "Elbow"), ("wrist", "Wrist"))}
    assert main(["retarget", str(src_path), "--to", str(tgt_path), "--out", str(out), "--map", json.dumps(arms)]) == 0
    report = _json_line(capsys.readouterr().out)
    assert report["model"] == "rest-offset-transfer" and report["mapped_joints"] >= 20
    src, tgt_rest, res = load_bvh(src_path), load_bvh(tgt_path), load_bvh(out)
    assert res.skeleton.names == tgt_rest.skeleton.names and res.num_frames == src.num_frames
    ps, pt = src.positions(), res.positions()
    for a, b, ta, tb in (("LeftUpLeg", "LeftLeg", "LeftHip", "LeftKnee"),
                         ("RightLeg", "RightFoot", "RightKnee", "RightAnkle"),
                         ("LeftArm", "LeftForeArm", "LeftShoulder", "LeftElbow"),
                         ("RightForeArm", "RightHand", "RightElbow", "RightWrist")):
        ds = ps[:, src.skeleton.index(b)] - ps[:, src.skeleton.index(a)]
        dt = pt[:, res.skeleton.index(tb)] - pt[:, res.skeleton.index(ta)]
        cos = np.sum(ds * dt, -1) / np.linalg.norm(ds, axis=-1) / np.linalg.norm(dt, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 10, (a, b)


def test_generate_cli(tmp_path, capsys):
    out = tmp_path / "walk.bvh"
    code = main(["generate", "a person walks forward", "--frames", "120", "--out", str(out)])
    err = capsys.readouterr().err
    if corpus_available():
        assert code == 0 and load_bvh(out).num_frames == 120
    else:
        assert code == 2 and "motion corpus" in err and not out.exists()


def test_cli_bad_input_is_a_message_not_a_traceback(tmp_path, capsys, fixture_data):
    missing = tmp_path / "nope.bvh"
    assert main(["inbetween", str(missing), "--keys", "0,10", "--out", str(tmp_path / "o.bvh")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["retarget", str(missing), "--to", str(tmp_path / "rig.fbx"), "--out", str(tmp_path / "o.bvh")]) == 2
    assert "cannot read" in capsys.readouterr().err
    walk = str(fixture_data / CMU_MB)
    assert main(["inbetween", walk, "--keys", "0,99999", "--out", str(tmp_path / "o.bvh")]) == 2
    assert "--keys must lie in 0.." in capsys.readouterr().err
    assert main(["inbetween", walk, "--keys", "a,b", "--out", str(tmp_path / "o.bvh")]) == 2
    assert "comma-separated" in capsys.readouterr().err
    assert main(["retarget", walk, "--to", walk, "--out", str(tmp_path / "o.fbx")]) == 2
    assert ".bvh or .json" in capsys.readouterr().err
    assert main(["generate", " ", "--out", str(tmp_path / "o.bvh")]) == 2
    assert "prompt is empty" in capsys.readouterr().err


def test_serve_port_zero_prints_a_parseable_first_line(server):
    """Every test server is started with --port 0; its first stdout line named the port it got."""
    assert server.url == f"http://127.0.0.1:{server.port}" and 0 < server.port < 65536 and server.port != 8765
    assert server.client().health()["status"] == "ok"
