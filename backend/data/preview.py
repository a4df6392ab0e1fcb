"""Stick-figure strips of motions (matplotlib), so a person can look at data and results."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion.motion import Motion

_LEFT, _RIGHT = "#d62728", "#1f77b4"


def _side_color(name: str) -> str:
    n = name.lower()
    if "left" in n or n.startswith("l_") or n.endswith((".l", "_l")):
        return _LEFT
    if "right" in n or n.startswith("r_") or n.endswith((".r", "_r")):
        return _RIGHT
    return "#333333"


def draw_strip(motions: list[Motion] | Motion, out: str | Path, frames: int = 8, titles: list[str] | None = None,
               title: str | None = None, view: str = "side") -> Path:
    """Draw ``frames`` evenly spaced poses of each motion side by side (one row per motion) and save a PNG.

    ``view``: "side" looks at the character's left side (forward is to the right), "front" at its face. Poses are
    centred on their root and spaced one metre apart; frame numbers are written below.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    motions = [motions] if isinstance(motions, Motion) else list(motions)
    fig, axes = plt.subplots(len(motions), 1, figsize=(2.0 * frames, 2.6 * len(motions)), squeeze=False)
    for row, m in enumerate(motions):
        ax = axes[row, 0]
        pos = m.positions()
        idx = np.linspace(0, m.num_frames - 1, min(frames, m.num_frames)).round().astype(int)
        # screen x: forward (-Y) in side view, +X (character's left) in front view; each pose centred on its root
        sx = (lambda p: -p[..., 1]) if view == "side" else (lambda p: p[..., 0])
        for k, t in enumerate(idx):
            p = pos[t]
            x = sx(p) - sx(p[0]) + k * 1.0
            for j, par in enumerate(m.skeleton.parents):
                if par >= 0:
                    ax.plot([x[par], x[j]], [p[par, 2], p[j, 2]], color=_side_color(m.skeleton.names[j]), lw=1.6)
            ax.text(k * 1.0, -0.15, f"{t}", ha="center", fontsize=7, color="#666")
        ax.axhline(0.0, color="#999", lw=0.6)
        ax.set_aspect("equal")
        ax.set_ylim(-0.25, max(2.0, pos[..., 2].max() + 0.1))
        ax.set_xlim(-0.7, len(idx) - 0.3)
        ax.set_yticks([])
        ax.set_xticks([])
        lab = titles[row] if titles and row < len(titles) else m.meta.get("name", "")
        ax.set_title(f"{lab}  ({m.num_frames} frames @ {m.fps:g} fps)", fontsize=9, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
