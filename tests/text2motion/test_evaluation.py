"""Metrics against hand-computed values, and the committed evaluator on real held-out motion."""
from __future__ import annotations

import numpy as np

from backend.models.evaluator.metrics import diversity, fid, jerk_profile, r_precision, transition_jerk


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


def test_evaluator_matches_real_held_out_motion_to_its_text(evaluator, corpus):
    from backend.eval.text2motion import test_samples
    from backend.models.text import default_encoder
    samples = test_samples([c for c in corpus.clips if c.split == "test"], 120, 30)
    motions = [m for m, _, _ in samples]
    texts = [t for _, t, _ in samples]
    zm = evaluator.encode_motions(motions)
    zt = evaluator.encode_texts(default_encoder().encode(texts))
    assert np.allclose(np.linalg.norm(zm, axis=1), 1.0, atol=1e-5)
    own = np.sum(zm * zt, axis=1)
    shuffled = np.sum(zm * zt[np.random.default_rng(0).permutation(len(zt))], axis=1)
    assert own.mean() > shuffled.mean() + 0.1
