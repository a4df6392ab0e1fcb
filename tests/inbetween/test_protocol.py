"""Benchmark metrics: zero for perfect predictions, the right sign conventions, the baselines' defining traits."""
import numpy as np

from backend.models.inbetween import protocol as P
from backend.models.inbetween.evaluate import clip_windows, position_stats
from backend.motion.skeleton import CANONICAL


def _windows(corpus, n=30):
    return clip_windows([c.motion for c in corpus.clips if c.split == "test"], 10 + n + 1, 40)


def test_metrics_zero_on_ground_truth_and_sign_blind(corpus):
    root, rot, _ = _windows(corpus)
    stats = position_stats([c.motion for c in corpus.clips if c.split == "train"][:20])
    flipped = rot.copy()
    flipped[:, ::3] *= -1  # same rotations, other quaternion sign
    m = P.transition_metrics(root, flipped, root, rot, CANONICAL.offsets, CANONICAL.parents, *stats)
    assert m["l2p"] < 1e-9 and m["l2q"] < 1e-9 and abs(m["npss"]) < 1e-9


def test_baselines_order_and_definition(corpus):
    root, rot, _ = _windows(corpus)
    stats = position_stats([c.motion for c in corpus.clips if c.split == "train"][:20])
    zr, zq = P.zero_velocity(root, rot)
    assert np.array_equal(zq[:, 10:-1], np.broadcast_to(rot[:, 9:10], zq[:, 10:-1].shape))
    ir, iq = P.interpolation(root, rot)
    mid = (10 + 40) // 2 - 1 + 1  # halfway between frame 9 and frame 40 is frame 24.5: check the root is linear
    assert np.allclose(ir[:, 25] - ir[:, 24], (root[:, 40] - root[:, 9]) / 31)
    z = P.transition_metrics(zr, zq, root, rot, CANONICAL.offsets, CANONICAL.parents, *stats)
    i = P.transition_metrics(ir, iq, root, rot, CANONICAL.offsets, CANONICAL.parents, *stats)
    assert i["l2p"] < z["l2p"] and i["l2q"] < z["l2q"]
    assert mid == 25


def test_npss_detects_a_spectrum_change():
    t = np.linspace(0, 1, 40)
    gt = np.sin(2 * np.pi * 2 * t)[None, :, None] + 1.0
    slow = np.sin(2 * np.pi * 1 * t)[None, :, None] + 1.0
    assert P.npss(gt, gt) == 0.0
    assert P.npss(gt, slow) > 0.01


def test_canonicalize_windows_faces_minus_y_on_the_last_context_frame(corpus):
    root, rot, _ = _windows(corpus)
    ang = P.heading_from_root(rot[:, 9, 0], np.array([1.0, 0, 0]))
    assert np.abs(np.angle(np.exp(1j * ang))).max() < 1e-9
    assert np.abs(root[..., :2].mean(1)).max() < 1e-9
