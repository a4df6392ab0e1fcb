"""Shared fixtures for the retargeting tests: real characters from ../shared/data and the rig fixtures here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
FIXTURES = REPO / "tests" / "fixtures" / "rigs"
EXPECTED = Path(__file__).resolve().parent / "expected_maps"


def data_path(rel: str) -> Path:
    """A path under ../shared/data, or under the repo for fixtures (``tests/...``)."""
    return REPO / rel if rel.startswith("tests/") else DATA / rel


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared/data missing)")
    return path


def load_expected(name: str) -> dict:
    return json.loads((EXPECTED / name).read_text())


_RIG_CACHE: dict = {}


def load_rig_cached(rel: str):
    """Rigs are read once per test session (glTF parsing is the slow part)."""
    from backend.motion.skeleton import CANONICAL
    from backend.retarget.rig import Rig
    from backend.retarget.rig_files import load_rig
    if rel not in _RIG_CACHE:
        _RIG_CACHE[rel] = Rig.from_skeleton(CANONICAL, "canonical") if rel == "canonical" else \
            load_rig(need(data_path(rel)))
    return _RIG_CACHE[rel]
