"""Text-to-motion metrics, as in the HumanML3D / FlowMDM protocols, in plain numpy.

* :func:`r_precision`: for each motion, its own text and ``batch - 1`` other texts drawn at random from the pool
  (texts identical to its own are not drawn); hit when its own text is among the ``top`` nearest by cosine (the
  evaluator's quick validation score during training).
* :func:`r_precision_batches`: the HumanML3D protocol: shuffle the (motion, text) pairs, cut them into batches of
  32 (an incomplete last batch is dropped, as HumanML3D's loader does), rank each motion's 32 texts by Euclidean
  distance; top-1/2/3 accuracy. :func:`mm_dist`: mean distance of a motion's embedding to its own text's.
* :func:`expected_r_precision`: per pair, the probability of a hit in the HumanML3D protocol over its random
  batches (exact, hypergeometric), so two systems scored on the same pairs can be compared pair by pair;
  :func:`paired_bootstrap_ci95` gives the interval of their mean difference over resampled pairs. The repeats'
  interval (:func:`mean_ci95`) covers reshuffling and resampling only, not which pairs the split happens to hold.
* :func:`mean_ci95`: mean and the 95% interval half-width over repeats as HumanML3D reports it, 1.96 std / sqrt(R).
* :func:`fid`: Frechet distance between Gaussians fitted to two sets of embeddings.
* :func:`diversity`: mean distance between embeddings of two random equal-size subsets (HumanML3D: 300 pairs).
* :func:`jerk_profile` / :func:`transition_jerk`: FlowMDM's Peak Jerk and Area Under the Jerk around seams:
  per frame, the largest joint jerk (third difference of positions, m/s^3); PJ is the peak of the mean profile
  over a window centred on the seams, AUJ the area between that profile and the mean jerk of real motion.
"""
from __future__ import annotations

from math import comb

import numpy as np


def r_precision(motion_emb: np.ndarray, text_emb: np.ndarray, texts: list[str], rng: np.random.Generator,
                batch: int = 32, top: int = 3, repeats: int = 10) -> float:
    """Fraction of motions whose own text ranks in the top ``top`` of ``batch`` candidates."""
    n = len(texts)
    texts = np.asarray(texts)
    hits, total = 0, 0
    for _ in range(repeats):
        for i in range(n):
            others = np.nonzero(texts != texts[i])[0]
            k = min(batch - 1, len(others))
            cand = np.concatenate([[i], rng.choice(others, size=k, replace=False)])
            sims = text_emb[cand] @ motion_emb[i]
            rank = int((sims > sims[0]).sum())
            hits += rank < top
            total += 1
    return hits / max(total, 1)


def _pairs(motion_emb: np.ndarray, text_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (motion, text) embedding pairs of the R-precision protocol as float64; at least 2 of them."""
    m, t = np.asarray(motion_emb, np.float64), np.asarray(text_emb, np.float64)
    if len(m) < 2:
        raise ValueError(f"R-precision needs at least 2 (motion, text) pairs, got {len(m)}")
    return m, t


def r_precision_batches(motion_emb: np.ndarray, text_emb: np.ndarray, rng: np.random.Generator, batch: int = 32,
                        tops: tuple[int, ...] = (1, 2, 3)) -> dict[int, float]:
    """HumanML3D R-precision: pair ``i`` is (motion_emb[i], text_emb[i]). The pairs are shuffled and cut into
    batches of ``batch``; within a batch each motion ranks all the batch's texts by Euclidean distance and scores a
    hit at ``k`` when its own text is among the ``k`` nearest. Fewer pairs than ``batch``: one batch of them all.
    Returns {k: accuracy}."""
    m, t = _pairs(motion_emb, text_emb)
    n = len(m)
    order = rng.permutation(n)
    b = min(batch, n)
    hits = {k: 0 for k in tops}
    total = 0
    for s in range(0, n - b + 1, b):  # the incomplete last batch is dropped
        idx = order[s:s + b]
        d = np.linalg.norm(m[idx, None, :] - t[None, idx, :], axis=-1)  # (motion, text)
        own = np.diag(d)
        rank = (d < own[:, None]).sum(axis=1)  # texts strictly nearer than the motion's own
        for k in tops:
            hits[k] += int((rank < k).sum())
        total += b
    return {k: hits[k] / total for k in tops}


def expected_r_precision(motion_emb: np.ndarray, text_emb: np.ndarray, batch: int = 32, top: int = 3) -> np.ndarray:
    """(N,) for each pair ``i``: the probability that its own text is among the ``top`` nearest (Euclidean) of its
    batch when the N pairs are shuffled into batches of ``batch`` (:func:`r_precision_batches`, whose top-``top``
    accuracy this is the expectation of, pair by pair). Pair ``i``'s batch holds ``batch - 1`` of the other N - 1
    pairs, uniformly; with ``c`` of their texts strictly nearer than its own, the hit probability is
    hypergeometric: fewer than ``top`` of the ``c`` drawn. Fewer pairs than ``batch``: one batch of them all."""
    m, t = _pairs(motion_emb, text_emb)
    n = len(m)
    d = np.linalg.norm(m[:, None, :] - t[None, :, :], axis=-1)
    closer = (d < np.diag(d)[:, None]).sum(axis=1)
    others, draw = n - 1, min(batch, n) - 1
    total = comb(others, draw)
    return np.array([sum(comb(int(c), j) * comb(others - int(c), draw - j) for j in range(min(top, draw + 1)))
                     / total for c in closer])


def paired_bootstrap_ci95(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                          resamples: int = 2000) -> tuple[float, float, float]:
    """(mean of a - b, 2.5th, 97.5th percentile) of the mean difference of paired per-item values over
    ``resamples`` bootstrap resamples of the items."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired values must be two equal-length, non-empty 1-D arrays, got {a.shape} and {b.shape}")
    diff = a - b
    means = diff[rng.integers(0, len(diff), (int(resamples), len(diff)))].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def mm_dist(motion_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Multimodal distance: mean Euclidean distance between each motion's embedding and its own text's."""
    return float(np.linalg.norm(np.asarray(motion_emb, np.float64) - np.asarray(text_emb, np.float64), axis=1).mean())


def mean_ci95(values) -> tuple[float, float]:
    """(mean, 95% half-width) over repeats, HumanML3D's 1.96 * std / sqrt(R) (std with ddof 0, as numpy's)."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise ValueError("no values")
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(v.size))


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between N(mean_a, cov_a) and N(mean_b, cov_b)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    sa = _sqrtm_psd(ca)
    cross = _sqrtm_psd(sa @ cb @ sa)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.trace(cross))


def diversity(emb: np.ndarray, rng: np.random.Generator, pairs: int = 300) -> float:
    n = len(emb)
    k = min(pairs, n // 2)
    if k < 1:
        return 0.0
    idx = rng.permutation(n)
    return float(np.linalg.norm(emb[idx[:k]] - emb[idx[k:2 * k]], axis=1).mean())


def jerk_profile(pos: np.ndarray, fps: float) -> np.ndarray:
    """pos (T, J, 3) -> (T - 3,) the largest joint jerk magnitude per frame (m/s^3)."""
    j = np.diff(np.asarray(pos, np.float64), n=3, axis=0) * fps ** 3
    return np.linalg.norm(j, axis=-1).max(axis=-1)


def seam_windows(motions_pos: list[np.ndarray], seams: list[list[int]], fps: float,
                 half_window: int = 15) -> list[np.ndarray]:
    """The jerk profile (:func:`jerk_profile`) in the ``2 * half_window`` frames centred on each seam that fits."""
    windows = []
    for pos, ss in zip(motions_pos, seams):
        prof = jerk_profile(pos, fps)
        for s in ss:
            a, b = s - half_window, s + half_window
            if a >= 0 and b <= len(prof):
                windows.append(prof[a:b])
    return windows


def seam_peaks(motions_pos: list[np.ndarray], seams: list[list[int]], fps: float,
               half_window: int = 15) -> dict[str, float]:
    """Median, 90th percentile and largest of the per-seam peak jerk: how typical seams look, where the peak of
    the mean profile (:func:`transition_jerk`) can be one seam's spike."""
    peaks = np.array([w.max() for w in seam_windows(motions_pos, seams, fps, half_window)])
    if not len(peaks):
        return {"median": float("nan"), "p90": float("nan"), "max": float("nan")}
    return {"median": float(np.median(peaks)), "p90": float(np.percentile(peaks, 90)), "max": float(peaks.max())}


def transition_jerk(motions_pos: list[np.ndarray], seams: list[list[int]], fps: float, real_mean_jerk: float,
                    half_window: int = 15) -> tuple[float, float, np.ndarray]:
    """(peak jerk, area under jerk, mean profile) over windows of ``2 * half_window`` frames centred on seams."""
    windows = seam_windows(motions_pos, seams, fps, half_window)
    if not windows:
        return float("nan"), float("nan"), np.zeros(0)
    mean = np.mean(windows, axis=0)
    return float(mean.max()), float(np.abs(mean - real_mean_jerk).sum() / fps), mean
