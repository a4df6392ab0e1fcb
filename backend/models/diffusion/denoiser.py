"""The denoiser: a small transformer that predicts the clean motion x0 from a noisy one (MDM-style).

Inputs per frame are the noisy features, the *observed* features (keys, trajectory, a prefix of earlier motion;
zero where unobserved) and the observation mask, so one network serves free generation and every kind of control
(CondMDI-style conditioning; the sampler also overwrites observed values after every step). Frames are grouped in
patches of ``patch`` frames per token to keep the sequence short on a CPU; each token decodes twice its span and
neighbouring tokens are overlap-added with triangular weights, so patch borders leave no seams in the motion. The diffusion step and the sentence
embedding condition every block through adaptive layer norm (DiT's adaLN-zero); the text is dropped to a learned
null embedding with probability ``cond_dropout`` in training, which is what classifier-free guidance needs.

A token of ``patch`` frames is ``3 * patch * D`` numbers squeezed into ``d_model``, so the transformer alone cannot
hand back the per-frame detail of its input: at the lowest noise level it returned the clean motion with a
normalised error of 0.21 where the noisy input itself was 0.0006 off (``docs/text2motion.md``). The optional *frame
head* (``frame_head`` channels, 0 = none) is a small two-layer temporal convolution at full frame rate over the
noisy and observed features, told the transformer's context (token features interpolated to frames) and the step
and text (FiLM); its zero-initialised output is added to the transformer's, so a network trained without it starts
out unchanged when it is added and fine-tuned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..features import FEATURE_DIM_CONTACTS
from ..weights import SidecarConfig


@dataclass
class DenoiserConfig(SidecarConfig):
    feature_dim: int = FEATURE_DIM_CONTACTS
    text_dim: int = 384
    d_model: int = 256
    layers: int = 4
    heads: int = 4
    ff: int = 512
    patch: int = 2
    max_frames: int = 480
    dropout: float = 0.1
    diffusion_steps: int = 100
    frame_head: int = 0  # channels of the full-frame-rate convolutional head (0: none; the v3 weights have none)



def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Standard sinusoidal embedding of (N,) positions -> (N, dim)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    ang = positions.float()[:, None] * freq[None]
    return torch.cat([ang.sin(), ang.cos()], dim=-1)


def _modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.ada = nn.Linear(d, 6 * d)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, N, D = x.shape
        s1, g1, a1, s2, g2, a2 = self.ada(F.silu(c)).chunk(6, dim=-1)
        h = _modulate(self.norm1(x), s1, g1)
        q, k, v = self.qkv(h).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.drop.p if self.training else 0.0)
        h = self.proj(h.transpose(1, 2).reshape(B, N, D))
        x = x + a1.unsqueeze(1) * self.drop(h)
        h = self.mlp(_modulate(self.norm2(x), s2, g2))
        return x + a2.unsqueeze(1) * self.drop(h)


class MotionDenoiser(nn.Module):
    def __init__(self, cfg: DenoiserConfig | None = None):
        super().__init__()
        cfg = cfg or DenoiserConfig()
        self.cfg = cfg
        d, P, D = cfg.d_model, cfg.patch, cfg.feature_dim
        self.inp = nn.Linear(3 * D * P, d)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null_text = nn.Parameter(torch.zeros(cfg.text_dim))
        self.blocks = nn.ModuleList([Block(d, cfg.heads, cfg.ff, cfg.dropout) for _ in range(cfg.layers)])
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, D * 2 * P)  # each token decodes 2P frames, overlap-added with its neighbours
        w = (torch.arange(2 * P, dtype=torch.float32) + 0.5) / P
        self.register_buffer("olap_w", torch.minimum(w, 2 - w), persistent=False)  # triangle; pairs sum to 1
        nn.init.zeros_(self.ada_out.weight)
        nn.init.zeros_(self.ada_out.bias)
        self.register_buffer("pos", sinusoid(torch.arange(cfg.max_frames // P + 2), d), persistent=False)
        self.frame = FrameHead(D, d, cfg.frame_head) if cfg.frame_head > 0 else None

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, obs: torch.Tensor,
                mask: torch.Tensor, frame_mask: torch.Tensor | None = None,
                text_keep: torch.Tensor | None = None) -> torch.Tensor:
        """x_t, obs, mask: (B, T, D); t: (B,) int; text: (B, text_dim); frame_mask: (B, T) bool real frames;
        text_keep: (B,) bool, False = use the null text (classifier-free guidance). Returns x0 (B, T, D)."""
        B, T, D = x_t.shape
        P = self.cfg.patch
        if T > self.cfg.max_frames:
            raise ValueError(f"the denoiser handles at most {self.cfg.max_frames} frames per window, got {T}")
        pad = (-T) % P
        x_in = torch.cat([x_t, obs * mask, mask], dim=-1)
        h = F.pad(x_in, (0, 0, 0, pad)) if pad else x_in
        N = (T + pad) // P
        h = self.inp(h.reshape(B, N, P * 3 * D)) + self.pos[:N].unsqueeze(0)
        if text_keep is not None:
            text = torch.where(text_keep[:, None], text, self.null_text.expand_as(text))
        c = self.t_mlp(sinusoid(t, self.cfg.d_model)) + self.text_proj(text)
        attn_mask, tok = None, None
        if frame_mask is not None:
            fm = F.pad(frame_mask, (0, pad)) if pad else frame_mask
            tok = fm.reshape(B, N, P).any(-1)  # (B, N) token holds a real frame
            attn_mask = tok[:, None, None, :]  # keys; True = attend
        for blk in self.blocks:
            h = blk(h, c, attn_mask)
        shift, scale = self.ada_out(F.silu(c)).chunk(2, dim=-1)
        h = _modulate(self.norm_out(h), shift, scale)
        y = self._overlap_add(self.out(h).reshape(B, N, 2 * P, D), tok)[:, :T]
        if self.frame is not None:
            if frame_mask is not None:
                x_in = x_in * frame_mask[..., None].to(x_in.dtype)
            y = y + self.frame(x_in, h, c, P)
        return y

    def _overlap_add(self, y: torch.Tensor, tok: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, 2P, D) token outputs -> (B, N*P, D) frames. Token k covers frames [kP - P/2, kP + 3P/2) with a
        triangular window, so neighbouring tokens blend and no frame sits on a hard patch border. Tokens without
        a real frame (``tok`` False) contribute nothing."""
        B, N, P2, _D = y.shape
        P = P2 // 2
        w = self.olap_w.view(1, 1, P2, 1)
        if tok is not None:
            w = w * tok.to(y.dtype).view(B, N, 1, 1)
        y = y * w

        def fold(z):
            first = z[:, :, :P].reshape(z.shape[0], N * P, -1)
            second = z[:, :, P:].reshape(z.shape[0], N * P, -1)
            return F.pad(first, (0, 0, 0, P)) + F.pad(second, (0, 0, P, 0))

        buf = fold(y)
        norm = fold(w.expand(w.shape[0], N, P2, 1))
        h = P // 2
        return buf[:, h:h + N * P] / norm[:, h:h + N * P].clamp(min=1e-6)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class ExpertDenoisers(nn.Module):
    """Two denoisers of one architecture split by noise level, after eDiff-I's expert denoisers: steps with
    ``t <= max_t`` go to ``low_noise`` (a copy fine-tuned on those levels only: ``train text2motion --max-t``), the
    others to ``base``. Called like :class:`MotionDenoiser`; a batch whose rows straddle ``max_t`` runs both."""

    def __init__(self, base: MotionDenoiser, low_noise: MotionDenoiser, max_t: int):
        super().__init__()
        if base.cfg.to_dict() != low_noise.cfg.to_dict():
            raise ValueError(f"the low-noise expert's config {low_noise.cfg.to_dict()} is not the base network's "
                             f"{base.cfg.to_dict()}")
        self.base, self.low_noise, self.max_t = base, low_noise, int(max_t)
        self.cfg = base.cfg

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        low = t <= self.max_t
        if bool(low.all()):
            return self.low_noise(x_t, t, *args, **kwargs)
        if not bool(low.any()):
            return self.base(x_t, t, *args, **kwargs)
        return torch.where(low.view(-1, 1, 1), self.low_noise(x_t, t, *args, **kwargs),
                           self.base(x_t, t, *args, **kwargs))


def denoiser_state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The denoiser's parameters from a weights file's tensors (stored under ``denoiser.``), as float32."""
    return {k[len("denoiser."):]: v.float() for k, v in tensors.items() if k.startswith("denoiser.")}


class FrameHead(nn.Module):
    """Per-frame detail the patched transformer cannot carry: ``conv(k=3) -> FiLM -> GELU -> conv(k=5) -> FiLM ->
    GELU -> 1x1`` over (noisy, observed, mask) features at the full frame rate (receptive field 7 frames), plus the
    transformer's token features linearly interpolated to frames. The last layer starts at zero."""

    def __init__(self, feature_dim: int, d_model: int, channels: int):
        super().__init__()
        C = channels
        self.inp = nn.Conv1d(3 * feature_dim, C, 3, padding=1)
        self.ctx = nn.Linear(d_model, C)
        self.mid = nn.Conv1d(C, C, 5, padding=2)
        self.film = nn.Linear(d_model, 4 * C)
        self.out = nn.Conv1d(C, feature_dim, 1)
        for layer in (self.film, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, inp: torch.Tensor, tokens: torch.Tensor, c: torch.Tensor, patch: int) -> torch.Tensor:
        """inp (B, T, 3D); tokens (B, N, d) transformer output, ``patch`` frames each; c (B, d) step + text.
        Returns (B, T, D)."""
        T = inp.shape[1]
        ctx = F.interpolate(self.ctx(tokens).transpose(1, 2), scale_factor=patch, mode="linear",
                            align_corners=False)[..., :T]  # token k's value lands on its span's centre
        s1, g1, s2, g2 = self.film(F.silu(c)).unsqueeze(-1).chunk(4, dim=1)
        u = F.gelu((self.inp(inp.transpose(1, 2)) + ctx) * (1 + g1) + s1)
        u = F.gelu(self.mid(u) * (1 + g2) + s2)
        return self.out(u).transpose(1, 2)
