"""Resumable training: checkpoints of modules, optimiser and random state in safetensors + JSON (no pickle).

A checkpoint is ``<stem>.ckpt.safetensors`` (every tensor: module parameters and buffers, optimiser moments) and
``<stem>.ckpt.json`` (step, optimiser hyper-parameters and scalar state, numpy generator state, the trainer's own
state such as loss history and the best validation score). ``--resume`` restores all of it, so a run split into
chunks (``--max-minutes``) ends where one uninterrupted run would, up to floating-point reduction order.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch


def checkpoint_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".ckpt.safetensors")


def save_checkpoint(out: Path, step: int, modules: dict[str, torch.nn.Module], opt: torch.optim.Optimizer,
                    rng: np.random.Generator, state: dict) -> Path:
    from safetensors.torch import save_file

    path = checkpoint_path(out)
    tensors: dict[str, torch.Tensor] = {}
    for name, mod in modules.items():
        for k, v in mod.state_dict().items():
            tensors[f"{name}.{k}"] = v.detach().contiguous().cpu()
    osd = opt.state_dict()
    scalars: dict[str, dict] = {}
    for pid, st in osd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.dim() > 0:
                tensors[f"opt.{pid}.{k}"] = v.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(pid), {})[k] = float(v)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)
    meta = {"step": step, "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"), "opt_param_groups": osd["param_groups"],
            "opt_scalars": scalars, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state().tolist(),
            "state": state}
    path.with_suffix(".json").write_text(json.dumps(meta, default=str) + "\n")
    return path


def load_checkpoint(out: Path, modules: dict[str, torch.nn.Module], opt: torch.optim.Optimizer,
                    rng: np.random.Generator, device: torch.device | str = "cpu") -> tuple[int, dict]:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns (step, trainer state)."""
    from safetensors.torch import load_file

    path = checkpoint_path(out)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: start without --resume")
    tensors = load_file(str(path), device=str(device))
    meta = json.loads(path.with_suffix(".json").read_text())
    for name, mod in modules.items():
        pre = name + "."
        mod.load_state_dict({k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)})
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, key = k.split(".", 2)
            state.setdefault(int(pid), {})[key] = v
    for pid, sc in meta["opt_scalars"].items():
        for key, val in sc.items():
            state.setdefault(int(pid), {})[key] = torch.tensor(val)
    opt.load_state_dict({"state": state, "param_groups": meta["opt_param_groups"]})
    rng.bit_generator.state = meta["rng"]
    torch.set_rng_state(torch.tensor(meta["torch_rng"], dtype=torch.uint8))
    return int(meta["step"]), meta["state"]
