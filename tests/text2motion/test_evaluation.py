"""Metrics against hand-computed values (R-precision batches and intervals, MM-Dist, facing error, novelty,
penetration), and the committed evaluator on real held-out motion."""
from __future__ import annotations

import numpy as np
import pytest

from backend.eval.t2m_protocol import (
    NoveltyIndex,
    eval_samples,
    facing_error_deg,
    penetration_cm,
    pick_sentence,
    s_curve,
    window_positions,
)
from backend.models.evaluator.metrics import (
    diversity,
    expected_r_precision,
    fid,
    jerk_profile,
    mean_ci95,
    mm_dist,
    paired_bootstrap_ci95,
    r_precision,
    r_precision_batches,
    seam_peaks,
    transition_jerk,
)


def test_fid_is_zero_for_identical_sets_and_the_squared_shift_for_translated_ones(rng):
    a = rng.standard_normal((400, 8))
    assert abs(fid(a, a)) < 1e-8
    assert abs(fid(a, a + 2.0) - 8 * 4.0) < 1e-6


def test_r_precision_perfect_and_chance(rng):
    n, d = 200, 16
    texts = [f"t{i}" for i in range(n)]
    emb = rng.standard_normal((n, d))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert r_precision(emb, emb, texts, rng, batch=32, top=3, repeats=2) == 1.0
    other = rng.standard_normal((n, d))
    chance = r_precision(emb, other, texts, rng, batch=32, top=3, repeats=5)
    assert abs(chance - 3 / 32) < 0.04


def test_diversity_of_identical_embeddings_is_zero(rng):
    assert diversity(np.ones((50, 4)), rng) == 0.0
    assert diversity(rng.standard_normal((600, 4)), rng) > 2.0


def test_jerk_of_constant_velocity_is_zero_and_of_a_cubic_is_six():
    t = np.arange(40) / 30.0
    lin = np.zeros((40, 2, 3))
    lin[:, :, 0] = t[:, None] * 2.0
    assert np.allclose(jerk_profile(lin, 30.0), 0.0, atol=1e-6)
    cub = np.zeros((40, 1, 3))
    cub[:, 0, 1] = t ** 3
    assert np.allclose(jerk_profile(cub, 30.0), 6.0, atol=1e-6)
    pj, auj, prof = transition_jerk([cub], [[20]], 30.0, real_mean_jerk=6.0, half_window=5)
    assert abs(pj - 6.0) < 1e-6 and auj < 1e-6 and len(prof) == 10


def test_one_spiking_seam_sets_the_mean_profile_peak_but_not_the_per_seam_median():
    t = np.arange(40) / 30.0
    smooth = [np.zeros((40, 1, 3)) for _ in range(9)]
    for m in smooth:
        m[:, 0, 1] = t ** 3  # jerk 6 everywhere
    spike = smooth[0].copy()
    spike[20:, 0, 0] += 0.1  # a 10 cm pop at the seam
    pj, _, _ = transition_jerk(smooth + [spike], [[20]] * 10, 30.0, real_mean_jerk=6.0, half_window=5)
    peaks = seam_peaks(smooth + [spike], [[20]] * 10, 30.0, half_window=5)
    assert abs(peaks["median"] - 6.0) < 1e-6 and peaks["max"] > 1000.0 and pj > 100.0
    assert peaks["max"] > peaks["p90"] > peaks["median"]


def test_evaluator_matches_real_held_out_motion_to_its_text(evaluator, corpus):
    from backend.models.text import default_encoder
    samples = eval_samples([c for c in corpus.clips if c.split == "test"], 160)
    motions = [s.motion for s in samples]
    texts = [s.text for s in samples]
    zm = evaluator.encode_motions(motions)
    zt = evaluator.encode_texts(default_encoder().encode(texts))
    assert np.allclose(np.linalg.norm(zm, axis=1), 1.0, atol=1e-5)
    own = np.sum(zm * zt, axis=1)
    shuffled = np.sum(zm * zt[np.random.default_rng(0).permutation(len(zt))], axis=1)
    assert own.mean() > shuffled.mean() + 0.1


def test_r_precision_batches_rank_texts_by_euclidean_distance_within_each_batch(rng):
    # 3 pairs in one batch: motion 0 is nearest its own text, motion 1 second nearest, motion 2 third
    t = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    m = np.array([[0.1, 0.0], [1.0, 0.0], [-5.0, 0.0]])  # motion 1 is nearer text 0 (1) than its own (9)
    # motion 2 at -5: text 0 at 5, text 1 at 15, own text 2 at 25 -> rank 3
    acc = r_precision_batches(m, t, rng, batch=32)
    assert acc == {1: 1 / 3, 2: 2 / 3, 3: 1.0}


def test_r_precision_batches_drop_the_incomplete_batch_and_reach_chance(rng):
    n, d = 70, 16
    emb = rng.standard_normal((n, d))
    assert r_precision_batches(emb, emb, rng, batch=32) == {1: 1.0, 2: 1.0, 3: 1.0}
    # only 64 of the 70 pairs are scored: accuracies are multiples of 1/64
    acc = r_precision_batches(emb, rng.standard_normal((n, d)), rng, batch=32)
    assert all(abs(v * 64 - round(v * 64)) < 1e-9 for v in acc.values())
    big = rng.standard_normal((3200, d))
    chance = r_precision_batches(big, rng.standard_normal((3200, d)), rng, batch=32)
    assert abs(chance[1] - 1 / 32) < 0.01 and abs(chance[3] - 3 / 32) < 0.02


def test_expected_r_precision_is_the_protocols_hit_rate_pair_by_pair(rng):
    n, d = 96, 8
    t = rng.standard_normal((n, d))
    m = t + 1.2 * rng.standard_normal((n, d))  # noisy: hits neither certain nor hopeless
    e3 = expected_r_precision(m, t, batch=32, top=3)
    assert e3.shape == (n,) and np.all((e3 >= 0) & (e3 <= 1))
    shuffled = np.mean([r_precision_batches(m, t, np.random.default_rng(k), batch=32)[3] for k in range(400)])
    assert abs(e3.mean() - shuffled) < 0.01, (e3.mean(), shuffled)  # the expectation of the shuffled protocol
    assert np.all(expected_r_precision(m, t, top=1) <= expected_r_precision(m, t, top=2) + 1e-12)
    assert np.array_equal(expected_r_precision(t, t), np.ones(n))  # own text always nearest
    # three pairs, one batch (the worked example above): ranks 0, 1 and 2 are certain
    tt = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    mm = np.array([[0.1, 0.0], [1.0, 0.0], [-5.0, 0.0]])
    assert np.allclose(expected_r_precision(mm, tt, top=2), [1.0, 1.0, 0.0])


def test_paired_bootstrap_separates_a_real_difference_from_none(rng):
    base = rng.uniform(0, 1, 400)
    better = np.clip(base + 0.05 + 0.02 * rng.standard_normal(400), 0, 1)
    mean, lo, hi = paired_bootstrap_ci95(better, base, rng)
    assert lo > 0 and lo < mean < hi
    noise = base + 0.1 * rng.standard_normal(400)
    _, lo, hi = paired_bootstrap_ci95(noise, base, rng)
    assert lo < 0 < hi
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap_ci95(np.zeros(0), np.zeros(0), rng)
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap_ci95(np.zeros(5), np.zeros(1), rng)  # would broadcast


def test_mean_ci95_is_humanml3ds_interval_and_mm_dist_the_own_text_distance():
    mean, ci = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and abs(ci - 1.96 * np.sqrt(1.25) / 2) < 1e-12
    assert np.allclose(mean_ci95([0.7, 0.7, 0.7]), (0.7, 0.0), atol=1e-12)
    assert abs(mm_dist(np.array([[0.0, 0.0], [3.0, 4.0]]), np.zeros((2, 2))) - 2.5) < 1e-12


def test_facing_error_counts_moving_frames_only():
    fps, T = 30.0, 60
    xy = np.stack([np.arange(T) / fps * 1.0, np.zeros(T)], axis=1)  # 1 m/s along +X
    along = np.full(T, np.pi / 2)  # heading +X (0 = -Y, counter-clockwise)
    assert facing_error_deg(along, xy, fps) == (0.0, T)
    e, n = facing_error_deg(np.zeros(T), xy, fps)  # facing -Y while moving +X
    assert abs(e - 90.0) < 1e-9 and n == T
    e, _ = facing_error_deg(np.full(T, -np.pi / 2), xy, fps)  # walking backwards
    assert abs(e - 180.0) < 1e-9
    slow = xy * 0.1  # 0.1 m/s: below 0.2 m/s, nothing counted
    e, n = facing_error_deg(np.zeros(T), slow, fps)
    assert np.isnan(e) and n == 0
    # wrap-around: heading 179 degrees vs travel -179 degrees is 2 degrees apart
    back = np.stack([np.zeros(T), np.arange(T) / fps], axis=1)  # +Y: travel angle pi
    e, _ = facing_error_deg(np.full(T, np.radians(-179.0)), back, fps)
    assert abs(e - 1.0) < 1e-6


def test_s_curve_has_the_asked_length_and_starts_heading_minus_y():
    p = s_curve(4.0, amplitude=0.6, yaw=0.0)
    assert abs(np.linalg.norm(np.diff(p[:, :2], axis=0), axis=1).sum() - 4.0) < 1e-9
    assert np.allclose(p[0], 0.0) and p[-1, 1] < -2.0 and np.all(p[:, 2] == 0.0)


def test_penetration_is_the_deepest_joint_below_the_floor_in_cm():
    pos = np.zeros((5, 3, 3))
    pos[..., 2] = 0.5
    assert penetration_cm(pos) == 0.0
    pos[2, 1, 2] = -0.03
    pos[4, 0, 2] = -0.01
    assert abs(penetration_cm(pos) - 3.0) < 1e-9


def test_window_positions_ignore_where_the_window_stands_and_faces(rng):
    pos = rng.standard_normal((40, 4, 3))
    head = rng.uniform(-np.pi, np.pi, 40)
    a = 0.7
    c, s = np.cos(a), np.sin(a)
    moved = pos.copy()
    moved[..., 0], moved[..., 1] = c * pos[..., 0] - s * pos[..., 1] + 3.0, s * pos[..., 0] + c * pos[..., 1] - 2.0
    w1 = window_positions(pos, head, np.array([5, 9]), 30)
    w2 = window_positions(moved, head + a, np.array([5, 9]), 30)
    assert np.allclose(w1, w2, atol=1e-5) and np.allclose(w1[:, 0, 0, :2], 0.0, atol=1e-6)


def test_novelty_of_replayed_training_motion_is_zero_and_of_held_out_motion_is_not(corpus):
    train = [c.motion for c in corpus.clips if c.split == "train"]
    index = NoveltyIndex(train, stride=15, max_windows=20000)
    src = max(train, key=lambda m: m.num_frames)
    copy = src.slice(7, 7 + 97).rotated_about_z(1.1).canonicalized(0)  # off the 15-frame grid, moved and turned
    d = index.distances_cm([copy], query_stride=10)
    assert len(d) == 7 and d.max() < 0.05
    held = [c.motion for c in corpus.clips if c.split == "test"]
    assert np.median(index.distances_cm(held)) > 2.0


def test_eval_samples_cap_drop_and_choose_sentences_deterministically(corpus):
    clips = [c for c in corpus.clips if c.split == "test"]
    a, b = eval_samples(clips, window=40, min_frames=30), eval_samples(clips, window=40, min_frames=30)
    assert [s.text for s in a] == [s.text for s in b] and all(s.motion.num_frames <= 40 for s in a)
    assert len(a) == sum(c.num_frames >= 30 for c in clips)
    assert all(s.locomotion == any(w in s.text.lower() for w in ("walk", "run", "jog")) for s in a)
    assert pick_sentence(["x", "y", "z"], "k") == pick_sentence(["x", "y", "z"], "k")
