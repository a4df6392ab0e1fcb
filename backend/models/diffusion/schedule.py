"""Noise schedule and the deterministic DDIM update for an x0-predicting diffusion model.

Training uses ``T`` (default 100) steps with the cosine schedule of Nichol & Dhariwal (2021); sampling walks a
subsequence of ``S`` of them with DDIM (Song et al. 2021, eta = 0), so ``S`` = 10 costs 10 network calls. Few
training steps (MDM-style models use 50-1000) keep the few-step sampler close to the trained marginals.
"""
from __future__ import annotations

import math

import torch


class CosineSchedule:
    def __init__(self, num_steps: int = 100, s: float = 0.008):
        if num_steps < 2:
            raise ValueError("a diffusion schedule needs at least 2 steps")
        self.num_steps = int(num_steps)
        f = [math.cos(((t / num_steps) + s) / (1 + s) * math.pi / 2) ** 2 for t in range(num_steps + 1)]
        abar = torch.tensor([f[t + 1] / f[0] for t in range(num_steps)], dtype=torch.float64)
        # clip the per-step betas as in the paper (keeps the last steps finite)
        betas = 1 - abar / torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        betas = betas.clamp(max=0.999)
        self.alphas_cumprod = torch.cumprod(1 - betas, 0).float()  # abar_t, t = 0..T-1 (t = 0 least noisy)

    def abar(self, t: torch.Tensor) -> torch.Tensor:
        return self.alphas_cumprod.to(t.device)[t]

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Noise clean ``x0`` (B, ...) to level ``t`` (B,)."""
        a = self.abar(t).view(-1, *([1] * (x0.dim() - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def timesteps(self, steps: int) -> list[int]:
        """``steps`` timesteps from the noisiest (T-1) down to 0, evenly spaced, distinct."""
        steps = max(1, min(int(steps), self.num_steps))
        if steps == 1:
            return [self.num_steps - 1]
        ts = torch.linspace(self.num_steps - 1, 0, steps).round().long().tolist()
        out = []
        for t in ts:
            if not out or t != out[-1]:
                out.append(int(t))
        return out

    def timesteps_from(self, strength: float, steps: int) -> list[int]:
        """Timesteps for a start part-way down the schedule (SDEdit): from ``round(strength (T-1))`` to 0, about
        ``strength * steps`` of them (at least one)."""
        strength = min(1.0, max(0.0, float(strength)))
        t0 = round(strength * (self.num_steps - 1))
        n = max(1, min(t0 + 1, round(strength * int(steps))))
        if n == 1:
            return [t0]
        out = []
        for t in torch.linspace(t0, 0, n).round().long().tolist():
            if not out or t != out[-1]:
                out.append(int(t))
        return out

    def ddim_step(self, x_t: torch.Tensor, x0: torch.Tensor, t: int, t_prev: int | None) -> torch.Tensor:
        """x_t -> x_{t_prev} given the predicted clean sample (eta = 0). ``t_prev=None`` returns x0."""
        if t_prev is None or t_prev < 0:
            return x0
        a_t = self.alphas_cumprod[t].item()
        a_p = self.alphas_cumprod[t_prev].item()
        eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(max(1 - a_t, 1e-12))
        return math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * eps
