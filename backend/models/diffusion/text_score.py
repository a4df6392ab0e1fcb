"""How well a motion fits a sentence, in the denoiser's own terms: a diffusion classifier.

A text-conditioned diffusion model's denoising error bounds ``-log p(x | text)`` (its ELBO); the same error with the
null text bounds ``-log p(x)``. Their difference therefore estimates ``log p(x | text) - log p(x) = log p(text | x) +
const``: how much the sentence explains the motion beyond what any motion is explained (Li et al. 2023, "Your
Diffusion Model is Secretly a Zero-Shot Classifier"; Clark & Jaini 2023). It ranks *motions* for one sentence, so
each candidate is noised with the same noise draws at the same levels and only the difference between candidates
counts.

Here the motions are *generated* ones: a request with ``best_of`` N makes N candidates (its variations, each from its
own exemplar and noise) and returns the one the sentence explains best (:meth:`.model.Text2MotionModel.
generate_motion`). Stop 25 used the same score to re-order the *exemplars* before generating; the replayed clips
scored higher but the generated motion kept little of it, so the score now judges what is returned.

:class:`TextScore` scores a batch of candidates in one network call (both texts batched, as classifier-free
guidance does). The levels and draws come from the weights' sidecar (``sampling.best_of``); they were fixed before
any val run (``docs/text2motion.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TextScoreConfig:
    candidates: int = 3  # motions generated per request, the best-scored returned (1: no choice, no scoring)
    levels: tuple[int, ...] = (30, 45, 60)  # diffusion steps the candidates are noised to
    draws: int = 3  # noise draws per level (shared by all candidates)
    max_frames: int = 160  # frames scored per candidate (the first ones): one sampling window

    @classmethod
    def from_dict(cls, d: dict) -> TextScoreConfig:
        return cls(int(d.get("candidates", cls.candidates)), tuple(int(t) for t in d.get("levels", cls.levels)),
                   int(d.get("draws", cls.draws)), int(d.get("max_frames", cls.max_frames)))


class TextScore:
    """``score(text_embedding, features, seed)`` -> one number per candidate, higher = the sentence explains it
    better. ``denoiser``, ``schedule``, ``normalizer``: as :class:`.sampler.Denoising` holds them."""

    def __init__(self, denoiser, schedule, normalizer, config: TextScoreConfig | None = None):
        self.denoiser, self.schedule, self.normalizer = denoiser, schedule, normalizer
        self.config = config or TextScoreConfig()
        bad = [t for t in self.config.levels if not 0 <= t < schedule.num_steps]
        if bad or not self.config.levels or self.config.draws < 1 or self.config.candidates < 1:
            raise ValueError(f"text score levels must lie in 0..{schedule.num_steps - 1} with draws >= 1 and "
                             f"candidates >= 1, got {self.config}")

    @torch.no_grad()
    def score(self, text: torch.Tensor, features: list[np.ndarray], seed: int = 0) -> np.ndarray:
        """``text`` (text_dim,) sentence embedding; ``features`` candidates' un-normalised model-frame features
        (frames, D) each, scored on their first ``min(max_frames, shortest)`` frames. Returns (candidates,)."""
        if not features:
            return np.zeros(0)
        n = min(self.config.max_frames, min(len(f) for f in features))
        x0 = torch.stack([self.normalizer(torch.as_tensor(np.asarray(f[:n], np.float32))) for f in features])
        C, D = len(features), x0.shape[-1]
        levels = torch.tensor(self.config.levels, dtype=torch.long).repeat(self.config.draws)  # (L,)
        L = len(levels)
        gen = torch.Generator().manual_seed(int(seed))
        eps = torch.randn(L, n, D, generator=gen)
        xs = x0[:, None].expand(C, L, n, D).reshape(C * L, n, D)
        ts = levels.repeat(C)
        xt = self.schedule.q_sample(xs, ts, eps.repeat(C, 1, 1))
        B = C * L
        zero = torch.zeros_like(xs)
        keep = torch.cat([torch.ones(B, dtype=torch.bool), torch.zeros(B, dtype=torch.bool)])
        out = self.denoiser(torch.cat([xt, xt]), torch.cat([ts, ts]), text.reshape(1, -1).float().expand(2 * B, -1),
                            torch.cat([zero, zero]), torch.cat([zero, zero]), text_keep=keep)
        err = ((out - torch.cat([xs, xs])) ** 2).mean((1, 2))
        return (err[B:] - err[:B]).view(C, L).mean(1).numpy().astype(np.float64)
