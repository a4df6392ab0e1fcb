"""The batched helpers the model is built on: conversions, the interpolation baseline, the canonical frame."""
import numpy as np
import torch

from backend.models.inbetween import frames as fr
from backend.models.inbetween import protocol as P
from backend.models.inbetween.evaluate import clip_windows, from_features, to_features
from backend.models.inbetween.layouts import benchmark_layout, sample_layout
from backend.motion import rotations as R


def test_fast_conversions_match_library():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(500, 4, dtype=torch.float64), dim=-1)
    m = R.quat_to_matrix(q)
    assert torch.allclose(fr.quat_to_mat(q), m, atol=1e-12)
    q2 = fr.mat_to_quat(m)
    assert torch.allclose(torch.minimum((q2 - q).abs().amax(-1), (q2 + q).abs().amax(-1)),
                          torch.zeros(500, dtype=torch.float64), atol=1e-9)
    d6 = R.matrix_to_6d(m) + 0.05 * torch.randn(500, 6, dtype=torch.float64)  # off the manifold
    assert torch.allclose(fr.sixd_to_mat(d6), R.sixd_to_matrix(d6), atol=1e-10)


def test_interpolation_is_the_benchmark_baseline(corpus):
    motions = [c.motion for c in corpus.clips if c.split == "test"]
    root, rot, _ = clip_windows(motions, 10 + 30 + 1, 40)
    jm, rm = benchmark_layout(root.shape[1])
    x = to_features(root, rot)
    base, has = fr.interpolate(x, torch.from_numpy(jm).expand(len(x), -1, -1), torch.from_numpy(rm).expand(len(x), -1))
    assert bool(has.all())
    b_root, b_rot = from_features(base)
    p_root, p_rot = P.interpolation(root, rot)
    assert np.abs(b_root - p_root).max() < 1e-5
    ang = R.np_quat_angle(b_rot, p_rot)
    assert ang.max() < 1e-3


def test_interpolation_holds_outside_keys_and_flags_unkeyed_joints():
    T = 12
    x = torch.randn(1, T, 135)
    jm = torch.zeros(1, T, 22, dtype=torch.bool)
    rm = torch.zeros(1, T, dtype=torch.bool)
    jm[0, [3, 8], 5] = True
    rm[0, 6] = True
    base, has = fr.interpolate(x, jm, rm)
    assert has[0, :, 0].all() and has[0, :, 6].all() and not has[0, :, 1].any()
    assert torch.allclose(base[0, :, :3], x[0, 6, :3].expand(T, 3))  # one root key: held everywhere
    d6 = fr.mat_to_sixd(fr.sixd_to_mat(x[0, :, 3 + 30:3 + 36]))
    assert torch.allclose(base[0, :4, 33:39], d6[3].expand(4, 6), atol=1e-5)  # held before the first key
    assert torch.allclose(base[0, 8:, 33:39], d6[8].expand(T - 8, 6), atol=1e-5)  # and after the last


def test_reference_frame_rule():
    T = 20
    jm = torch.zeros(3, T, 22, dtype=torch.bool)
    rm = torch.zeros(3, T, dtype=torch.bool)
    jm[0, :10], rm[0, :10] = True, True  # context block: its last frame
    jm[0, 19], rm[0, 19] = True, True
    jm[1, [4, 12]], rm[1, [4, 12]] = True, True  # sparse keys: the first
    rm[2, 7] = True  # only a root key: that frame
    assert fr.reference_frame(jm, rm).tolist() == [9, 4, 7]


def test_canonical_frame_round_trip_and_invariance():
    torch.manual_seed(1)
    x = torch.randn(4, 16, 135)
    yaw = torch.rand(4) * 6 - 3
    origin = torch.randn(4, 3)
    y = fr.rotate_translate(fr.rotate_translate(x, yaw, origin), yaw, origin, inverse=True)
    assert torch.allclose(x, y, atol=1e-5)
    # canonicalising a window turned about Z and moved on the ground gives the same canonical window (height is
    # kept: it is information)
    origin[:, 2] = 0.0
    jm = torch.ones(4, 16, 22, dtype=torch.bool)
    rm = torch.ones(4, 16, dtype=torch.bool)
    q = R.quat_to_6d(torch.nn.functional.normalize(torch.randn(4, 16, 22, 4), dim=-1)).reshape(4, 16, -1)
    x = torch.cat([torch.randn(4, 16, 3), q], -1)
    ref = fr.reference_frame(jm, rm)
    a = fr.rotate_translate(x, *fr.heading_transform(x, ref, jm, rm))
    moved = fr.rotate_translate(x, yaw, origin, inverse=True)
    b = fr.rotate_translate(moved, *fr.heading_transform(moved, ref, jm, rm))
    assert torch.allclose(a, b, atol=1e-4)


def test_random_layouts_are_well_formed():
    rng = np.random.default_rng(0)
    for _ in range(300):
        real = int(rng.integers(2, 65))
        jm, rm, valid = sample_layout(rng, 64, real)
        assert valid.sum() <= real and valid[0]
        assert not jm[~valid].any() and not rm[~valid].any()
        assert jm[valid].any() or rm[valid].any()
