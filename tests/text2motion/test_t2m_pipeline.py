"""The learned model behind the shared pipeline (what the server and ``generate`` run): it is the active
text2motion model, streams a progress event per denoising step with previews, returns keys exactly (canonical and
rig space), takes joint targets by rig bone name, and refuses bad requests before any work."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from backend.motion.skeleton import CANONICAL
from backend.pipelines import REGISTRY, JobCancelled, JobContext, RequestError, check_request, run_job
from backend.pipelines.convert import spec_to_canonical_motion
from backend.pipelines.rigs import RigBinding
from backend.schema import Array, JointTarget, KeySpec, Text2MotionRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from srv_rigs import mixamo_rig


def test_learned_model_is_active_and_the_baseline_stays_registered():
    active = REGISTRY.active("text2motion")
    assert active.name == "text2motion-diffusion" and active.kind == "learned"
    names = [e.name for e in REGISTRY.entries() if e.task == "text2motion"]
    assert "retrieval-baseline" in names
    info = next(m for m in REGISTRY.infos() if m.name == "text2motion-diffusion")
    assert info.active and "r_precision_top3" in info.eval_summary


def test_progress_per_step_and_previews():
    events = []
    ctx = JobContext(on_progress=lambda s, t, eta, msg: events.append(("progress", s, t)),
                     on_partial=lambda spec: events.append(("partial", spec.num_frames)))
    req = Text2MotionRequest(prompt="a person walks forward", frames=60, steps=5, num_variations=2,
                             exemplar_strength=1.0)  # from noise: every one of the 5 steps runs
    res = run_job(req, ctx)
    prog = [e for e in events if e[0] == "progress" and e[2] > 0]
    assert [(s, t) for _, s, t in prog] == [(i, 10) for i in range(1, 11)]
    assert sum(e[0] == "partial" for e in events) == 10
    assert res.model == "text2motion-diffusion" and len(res.motions) == 2
    a, b = (spec_to_canonical_motion(s) for s in res.motions)
    assert a.num_frames == 60 and not np.allclose(a.root_pos, b.root_pos)  # variations differ
    # served default: denoising starts part-way down from the exemplar, so fewer steps run and progress says so
    events.clear()
    res = run_job(Text2MotionRequest(prompt="a person walks forward", frames=60, steps=5), ctx)
    strength = res.info["exemplar_strength"]
    assert 0 < strength < 1 and res.info["exemplar_text"]
    n = len(REGISTRY.active("text2motion").get().model.schedule.timesteps_from(strength, 5))
    assert [(s, t) for _, s, t in (e for e in events if e[0] == "progress" and e[2] > 0)] == \
        [(i, n) for i in range(1, n + 1)]


def test_out_of_vocabulary_prompts_say_so_in_the_info():
    odd = run_job(Text2MotionRequest(prompt="the stock market closed higher today", frames=30, steps=2))
    note = odd.info["out_of_vocabulary"]
    assert "far from anything the model was trained on" in note and "closest training text" in note
    walk = run_job(Text2MotionRequest(prompt="a person walks forward", frames=30, steps=2))
    assert "out_of_vocabulary" not in walk.info and len(walk.motions) == 1


def test_canonical_keys_come_back_bit_for_bit(corpus):
    real = corpus.by_id("cmu_iclone_cc/007_03").motion
    rows = [0, 40, 79]
    keys = KeySpec(frames=[r + 101 for r in rows], bones=list(CANONICAL.names),
                   rotations=Array.from_numpy(real.rotations[rows]), root_translation=Array.from_numpy(real.root_pos[rows]))
    req = Text2MotionRequest(prompt="walk", frames=80, start_frame=101, keys=keys)
    spec = run_job(req).motions[0]
    rot, root = spec.rotations.numpy(), spec.root_translation.numpy()
    assert np.abs(root[rows] - real.root_pos[rows].astype(np.float32)).max() < 1e-5
    dots = np.abs(np.sum(rot[rows] * real.rotations[rows].astype(np.float32), -1))
    assert dots.min() > 1 - 1e-5


def test_rig_keys_are_exact_and_targets_take_bone_names(corpus):
    rig = mixamo_rig()
    b = RigBinding(rig)
    real = corpus.by_id("cmu_iclone_cc/007_03").motion.slice(0, 60)
    on_rig = b.to_rig(real, contact_cleanup=False).pose
    bones = list(on_rig.bones)
    pose, loc = on_rig.rotations, on_rig.locations[b.translation_bone]
    rows = [0, 59]
    keys = KeySpec(frames=[1 + r for r in rows], bones=bones, rotations=Array.from_numpy(pose[rows]),
                   root_translation=Array.from_numpy(loc[rows]), root_bone=b.translation_bone)
    target = JointTarget(joint="mixamorig:LeftHand", frame=30, position=(0.3, -0.8, 1.3))
    req = Text2MotionRequest(prompt="walk", frames=60, rig=rig, keys=keys, joint_targets=[target])
    res = run_job(req)
    spec = res.motions[0]
    assert spec.space == "rig" and spec.num_frames == 60
    col = [spec.bones.index(x) for x in bones]
    out = spec.rotations.numpy()[:, col]
    assert np.array_equal(out[rows], pose[rows].astype(np.float32))
    assert np.array_equal(spec.root_translation.numpy()[rows], loc[rows].astype(np.float32))
    assert res.info["joint_target_error_cm"] < 5.0
    # the target is in the scene: the rig's own hand (not only the canonical wrist) reaches it
    names, _, P = b.world(b.spec_to_pose(spec))
    hand = P[29, list(names).index("mixamorig:LeftHand")]
    assert np.linalg.norm(hand - np.array([0.3, -0.8, 1.3])) < 0.08, hand


def test_a_drawn_path_is_followed_by_the_rigs_hips_not_overshot():
    """The path is in the scene; the rig's legs are longer than the canonical body's, and retargeting scales root
    motion by the leg ratio. The hips must still end where the path ends (they overshot by that ratio before)."""
    rig = mixamo_rig()
    b = RigBinding(rig)
    path = np.stack([np.linspace(0.5, 0.5, 90), np.linspace(0.0, -3.0, 90), np.zeros(90)], axis=1)
    res = run_job(Text2MotionRequest(prompt="a person walks forward", frames=90, rig=rig,
                                     trajectory=Array.from_numpy(path.astype(np.float32))))
    names, _, P = b.world(b.spec_to_pose(res.motions[0]))
    hips = P[:, list(names).index(b.mapping["pelvis"])]
    err = np.linalg.norm(hips[:, :2] - path[:, :2], axis=-1)
    assert err.max() < 0.05, err.max()
    assert abs(res.motions[0].num_frames - 90) == 0


def test_bad_requests_are_refused_before_any_work(corpus):
    real = corpus.by_id("cmu_iclone_cc/007_03").motion
    with pytest.raises(RequestError, match="not a canonical joint"):
        check_request(Text2MotionRequest(prompt="walk", frames=60, joint_targets=[
            JointTarget(joint="tail", frame=5, position=(0, 0, 1))]))
    keys = KeySpec(frames=[500], bones=["pelvis"], rotations=Array.from_numpy(real.rotations[:1, :1]),
                   root_translation=Array.from_numpy(real.root_pos[:1]))
    with pytest.raises(RequestError, match="outside the generated range"):
        check_request(Text2MotionRequest(prompt="walk", frames=60, keys=keys))


def test_cancel_stops_between_denoising_steps():
    ctx = JobContext()
    seen = []

    def on_progress(step, total, eta, msg):
        seen.append(step)
        if step >= 2:
            ctx.cancel.set()

    ctx._on_progress = on_progress
    with pytest.raises(JobCancelled):
        run_job(Text2MotionRequest(prompt="a person walks forward", frames=120, steps=10), ctx)
    assert max(seen) == 2
