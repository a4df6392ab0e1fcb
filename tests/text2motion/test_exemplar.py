"""Retrieval-augmented sampling (backend.models.diffusion.exemplar): the prompt's training exemplar decides what
happens, the network re-makes the motion, controls still hold, and bad settings are refused."""
from __future__ import annotations

from itertools import pairwise
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from backend.models.diffusion.control import ControlError, Controls
from backend.models.diffusion.exemplar import ExemplarBank
from backend.models.diffusion.sampler import SamplingOptions
from backend.models.diffusion.schedule import CosineSchedule
from backend.models.retrieval import RetrievalBaseline, TokenOverlapEncoder


@pytest.fixture(scope="module")
def bank(corpus):
    train = corpus.split("train").clips
    enc = TokenOverlapEncoder([t for c in train for t in c.texts])
    return ExemplarBank(RetrievalBaseline(SimpleNamespace(clips=train), enc), top_k=1)


@pytest.fixture(scope="module")
def guided(model, bank):
    from backend.models.diffusion.model import Text2MotionModel
    return Text2MotionModel(model.denoiser, model.normalizer, model.meta, model.encoder, exemplars=bank)


def test_timesteps_from_starts_part_way_down():
    s = CosineSchedule(100)
    assert s.timesteps_from(1.0, 10) == s.timesteps(10)
    ts = s.timesteps_from(0.5, 10)
    assert ts[0] == 50 and ts[-1] == 0 and len(ts) == 5 and all(a > b for a, b in pairwise(ts))
    assert s.timesteps_from(0.0, 10) == [0]


def _travel(m) -> float:
    return float(np.linalg.norm(m.root_pos[-1, :2] - m.root_pos[0, :2]))


class _IdentityDenoiser:
    """Predicts x0 = x_t: the sampler's own arithmetic, with no network in the way."""
    cfg = SimpleNamespace(feature_dim=4, max_frames=50)

    def __call__(self, x, t, text, obs, mask, text_keep=None):
        return x


def test_the_sampler_starts_from_the_noised_guide():
    from backend.models.diffusion.sampler import Denoising, WindowConditions, sample_window
    net = Denoising(_IdentityDenoiser(), CosineSchedule(100), lambda x: x)
    guide = np.linspace(0, 1, 40 * 4, dtype=np.float32).reshape(40, 4)
    text = torch.zeros(8)
    out = {}
    for s in (0.0, 0.3, 1.0):
        g = torch.Generator().manual_seed(0)
        x0 = sample_window(net, 40, WindowConditions(text, guide=guide, guide_strength=s), steps=10,
                           guidance_scale=1.0, generator=g)[0].numpy()
        out[s] = float(np.abs(x0 - guide).mean())
    assert out[0.0] < 0.05  # one step at the lowest noise level: the guide
    assert out[0.0] < out[0.3] < out[1.0]  # more strength, more noise, further from the guide
    assert out[1.0] > 0.5  # from pure noise the guide plays no part


def test_the_served_model_follows_the_prompts_exemplar(guided, bank):
    opts = SamplingOptions(exemplar_strength=0.3)
    travel = {}
    for prompt in ("a person walks forward", "a person stands still"):
        m, info = guided.generate_motion(prompt, 90, options=opts)
        assert info["exemplar_text"] == bank.retriever.rank(prompt)[0].text
        assert info["exemplar_strength"] == 0.3
        travel[prompt] = _travel(m)
    assert travel["a person walks forward"] > 0.5
    assert travel["a person stands still"] < 0.5 * travel["a person walks forward"], travel


def test_partial_strength_is_new_motion_that_keeps_the_exemplars_gist(guided, bank):
    opts = SamplingOptions(exemplar_strength=0.6, contact_cleanup=False)
    ex = bank.exemplar("a person walks forward", 120)
    walk, _ = guided.generate_motion("a person walks forward", 120, options=opts)
    diff = np.linalg.norm(walk.root_pos - ex.features[:, :3], axis=1)
    assert diff.mean() > 0.005  # the network changed it ...
    assert walk.root_pos[-1, 1] - walk.root_pos[0, 1] < -0.5 and _travel(walk) > 0.5  # ... and it still walks ahead
    stand, _ = guided.generate_motion("a person stands still", 120, options=opts)
    assert _travel(stand) < 0.5 * _travel(walk)


def test_controls_hold_with_an_exemplar(guided):
    path = np.stack([np.linspace(0, 2.0, 90), np.linspace(0, 1.0, 90), np.zeros(90)], 1)
    m, info = guided.generate_motion("a person walks forward", 90, Controls(trajectory=path),
                                     SamplingOptions(exemplar_strength=0.6))
    assert info["traj_error_cm"] < 1.0 and info["exemplar_text"]
    from backend.eval.t2m_protocol import facing_error_deg
    err, n = facing_error_deg(m.heading(), path[:, :2], m.fps)
    assert n > 30 and err < 30.0, (err, n)  # the walk exemplar was bent onto the path: the body faces along it


def test_bad_strengths_are_refused(model, guided):
    with pytest.raises(ControlError, match="exemplar_strength"):
        guided.generate_motion("walk", 30, options=SamplingOptions(exemplar_strength=1.5))
    with pytest.raises(ControlError, match="no exemplar bank"):
        model.generate_motion("walk", 30, options=SamplingOptions(exemplar_strength=0.5))
