"""Where things live in a checkout: the one place that knows the repository's layout.

Every module that needs a path outside the package (committed weights, the built corpus, caches, the shared data
folder beside the checkout) takes it from here instead of counting ``Path(__file__).parents``.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "weights"  # committed safetensors + JSON sidecars
DATA = REPO / "data"  # built corpora (``python -m backend data build``)
CACHE = REPO / ".cache"  # rebuildable: text embeddings, FBX conversions
DOCS = REPO / "docs"
TESTS = REPO / "tests"
SHARED_DATA = REPO.parent / "shared" / "data"  # read-only source data beside the checkout (each has SOURCE.md)


def weights_file(stem: str) -> Path:
    """``weights/<stem>.safetensors`` (its sidecar is the same name with ``.json``)."""
    return WEIGHTS / f"{stem}.safetensors"
