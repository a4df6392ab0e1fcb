"""Text-to-motion metrics, as in the HumanML3D / FlowMDM protocols, in plain numpy.

* :func:`r_precision`: for each motion, its own text and ``batch - 1`` other texts drawn at random from the pool
  (texts identical to its own are not drawn); hit when its own text is among the ``top`` nearest by cosine.
  HumanML3D uses batches of 32 and reports top-1/2/3.
* :func:`fid`: Frechet distance between Gaussians fitted to two sets of embeddings.
* :func:`diversity`: mean distance between embeddings of two random equal-size subsets (HumanML3D: 300 pairs).
* :func:`jerk_profile` / :func:`transition_jerk`: FlowMDM's Peak Jerk and Area Under the Jerk around seams:
  per frame, the largest joint jerk (third difference of positions, m/s^3); PJ is the peak of the mean profile
  over a window centred on the seams, AUJ the area between that profile and the mean jerk of real motion.
"""
from __future__ import annotations

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


def transition_jerk(motions_pos: list[np.ndarray], seams: list[list[int]], fps: float, real_mean_jerk: float,
                    half_window: int = 15) -> tuple[float, float, np.ndarray]:
    """(peak jerk, area under jerk, mean profile) over windows of ``2 * half_window`` frames centred on seams."""
    windows = []
    for pos, ss in zip(motions_pos, seams):
        prof = jerk_profile(pos, fps)
        for s in ss:
            a, b = s - half_window, s + half_window
            if a >= 0 and b <= len(prof):
                windows.append(prof[a:b])
    if not windows:
        return float("nan"), float("nan"), np.zeros(0)
    mean = np.mean(windows, axis=0)
    return float(mean.max()), float(np.abs(mean - real_mean_jerk).sum() / fps), mean
