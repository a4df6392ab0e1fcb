"""Shared fixtures: the committed model and evaluator (loaded once); the corpus and the seeded RNG are in
``tests/conftest.py``."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def model():
    from backend.models.diffusion.model import load_default
    return load_default()


@pytest.fixture(scope="session")
def evaluator():
    from backend.models.evaluator.encoders import load_evaluator
    return load_evaluator()
