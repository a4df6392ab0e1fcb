"""The learned model behind the service's ``inbetween`` task: active by default, the baseline still there by name,
keys exact on the wire (canonical and rig space), unmapped rig bones filled as Blender's F-curves would."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from backend.models.inbetween import MODEL_NAME
from backend.models.inbetween.bezier import bezier_quaternions
from backend.motion.rotations import np_quat_angle
from backend.pipelines import JobContext, run_job
from backend.schema import Array, InbetweenRequest, KeySpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from ib_helpers import make_keys
from srv_rigs import mixamo_rig


def _walk(corpus):
    return next(c.motion for c in corpus.clips if c.split == "test" and c.id.endswith("02_02"))


def test_learned_model_is_active_and_keys_come_back_bit_for_bit(corpus):
    m = _walk(corpus)
    frames = [0, 1, 2, 20, 45]
    bones = list(m.skeleton.names)
    rot = m.rotations[frames].astype(np.float32)
    root = m.root_pos[frames].astype(np.float32)
    req = InbetweenRequest(keys=KeySpec(frames=[f + 1 for f in frames], bones=bones, rotations=Array.from_numpy(rot),
                                        root_translation=Array.from_numpy(root)))
    res = run_job(req, JobContext())
    base = run_job(req, JobContext(), model="slerp-baseline")
    assert res.model == MODEL_NAME and base.model == "slerp-baseline"
    out, out_b = res.motions[0].rotations.numpy(), base.motions[0].rotations.numpy()
    assert np.array_equal(out[frames], rot) and np.array_equal(res.motions[0].root_translation.numpy()[frames], root)
    assert np.degrees(np_quat_angle(out[3:20], out_b[3:20])).max() > 0.5  # the model, not slerp, filled the gap
    truth = m.rotations[:46]
    err_model = np_quat_angle(out.astype(np.float64), truth).mean()
    err_slerp = np_quat_angle(out_b.astype(np.float64), truth).mean()
    assert err_model < 1.5 * err_slerp  # sane on a held-out walk (the benchmark numbers are in docs/inbetween.md)


def test_rig_space_unmapped_bones_follow_blender_fcurves_and_keys_are_exact(corpus):
    rig = mixamo_rig()
    from backend.pipelines.rigs import RigBinding
    b = RigBinding(rig)
    m = _walk(corpus).slice(0, 31)
    rng = np.random.default_rng(2)
    bones = list(rig.bones)
    rp = b.to_rig(m, contact_cleanup=False).pose
    col = {n: i for i, n in enumerate(rp.bones)}
    pose = np.zeros((m.num_frames, len(bones), 4))
    pose[..., 3] = 1.0  # bones the retargeting does not drive stay at rest
    for i, n in enumerate(bones):
        if n in col:
            pose[:, i] = rp.rotations[:, col[n]]
    loc = rp.locations[b.translation_bone]
    frames = [0, 7, 18, 30]
    finger = bones.index("mixamorig:LeftHandIndex1")
    q = rng.normal(size=(len(frames), 4))
    q[:, 3] = np.abs(q[:, 3]) + 2.0
    pose = pose.copy()
    pose[frames, finger] = q / np.linalg.norm(q, axis=-1, keepdims=True)
    keys = KeySpec(frames=[f + 101 for f in frames], bones=bones, rotations=Array.from_numpy(pose[frames]),
                   root_translation=Array.from_numpy(loc[frames]))
    res = run_job(InbetweenRequest(keys=keys, rig=rig), JobContext())
    assert res.model == MODEL_NAME
    s = res.motions[0]
    out = s.rotations.numpy()
    assert np.array_equal(out[frames], keys.rotations.numpy())
    assert np.array_equal(s.root_translation.numpy()[frames], keys.root_translation.numpy())
    col = s.bones.index("mixamorig:LeftHandIndex1")
    sent = keys.rotations.numpy()[:, finger:finger + 1].astype(np.float64)
    blender_like = bezier_quaternions(np.array(frames), sent, np.ones((4, 1), bool), np.arange(31))[:, 0]
    assert np.abs(out[:, col] - blender_like).max() < 1e-5


def test_other_frame_rates_are_resampled_and_keys_stay_exact(trained, corpus):
    m = _walk(corpus)
    keys = make_keys(m, [0, 1, 2, 3, 40, 74])  # at 60 fps: a 1.2 s gap, twice the model's frame rate
    out = trained.fill(keys, np.arange(0, 75), 60.0)
    assert out.num_frames == 75 and abs(out.fps - 60.0) < 1e-9
    for k, f in enumerate(keys.frames):
        d = np.minimum(np.abs(out.rotations[f] - keys.rotations[k]).max(-1),
                       np.abs(out.rotations[f] + keys.rotations[k]).max(-1))
        assert d.max() < 1e-9
    step = np.degrees(np_quat_angle(out.rotations[1:], out.rotations[:-1])).max()
    assert step < 25.0, f"a joint turns {step:.1f} degrees in one 60 fps frame"


def test_inbetween_cli_uses_the_learned_model(tmp_path, capsys, fixture_data):
    from backend.cli import main
    from backend.motion.formats.bvh import load_bvh
    src = fixture_data / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh"  # the CMU walk at 30 fps (committed fixture)
    out = tmp_path / "ib.bvh"
    assert main(["inbetween", str(src), "--keys", "0,1,2,8,16", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["model"] == MODEL_NAME and report["frames"] == 17
    assert 0 < report["rotation_error_deg"] < 10 and 0 < report["position_error_cm"] < 10
    a, b = load_bvh(src), load_bvh(out)
    for f in (0, 8, 16):
        assert np.abs(a.positions()[f] - b.positions()[f]).max() < 1e-4
