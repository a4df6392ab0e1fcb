"""Shared test fixtures: repository paths, the small data fixtures committed under ``tests/fixtures/data``, the
shared data folder CI places beside the clone (``../shared/data``; a user's clone has none), the committed demo
corpus (loaded once) and a seeded RNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURE_DATA = REPO / "tests" / "fixtures" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``, for the tests about that data itself (e.g. building the corpus from its sources); they
    are skipped where it is not beside the clone. Tests of the code use :func:`fixture_data` instead."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DATA} (CI places ../shared beside the clone; a plain "
                    f"clone has none)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixture_data() -> Path:
    """The committed data fixtures (``tests/fixtures/data``): short cuts of ``../shared/data`` files under the same
    relative paths (``cmu_bvh_mb_friendly/bvh/02_01.bvh`` ...); see its ``LICENSES.md``."""
    return FIXTURE_DATA


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def corpus():
    """The committed demo corpus (``data/corpus``), loaded once."""
    from backend.data.corpus import load_corpus
    return load_corpus()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
