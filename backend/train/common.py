"""Training plumbing shared by every model: seeding, torchrun/DDP, weights on disk, loss plots.

Weights are safetensors files with a JSON sidecar (``<name>.json``) holding the model config, the exact training
command, the corpus version, the seed, training time and the eval summary. Loading never unpickles anything.
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

from ..models.weights import load_weights, save_weights  # noqa: F401 - the trainers' import point
from ..paths import REPO


def repo_relative(p: Path) -> str:
    """A path for a weights sidecar: relative to the repository when inside it, so sidecars do not name a machine."""
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def ddp_setup() -> tuple[int, int, bool]:
    """(rank, world_size, distributed). Initialises torch.distributed when launched by torchrun."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        return dist.get_rank(), dist.get_world_size(), True
    return 0, 1, False


def ddp_cleanup(distributed: bool) -> None:
    if distributed:
        import torch.distributed as dist
        dist.destroy_process_group()


def training_command() -> str:
    return "python -m backend " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("__main__.py") \
        else " ".join(sys.argv)


def plot_losses(history: dict[str, list[tuple[int, float]]], out: Path, title: str = "") -> Path:
    """Line plot of named loss curves [(step, value), ...] on a log scale."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, pts in history.items():
        if pts:
            s, v = zip(*pts)
            ax.plot(s, v, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
