"""The committed text-to-motion model end to end: controls are honoured, text steers the motion, streaming and
cancellation work, bad input is refused with a clear message."""
from __future__ import annotations

import numpy as np
import pytest

from backend.models.diffusion.control import ControlError, Controls, JointTargets, Keys
from backend.models.diffusion.model import GenerationCancelled
from backend.models.diffusion.sampler import SamplingOptions
from backend.motion.rotations import np_quat_angle
from backend.motion.skeleton import CANONICAL


def _travel(m) -> float:
    return float(np.linalg.norm(m.root_pos[-1, :2] - m.root_pos[0, :2]))


def test_plain_generation_is_canonical_deterministic_and_seeded(model):
    a, info = model.generate_motion("a person walks forward", 120, options=SamplingOptions(seed=3))
    b, _ = model.generate_motion("a person walks forward", 120, options=SamplingOptions(seed=3))
    c, _ = model.generate_motion("a person walks forward", 120, options=SamplingOptions(seed=4))
    assert a.num_frames == 120 and a.fps == 30 and a.skeleton.names == CANONICAL.names
    assert np.allclose(a.root_pos, b.root_pos) and np.allclose(a.rotations, b.rotations)
    assert not np.allclose(a.root_pos, c.root_pos)
    assert np.allclose(a.root_pos[0, :2], 0, atol=1e-6) and abs(a.heading(0)) < 1e-3
    assert info["steps"] == model.default_steps and info["windows"] == 1
    z = a.positions()[..., 2]
    assert z.min() > -0.1 and z.max() < 2.2  # stands on the floor, human height


def test_text_steers_the_motion(model):
    def travel(prompt):
        return np.mean([_travel(model.generate_motion(prompt, 120, options=SamplingOptions(seed=s))[0])
                        for s in range(3)])
    walk, idle = travel("a person walks forward"), travel("a person stands idle")
    assert walk > 1.0, walk
    assert idle < 0.6 * walk, (idle, walk)


def test_timed_trajectory_is_followed(model):
    F = 120
    path = np.zeros((F, 3))
    path[:, 0] = 1.0 + 0.8 * np.sin(np.linspace(0, 2.5, F))
    path[:, 1] = 2.0 - np.linspace(0, 3.5, F)
    m, info = model.generate_motion("a person walks forward", F, Controls(trajectory=path), SamplingOptions(seed=1))
    err = np.linalg.norm(m.root_pos[:, :2] - path[:, :2], axis=1)
    assert err.max() < 0.005 and info["traj_error_cm"] < 0.5
    # the body turns with the path: facing follows the direction of travel (within 45 degrees, mid-path)
    v = np.gradient(path[:, :2], axis=0)
    want = np.arctan2(v[:, 0], -v[:, 1])
    diff = np.angle(np.exp(1j * (m.heading() - want)))[20:100]
    assert np.median(np.abs(diff)) < np.deg2rad(45)


def test_path_only_is_covered_at_the_models_own_pace(model):
    path = np.array([[0.0, 0.0, 0.0], [0.0, -2.0, 0.0], [2.0, -3.0, 0.0]])
    m, _info = model.generate_motion("a person walks forward", 120, Controls(trajectory=path, trajectory_timed=False))
    assert np.linalg.norm(m.root_pos[0, :2] - path[0, :2]) < 0.01
    assert np.linalg.norm(m.root_pos[-1, :2] - path[-1, :2]) < 0.01
    # every root point lies on the polyline
    from backend.eval.t2m_protocol import polyline_distance
    assert polyline_distance(m.root_pos[:, :2], path[:, :2]) < 0.01


def test_keys_come_back_exactly(model, corpus):
    real = corpus.by_id("cmu_iclone_cc/007_03").motion.slice(0, 90)
    kf = np.array([0, 45, 89])
    moved = real.rotated_about_z(1.0)
    moved = moved.copy(root_pos=moved.root_pos + np.array([2.0, 1.0, 0.0]))
    keys = Keys(kf, list(CANONICAL.names), moved.rotations[kf], moved.root_pos[kf], None, None)
    m, info = model.generate_motion("walk", 90, Controls(keys=keys), SamplingOptions(seed=0))
    assert np.abs(m.root_pos[kf] - moved.root_pos[kf]).max() < 1e-5
    assert np_quat_angle(m.rotations[kf], moved.rotations[kf]).max() < 1e-3
    assert info["key_error_max_cm"] < 0.1
    # between keys the motion is continuous: no frame-to-frame jump bigger than 15 cm at any joint
    p = m.positions()
    assert np.linalg.norm(np.diff(p, axis=0), axis=-1).max() < 0.15


def test_partial_body_key_leaves_other_joints_free(model, corpus):
    real = corpus.by_id("cmu_iclone_cc/007_03").motion
    arm = ["left_shoulder", "left_elbow"]
    idx = [CANONICAL.index(n) for n in arm]
    for root_keyed in (False, True):  # a keyed root without a keyed pelvis anchors by position only
        keys = Keys(np.array([30]), arm, real.rotations[[30]][:, idx], real.root_pos[[30]] + [1.0, 2.0, 0.0], None,
                    np.array([root_keyed]))
        m, _ = model.generate_motion("walk", 60, Controls(keys=keys), SamplingOptions(seed=0))
        assert np.all(np.isfinite(m.root_pos)) and np.all(np.isfinite(m.rotations))
        assert np_quat_angle(m.rotations[30, idx], real.rotations[30, idx]).max() < 1e-3
        if root_keyed:
            assert np.abs(m.root_pos[30] - (real.root_pos[30] + [1.0, 2.0, 0.0])).max() < 1e-5


def test_joint_target_is_reached(model):
    tg = JointTargets()
    tg.add("left_wrist", 40, (0.45, -0.5, 1.5))
    m, info = model.generate_motion("a person waves with one hand", 120, Controls(joint_targets=tg))
    assert info["joint_target_error_cm"] < 3.0
    assert np.linalg.norm(m.positions()[40, CANONICAL.index("left_wrist")] - tg.positions[0]) < 0.03


def test_timeline_makes_one_long_motion_with_continuous_seams(model):
    tl = [("a person walks forward", 0, 100), ("a person jumps in place", 100, 180),
          ("a person waves with one hand", 180, 300)]
    m, info = model.generate_motion("walk", 300, Controls(timeline=tl), SamplingOptions(seed=0))
    assert m.num_frames == 300 and info["windows"] >= 3
    p = m.positions()
    step = np.linalg.norm(np.diff(p, axis=0), axis=-1).max(axis=1)  # largest joint move per frame
    for seam in (100, 180):
        assert step[seam - 3:seam + 3].max() < 0.15, step[seam - 3:seam + 3]


def test_progress_per_step_partials_and_cancel(model):
    seen, partials = [], []
    model.generate_motion("a person walks forward", 120, options=SamplingOptions(steps=6),
                          on_progress=lambda i, n, msg: seen.append((i, n)), on_partial=lambda mo: partials.append(mo))
    assert seen == [(i, 6) for i in range(1, 7)]
    assert len(partials) == 6 and all(p.num_frames == 120 for p in partials)
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(GenerationCancelled):
        model.generate_motion("a person walks forward", 120, options=SamplingOptions(steps=10), cancelled=cancelled)
    assert len(calls) == 3


def test_other_frame_rates_keep_frame_count_and_keys(model, corpus):
    real = corpus.by_id("cmu_iclone_cc/007_03").motion
    keys = Keys(np.array([0, 47]), list(CANONICAL.names), real.rotations[[0, 60]], real.root_pos[[0, 60]],
                None, None)
    m, _ = model.generate_motion("walk", 48, Controls(keys=keys), SamplingOptions(seed=0), fps=24)
    assert m.num_frames == 48 and m.fps == 24
    assert np.abs(m.root_pos[[0, 47]] - real.root_pos[[0, 60]]).max() < 1e-5


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": "   "}, "prompt is empty"),
    ({"frames": 1}, "frames must be between"),
    ({"frames": 50_000}, "frames must be between"),
    ({"steps": 0}, "steps must be at least 1"),
    ({"trajectory": np.full((120, 3), np.nan)}, "NaN"),
    ({"trajectory": np.zeros((50, 3))}, "one point per frame"),
    ({"trajectory": np.zeros((50, 2)), "trajectory_timed": False}, "shape"),
])
def test_bad_input_is_refused_clearly(model, kwargs, message):
    args = {"prompt": "a person walks", "frames": 120}
    args.update(kwargs)
    prompt, frames = args.pop("prompt"), args.pop("frames")
    options = SamplingOptions(**{k: args.pop(k) for k in list(args) if k in ("steps",)})
    with pytest.raises(ControlError, match=message):
        model.generate_motion(prompt, frames, Controls(**args), options)


def test_key_outside_the_range_is_refused(model, corpus):
    real = corpus.by_id("cmu_iclone_cc/007_03").motion
    keys = Keys(np.array([130]), list(CANONICAL.names), real.rotations[:1], real.root_pos[:1], None, None)
    with pytest.raises(ControlError, match="outside"):
        model.generate_motion("walk", 120, Controls(keys=keys))


def test_trajectory_strength_trades_accuracy_for_freedom(model):
    F = 120
    path = np.zeros((F, 3))
    path[:, 0] = np.linspace(0, 1.5, F)
    path[:, 1] = -np.linspace(0, 3.0, F)
    err = {}
    for st in (1.0, 0.0):
        m, _ = model.generate_motion("a person walks forward", F, Controls(trajectory=path, trajectory_strength=st),
                                     SamplingOptions(seed=2))
        err[st] = float(np.linalg.norm(m.root_pos[:, :2] - path[:, :2], axis=1).mean())
    assert err[1.0] < 0.005 < err[0.0]
    assert err[0.0] < 1.0  # conditioning alone still keeps it near the path
    with pytest.raises(ControlError, match="trajectory_strength"):
        model.generate_motion("walk", F, Controls(trajectory=path, trajectory_strength=1.5))


def test_keys_are_eased_into_the_motion_without_pops():
    """The sampler may leave the frames next to a key off it; imposing the keys warps both sides onto them. Keys
    close together (4 frames) compose, keys far apart fade out over the warp radius; keyed values stay exact."""
    from backend.models.diffusion.model import _impose_keys
    from backend.motion.motion import Motion
    T, j = 40, CANONICAL.index("left_elbow")
    rot = np.zeros((T, CANONICAL.num_joints, 4))
    rot[..., 3] = 1.0
    m = Motion(CANONICAL, 30.0, np.tile([0.0, 0.0, 0.9], (T, 1)), rot)
    bent = np.array([np.sin(np.radians(15.0)), 0.0, 0.0, np.cos(np.radians(15.0))])  # 30 degrees about x, XYZW
    frames = np.array([10, 14, 30])
    q = np.repeat(rot[:1], 3, 0)
    q[:, j] = bent
    mask = np.zeros((3, CANONICAL.num_joints), bool)
    mask[:, j] = True
    root = np.tile([0.0, 0.0, 0.9], (3, 1)) + np.array([[0.3, 0.0, 0.0]])
    out = _impose_keys(m, Keys(frames, list(CANONICAL.names), q, root, mask, np.ones(3, bool)))
    ang = np.degrees(np_quat_angle(out.rotations[:, j], np.broadcast_to(bent, (T, 4))))
    assert ang[frames].max() < 1e-6 and np.abs(out.root_pos[frames] - root).max() < 1e-12
    assert ang[11:14].max() < 1.0  # between two close keys the corrections compose: the pose holds
    step = np.degrees(np_quat_angle(out.rotations[1:, j], out.rotations[:-1, j]))
    assert step.max() < 12.0, step.max()  # eased in over the radius, not a 30 degree pop next to the key
    assert np.degrees(np_quat_angle(out.rotations[0, j], rot[0, j])) < 1e-9  # far from any key: untouched
    assert np.abs(np.diff(out.root_pos[:, 0])).max() < 0.12


def test_guidance_default_comes_from_the_sidecar_with_exemplars_only(model):
    """The served guidance scale was chosen on val together with the exemplar strength (sidecar ``sampling``); from
    noise (no exemplar bank here) a request that names none keeps 2.5, and a named scale always wins."""
    from backend.models.diffusion.sampler import DEFAULT_GUIDANCE
    assert model.guidance_scale == model.meta["sampling"]["guidance_scale"] != DEFAULT_GUIDANCE
    assert model.exemplars is None and model.default_guidance(0.3) == DEFAULT_GUIDANCE
    _, info = model.generate_motion("a person walks forward", 40, options=SamplingOptions(seed=0))
    assert info["guidance_scale"] == DEFAULT_GUIDANCE
    _, info = model.generate_motion("a person walks forward", 40, options=SamplingOptions(seed=0, guidance_scale=1.0))
    assert info["guidance_scale"] == 1.0
    with_bank = type(model)(model.denoiser, model.normalizer, model.meta, model.encoder, exemplars=object())
    assert with_bank.default_guidance(model.exemplar_strength) == model.meta["sampling"]["guidance_scale"]
    assert with_bank.default_guidance(1.0) == DEFAULT_GUIDANCE
