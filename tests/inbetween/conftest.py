"""Shared fixtures for the in-betweening tests: the corpus, the committed model, and a random untrained model whose
residual head is *not* zero (so key exactness is tested against a network that really changes things)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def corpus():
    from backend.data.corpus import load_corpus
    return load_corpus()


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


def make_keys(motion, frames, mask=None, root_mask=None):
    from backend.models.inbetween.keys import CanonicalKeys
    frames = np.asarray(frames)
    K = len(frames)
    return CanonicalKeys(frames, motion.rotations[frames].copy(), motion.root_pos[frames].copy(),
                         np.ones((K, 22), bool) if mask is None else np.asarray(mask, bool),
                         np.ones(K, bool) if root_mask is None else np.asarray(root_mask, bool))


def key_error(out, keys) -> float:
    """Largest difference between keyed values and the output on those (frame, joint)s (output frame 0 = key
    frame 0's timeline start)."""
    lo = keys.frames[0]
    worst = 0.0
    for k, f in enumerate(keys.frames):
        r = f - lo
        q = out.rotations[r, keys.mask[k]]
        qk = keys.rotations[k, keys.mask[k]]
        if len(q):
            d = np.minimum(np.abs(q - qk).max(-1), np.abs(q + qk).max(-1)).max()
            worst = max(worst, float(d))
        if keys.root_mask[k]:
            worst = max(worst, float(np.abs(out.root_pos[r] - keys.root[k]).max()))
    return worst
