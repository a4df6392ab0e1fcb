"""Weights on disk: safetensors tensors with a JSON sidecar, and the network configs stored in it.

A sidecar (``<name>.json`` beside ``<name>.safetensors``) holds the model config, the exact training command, the
corpus version, the seed, training time and the eval summary. Loading never unpickles anything. Models load their
weights through :func:`load_weights`, training writes them with :func:`save_weights`, and the model list
(``GET /v1/models``) shows :func:`sidecar_eval`.

A dataclass that mixes in :class:`SidecarConfig` round-trips through the sidecar's JSON and ignores keys it does not
know, so a sidecar written by older or newer code still loads.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, fields
from pathlib import Path


class SidecarConfig:
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def save_weights(path: Path, tensors: dict, meta: dict) -> Path:
    """Write ``path`` (.safetensors) and its JSON sidecar."""
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))
    meta = dict(meta)
    meta.setdefault("saved_at", time.strftime("%Y-%m-%d %H:%M:%S"))
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return path


def load_weights(path: Path) -> tuple[dict, dict]:
    """Read safetensors weights (no pickle) and their sidecar."""
    from safetensors.torch import load_file
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"weights must be .safetensors files, got {path.name}")
    if not path.exists():
        raise FileNotFoundError(f"no weights at {path}; train them with `python -m backend train ...`")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return load_file(str(path)), meta


def sidecar_eval(weights: Path) -> dict:
    """Scalar entries of the ``eval`` block of the sidecar of ``weights`` (``{}`` if there is no sidecar,
    ``{"status": "sidecar unreadable"}`` if it is not JSON)."""
    p = Path(weights).with_suffix(".json")
    if not p.is_file():
        return {}
    try:
        ev = json.loads(p.read_text()).get("eval", {})
    except (OSError, ValueError):
        return {"status": "sidecar unreadable"}
    return {k: v for k, v in ev.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
