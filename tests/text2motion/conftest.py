"""Shared fixtures: the committed model and evaluator (loaded once), the corpus, and a seeded RNG."""
from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def corpus():
    from backend.data.corpus import load_corpus
    return load_corpus()


@pytest.fixture(scope="session")
def model():
    from backend.models.diffusion.model import load_default
    return load_default()


@pytest.fixture(scope="session")
def evaluator():
    from backend.models.evaluator.encoders import load_evaluator
    return load_evaluator()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
