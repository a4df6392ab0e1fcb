"""Sparse-walk metrics (backend.models.inbetween.sparse_walk) on synthetic motions with known answers, and the spline
row of the benchmark (the model with its network off)."""
import numpy as np
import pytest

from backend.models.inbetween import sparse_walk as S
from backend.motion.motion import Motion
from backend.motion.skeleton import CANONICAL

FPS = 30.0


def standing(T: int) -> Motion:
    """The rest pose standing still on the floor (both feet in contact on every frame)."""
    rot = np.zeros((T, CANONICAL.num_joints, 4))
    rot[..., 3] = 1.0
    root = np.tile([0.0, 0.0, 0.94], (T, 1))
    return Motion(CANONICAL, FPS, root, rot)


def lifting(T: int, left=(), right=()) -> Motion:
    """Standing, with a leg swung up 90 degrees at the hip on each [start, stop) span: the foot leaves the floor
    and comes down again once per span."""
    m = standing(T)
    q_up = np.array([np.sin(np.pi / 4), 0.0, 0.0, np.cos(np.pi / 4)])
    for joint, spans in (("left_hip", left), ("right_hip", right)):
        for a, b in spans:
            m.rotations[a:b, CANONICAL.index(joint)] = q_up
    return m


def test_contact_onsets_count_each_foot_coming_down():
    assert S.contact_onsets(standing(91)).tolist() == [0, 0]  # planted from frame 0: no onset
    assert S.contact_onsets(lifting(91, left=[(10, 20), (40, 50)])).tolist() == [2, 0]
    assert S.contact_onsets(lifting(91, left=[(10, 20)], right=[(30, 40), (55, 65), (75, 85)])).tolist() == [1, 3]
    # a foot still in the air at the end has lifted but not come down
    assert S.contact_onsets(lifting(91, right=[(70, 91)])).tolist() == [0, 0]


def test_contact_count_error_per_foot_per_30_frames():
    real = lifting(91, left=[(5, 15), (35, 45), (65, 75)], right=[(20, 30)])  # 3 and 1 steps in 90 frames
    gen = lifting(91, left=[(10, 20)], right=[(20, 30)])  # 1 and 1
    # |1-3| and |1-1| over 90 frames = 3 stretches of 30: (2/3 + 0) / 2
    assert S.contact_count_error([gen], [real]) == pytest.approx(1 / 3)
    assert S.contact_count_error([real], [real]) == 0.0
    # a moonwalk (no step at all) against the same walk, twice over: (3/3 + 1/3) / 2 on each window
    assert S.contact_count_error([standing(91)] * 2, [real] * 2) == pytest.approx(2 / 3)


def _root_path(x: np.ndarray) -> Motion:
    m = standing(len(x))
    m.root_pos[:, 0] = x
    return m


def test_key_accel_ratio_known_answers():
    t = np.arange(91) / FPS
    real = _root_path(0.5 * 2.0 * t ** 2)  # constant 2 m/s^2 on every joint: the median is 2
    assert np.allclose(S.acceleration(real)[1:-1], 2.0)
    assert np.isnan(S.acceleration(real)[[0, -1]]).all()
    assert S.key_accel_ratio([real], [real]) == pytest.approx(1.0)
    # piecewise linear through keys at 0, 30, 60, 90: velocity 0, 0.1, 0.2 m/s, a kink of 0.1 m/s at each inner key
    v = np.repeat([0.0, 0.1, 0.2], 30)
    x = np.concatenate([[0.0], np.cumsum(v) / FPS])
    kinked = _root_path(x)
    a = S.acceleration(kinked)
    assert a[30] == pytest.approx(3.0) and a[60] == pytest.approx(3.0)  # 0.1 m/s change in one frame = 3 m/s^2
    assert np.abs(a[31:60]).max() < 1e-9
    assert S.key_accel_ratio([kinked], [real]) == pytest.approx(1.5)
    # twice the kink, twice the ratio; the mean runs over every inner key of every window
    kinked2 = _root_path(2 * x)
    assert S.key_accel_ratio([kinked2], [real]) == pytest.approx(3.0)
    assert S.key_accel_ratio([kinked, kinked2], [real]) == pytest.approx(2.25)


def test_key_frames_and_full_body_keys():
    assert S.key_frames(181).tolist() == [0, 30, 60, 90, 120, 150, 180]
    assert S.key_frames(100).tolist() == [0, 30, 60, 90, 99]
    m = lifting(61, left=[(10, 20)])
    k = S.full_body_keys(m, S.key_frames(61))
    assert k.mask.all() and k.root_mask.all() and k.frames.tolist() == [0, 30, 60]
    assert np.array_equal(k.rotations[0], m.rotations[0]) and np.array_equal(k.root, m.root_pos[[0, 30, 60]])


class _Clip:
    def __init__(self, T, segments, id="take"):
        self.id, self.motion, self.segments = id, standing(T), segments

    @property
    def num_frames(self):
        return self.motion.num_frames


def test_locomotion_spans_merge_and_match_words_only():
    seg = [{"start": 0.0, "end": 2.0, "texts": ["a person walks forward"]},
           {"start": 1.5, "end": 4.0, "texts": ["someone is Running"]},
           {"start": 4.5, "end": 5.0, "texts": ["a man sits down", "he lies on the runway"]},
           {"start": 5.0, "end": None, "texts": ["jogging in place"]}]
    c = _Clip(200, seg)
    assert S.locomotion_spans(c) == [(0, 121), (150, 200)]
    w = S.locomotion_windows([c], window=61, stride=30)
    assert [m.meta["name"] for m in w] == ["take@0", "take@30", "take@60"]  # 150..200 is shorter than 61
    assert all(m.num_frames == 61 for m in w)
    assert len(S.locomotion_windows([c], window=61, stride=30, limit=2)) == 2


def test_spline_row_is_the_model_with_its_network_off(noisy_model, corpus):
    """The benchmark's spline row equals the base built by ``prepare`` (interpolation + velocity continuation), taken
    back to the world frame; with the network on, the (noisy) model is far from it."""
    import torch

    from backend.models.inbetween import evaluate as E
    from backend.models.inbetween import frames as fr
    from backend.models.inbetween.layouts import benchmark_layout
    from backend.models.inbetween.model import prepare
    root, rot, _ = E.clip_windows([c.motion for c in corpus.clips if c.split == "test"][:4], 10 + 30 + 1, 40)
    noisy_model.floor = noisy_model.plant = False  # the raw rows, before the post-process
    try:
        s_root, s_rot = E.spline_windows(noisy_model, root, rot)
        m_root, m_rot = E.model_windows(noisy_model, root, rot)
    finally:
        noisy_model.floor = noisy_model.plant = True
    assert noisy_model.use_network  # switched back on
    feats = E.to_features(root, rot)
    jm, rm = (torch.from_numpy(a).expand(len(root), *a.shape) for a in benchmark_layout(root.shape[1]))
    p = prepare(feats, jm, rm)
    world = fr.rotate_translate(p.base, p.yaw, p.origin, inverse=True)
    b_root, b_rot = E.from_features(torch.where(p.chan_keyed, feats, world))
    assert np.abs(s_root - b_root).max() < 1e-5
    assert np.minimum(np.abs(s_rot - b_rot).max(-1), np.abs(s_rot + b_rot).max(-1)).max() < 1e-5
    assert np.abs(m_root - b_root).max() > 0.05  # the network is really there when it is on
    # keys: both rows give back the keyed frames (float32 features: to 1e-6)
    keyed = list(range(10)) + [root.shape[1] - 1]
    assert E.key_error(s_root, s_rot, root, rot, keyed) < 1e-6
    assert E.key_error(m_root, m_rot, root, rot, keyed) < 1e-6
