"""The in-betweening network: a transformer over frames that predicts a residual on top of interpolation.

Each frame becomes one token built from the interpolation baseline (normalised features), which channel groups are
keyed, and how far each group is from its previous and next key. A pre-norm transformer encoder with a learned,
clipped relative-position bias (so it runs on windows of any length) mixes the frames; a zero-initialised linear
head outputs a residual per feature channel. The caller adds the residual only where nothing is keyed, so keys
pass through untouched and an untrained network is exactly the interpolation baseline (Oreshkin et al. 2022,
"Motion In-betweening via Deep Delta-Interpolator"; Harvey et al. 2020 for the time-to-key signal).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..features import FEATURE_DIM
from ..weights import SidecarConfig
from .frames import NUM_GROUPS


@dataclass
class NetConfig(SidecarConfig):
    d_model: int = 192
    layers: int = 4
    heads: int = 6
    ff_mult: int = 3
    dropout: float = 0.1
    max_rel: int = 64  # relative positions are clipped to +-max_rel frames
    key_horizon: float = 48.0  # time-to-key features saturate here (frames)



# base, keyed, has-base, 2 time-to-key per group, any-key; velocities at the bounding keys (+ flags)
IN_DIM = FEATURE_DIM + NUM_GROUPS * 4 + 1 + 2 * FEATURE_DIM + 2 * NUM_GROUPS
VEL_SCALE = 10.0  # per-frame velocities of normalised features are ~0.1: bring them to unit scale


class RelativeBias(nn.Module):
    def __init__(self, heads: int, max_rel: int):
        super().__init__()
        self.max_rel = max_rel
        self.table = nn.Parameter(torch.zeros(heads, 2 * max_rel + 1))

    def forward(self, T: int, device) -> torch.Tensor:
        r = torch.arange(T, device=device)
        rel = (r.view(1, T) - r.view(T, 1)).clamp(-self.max_rel, self.max_rel) + self.max_rel
        return self.table[:, rel]  # (H,T,T)


class Block(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        d, h = cfg.d_model, cfg.heads
        self.heads = h
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, cfg.ff_mult * d), nn.GELU(), nn.Linear(cfg.ff_mult * d, d))
        self.drop = nn.Dropout(cfg.dropout)
        self.p = cfg.dropout

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, D)))
        return x + self.drop(self.ff(self.norm2(x)))


class DeltaTransformer(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(IN_DIM, cfg.d_model)
        self.rel = RelativeBias(cfg.heads, cfg.max_rel)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, FEATURE_DIM)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def tokens(self, base_n: torch.Tensor, keyed: torch.Tensor, has_base: torch.Tensor, d_prev: torch.Tensor,
               d_next: torch.Tensor, v_prev_n: torch.Tensor, v_next_n: torch.Tensor, has_vp: torch.Tensor,
               has_vn: torch.Tensor) -> torch.Tensor:
        """Per-frame inputs: (B,T,135) normalised baseline (0 where there is none), (B,T,23) keyed, has-base,
        frames since / until the group's nearest keys, (B,T,135) normalised velocities at those keys (+ flags)."""
        h = self.cfg.key_horizon
        tp = 1.0 - (d_prev.clamp(max=h) / h)  # 1 on a key, 0 far from one
        tn = 1.0 - (d_next.clamp(max=h) / h)
        any_key = keyed.any(-1, keepdim=True)
        return torch.cat([base_n, keyed.float(), has_base.float(), tp, tn, any_key.float(),
                          VEL_SCALE * v_prev_n, VEL_SCALE * v_next_n, has_vp.float(), has_vn.float()], dim=-1)

    def forward(self, tokens: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B,T,IN_DIM), pad (B,T) True for frames to ignore -> residual (B,T,135)."""
        B, T, _ = tokens.shape
        x = self.inp(tokens)
        bias = self.rel(T, x.device).unsqueeze(0)  # (1,H,T,T)
        if pad is not None:
            bias = bias.masked_fill(pad.view(B, 1, 1, T), float("-inf"))
        for blk in self.blocks:
            x = blk(x, bias.to(x.dtype))
        return self.head(self.norm(x))
