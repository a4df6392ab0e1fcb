"""Shared fixtures for the retargeting tests: real characters and clips cut small under ``tests/fixtures/data``
(same relative paths as in ``../shared/data``), the rig dumps in ``tests/fixtures/rigs``, and the few files that only
``../shared/data`` has (tests on those skip without it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "fixtures" / "data"
SHARED = REPO.parent / "shared" / "data"
FIXTURES = REPO / "tests" / "fixtures" / "rigs"
EXPECTED = Path(__file__).resolve().parent / "expected_maps"


def data_path(rel: str) -> Path:
    """A committed data fixture (``rel`` as under ``../shared/data``), or a path in the repo (``tests/...``)."""
    return REPO / rel if rel.startswith("tests/") else DATA / rel


def need(path: Path) -> Path:
    """A committed fixture that must be there (a missing one is a broken checkout, not a reason to skip)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: regenerate it with tests/fixtures/data/make_data_fixtures.py")
    return path


def need_shared(rel: str) -> Path:
    """A file only ``../shared/data`` has (too big to commit): the test skips where it is not beside the clone."""
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data beside the clone; not in tests/fixtures/data)")
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
