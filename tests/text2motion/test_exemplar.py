"""Retrieval-augmented sampling (backend.models.diffusion.exemplar): the prompt's training exemplar decides what
happens, the network re-makes the motion, controls still hold, and bad settings are refused."""
from __future__ import annotations

from itertools import pairwise
from types import SimpleNamespace

import numpy as np
import pytest

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


def test_strength_zero_returns_the_exemplar_and_one_ignores_it(guided, bank):
    ex = bank.exemplar("a person walks forward", 90)
    m0, info0 = guided.generate_motion("a person walks forward", 90,
                                       options=SamplingOptions(exemplar_strength=0.0, contact_cleanup=False))
    assert info0["exemplar_text"] and info0["exemplar_strength"] == 0.0
    err0 = np.linalg.norm(m0.root_pos - ex.features[:, :3], axis=1).mean()
    assert err0 < 0.25, err0  # the exemplar through one denoising step at the lowest noise level
    m1, info1 = guided.generate_motion("a person walks forward", 90,
                                       options=SamplingOptions(exemplar_strength=1.0, contact_cleanup=False))
    assert "exemplar_text" not in info1
    err1 = np.linalg.norm(m1.root_pos - ex.features[:, :3], axis=1).mean()
    assert err1 > 2 * err0, (err1, err0)  # from noise: its own motion


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
