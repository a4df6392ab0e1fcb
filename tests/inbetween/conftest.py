"""Shared fixtures for the in-betweening tests: the corpus, the committed model, and a random untrained model whose
residual head is *not* zero (so key exactness is tested against a network that really changes things)."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def trained():
    from backend.models.inbetween.model import DEFAULT_WEIGHTS, Inbetweener
    if not DEFAULT_WEIGHTS.exists():
        pytest.fail(f"committed weights missing at {DEFAULT_WEIGHTS}")
    return Inbetweener.load(DEFAULT_WEIGHTS)


@pytest.fixture(scope="session")
def noisy_model(corpus):
    """Untrained network with a randomised output head: large, arbitrary residuals everywhere."""
    from backend.models.features import Normalizer, motion_to_features
    from backend.models.inbetween.model import build
    from backend.models.inbetween.network import NetConfig
    torch.manual_seed(0)
    feats = [motion_to_features(c.motion) for c in corpus.clips[:20]]
    model = build(NetConfig(d_model=32, layers=1, heads=2), Normalizer.fit(feats))
    torch.nn.init.normal_(model.net.head.weight, std=0.5)
    torch.nn.init.normal_(model.net.head.bias, std=0.5)
    return model
