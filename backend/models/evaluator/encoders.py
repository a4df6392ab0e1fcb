"""TMR-style text and motion encoders that score generated motion (Petrovich et al. 2023, contrastive part).

A motion encoder (small transformer over joint positions and velocities at 15 fps, masked mean pooling) and a
text head (MLP over the frozen sentence embedding) map into one 64-d unit sphere; trained with a symmetric InfoNCE
loss on the train split only, where pairs whose texts are near-duplicates are not used as negatives (TMR's
filtering: "walk" and "a person walks forward" are not a wrong match). These embeddings give R-precision, FID and
diversity for the evaluation; they never train the generator.

Motion input: the window is canonicalised (first frame above the origin facing -Y), then per frame at 15 fps the
22 joint positions relative to the root's ground point (66), the root's ground position (2) and the joint
velocities (66) = 134 values, standardised with train statistics stored in the weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...motion.motion import Motion
from ..diffusion.losses import positions as fk_positions
from ..features import FEATURE_DIM, NUM_JOINTS, motion_to_features
from ..weights import SidecarConfig

EVAL_FPS_STRIDE = 2  # 30 fps -> 15 fps
# per frame: joint positions relative to the root's ground point, the root's ground position, joint velocities
MOTION_IN = 3 * NUM_JOINTS + 2 + 3 * NUM_JOINTS  # 134


@dataclass
class EvaluatorConfig(SidecarConfig):
    d_model: int = 128
    layers: int = 3
    heads: int = 4
    ff: int = 256
    embed: int = 64
    text_dim: int = 384
    max_tokens: int = 256
    dropout: float = 0.1



def motion_inputs_from_positions(pos: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pos (B, T, 22, 3) canonicalised at frame 0, real (B, T) -> (inputs (B, T', 134), mask (B, T'))."""
    pos = pos[:, ::EVAL_FPS_STRIDE]
    real = real[:, ::EVAL_FPS_STRIDE]
    ground = pos[:, :, :1].clone()
    ground[..., 2] = 0.0
    rel = (pos - ground).flatten(2)  # (B, T', 66)
    vel = torch.zeros_like(pos)
    vel[:, 1:] = pos[:, 1:] - pos[:, :-1]
    vel = vel.flatten(2) * (30.0 / EVAL_FPS_STRIDE)  # m/s
    return torch.cat([rel, pos[:, :, 0, :2], vel], dim=-1), real


def motion_inputs(motions: list[Motion], pad_to: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical motions (30 fps) -> padded evaluator inputs and masks."""
    T = pad_to or max(m.num_frames for m in motions)
    feats = np.zeros((len(motions), T, FEATURE_DIM), np.float32)
    real = np.zeros((len(motions), T), bool)
    for i, m in enumerate(motions):
        m = m.canonicalized(0)
        n = min(T, m.num_frames)
        f = motion_to_features(m.slice(0, n))
        feats[i, :n] = f
        feats[i, n:] = f[-1]
        real[i, :n] = True
    with torch.no_grad():
        pos = fk_positions(torch.tensor(feats))
    return motion_inputs_from_positions(pos, torch.tensor(real))


class MotionEncoder(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.inp = nn.Linear(MOTION_IN, cfg.d_model)
        self.pos = nn.Parameter(torch.randn(cfg.max_tokens, cfg.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, cfg.ff, cfg.dropout, batch_first=True,
                                           norm_first=True)
        self.enc = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.out = nn.Linear(cfg.d_model, cfg.embed)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        h = self.inp(x) + self.pos[:T]
        h = self.enc(h, src_key_padding_mask=~mask)
        m = mask.float().unsqueeze(-1)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return F.normalize(self.out(pooled), dim=-1)


class TextHead(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(cfg.text_dim, 256), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(256, cfg.embed))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(t), dim=-1)


class Evaluator(nn.Module):
    """Both encoders plus the input standardisation (mean/std buffers, fitted on train windows)."""

    def __init__(self, cfg: EvaluatorConfig | None = None):
        super().__init__()
        cfg = cfg or EvaluatorConfig()
        self.cfg = cfg
        self.motion = MotionEncoder(cfg)
        self.text = TextHead(cfg)
        self.register_buffer("in_mean", torch.zeros(MOTION_IN))
        self.register_buffer("in_std", torch.ones(MOTION_IN))
        self.log_temp = nn.Parameter(torch.tensor(np.log(0.1), dtype=torch.float32))

    def encode_motion_inputs(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.motion((x - self.in_mean) / self.in_std, mask)

    @torch.no_grad()
    def encode_motions(self, motions: list[Motion], batch: int = 64) -> np.ndarray:
        self.eval()
        out = []
        for i in range(0, len(motions), batch):
            x, m = motion_inputs(motions[i:i + batch])
            out.append(self.encode_motion_inputs(x, m).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.cfg.embed), np.float32)

    @torch.no_grad()
    def encode_texts(self, text_embeddings: np.ndarray) -> np.ndarray:
        self.eval()
        return self.text(torch.tensor(np.asarray(text_embeddings, np.float32))).numpy()


def contrastive_loss(zm: torch.Tensor, zt: torch.Tensor, temp: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE; ``same`` (B, B) bool marks pairs that must not count as negatives (diagonal included)."""
    logits = zm @ zt.T / temp
    eye = torch.eye(len(zm), dtype=torch.bool)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    target = torch.arange(len(zm))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def load_evaluator(path=None) -> Evaluator:
    from pathlib import Path

    from ...paths import weights_file
    from ..weights import load_weights
    tensors, meta = load_weights(Path(path) if path else weights_file("evaluator"))
    ev = Evaluator(EvaluatorConfig.from_dict(meta.get("config", {})))
    ev.load_state_dict({k: v.float() for k, v in tensors.items()})
    ev.meta = meta
    return ev.eval()
