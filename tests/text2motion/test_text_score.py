"""The denoiser's own text score (backend.models.diffusion.text_score) and the best-of-N choice it drives
(Text2MotionModel.generate_motion with best_of): the candidate the text explains best is returned, what is returned
is exactly that candidate as generated alone, variations walk down the ranking, progress and cancelling span every
candidate."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from backend.models.diffusion.control import ControlError, Controls
from backend.models.diffusion.exemplar import ExemplarBank
from backend.models.diffusion.model import GenerationCancelled, Text2MotionModel
from backend.models.diffusion.sampler import SamplingOptions
from backend.models.diffusion.schedule import CosineSchedule
from backend.models.diffusion.text_score import TextScore, TextScoreConfig
from backend.models.features import motion_to_features
from backend.models.retrieval import RetrievalBaseline, TokenOverlapEncoder


class _KnowsOneMotion:
    """With the text it predicts ``target`` whatever it sees; with the null text, zeros: a sentence that explains
    ``target`` and nothing else."""
    cfg = SimpleNamespace(feature_dim=4, max_frames=64)

    def __init__(self, target):
        self.target = torch.as_tensor(target, dtype=torch.float32)
        self.calls = 0

    def __call__(self, x, t, text, obs, mask, text_keep=None):
        self.calls += 1
        out = self.target[: x.shape[1]].expand(x.shape[0], -1, -1).clone()
        return torch.where(text_keep[:, None, None], out, torch.zeros_like(out))


def _score(target, config=None):
    return TextScore(_KnowsOneMotion(target), CosineSchedule(100), lambda x: x, config)


def test_the_motion_the_text_explains_scores_highest():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(40, 4)).astype(np.float32)
    near = target + 0.1 * rng.normal(size=target.shape).astype(np.float32)
    far = rng.normal(size=(40, 4)).astype(np.float32)
    scorer = _score(target)
    s = scorer.score(torch.zeros(8), [far, target, near])
    assert s.shape == (3,) and np.argmax(s) == 1 and s[1] > s[2] > s[0], s
    assert scorer.denoiser.calls == 1  # every candidate, level and draw in one batched call, both texts
    assert np.array_equal(s, scorer.score(torch.zeros(8), [far, target, near]))  # seeded: the same every time


def test_candidates_of_unequal_length_are_scored_on_their_common_frames():
    target = np.ones((40, 4), np.float32)
    s = _score(target, TextScoreConfig(max_frames=30)).score(torch.zeros(8), [target[:35], np.zeros((50, 4))])
    assert s[0] > s[1]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="levels"):
        _score(np.ones((4, 4)), TextScoreConfig(levels=(100,)))
    with pytest.raises(ValueError, match="draws"):
        _score(np.ones((4, 4)), TextScoreConfig(draws=0))
    with pytest.raises(ValueError, match="candidates"):
        _score(np.ones((4, 4)), TextScoreConfig(candidates=0))


def test_the_config_reads_the_sidecar():
    c = TextScoreConfig.from_dict({"candidates": 4, "levels": [30, 45], "draws": 2})
    assert (c.candidates, c.levels, c.draws, c.max_frames) == (4, (30, 45), 2, 160)


@pytest.fixture(scope="module")
def ranked_model(model, corpus):
    train = corpus.split("train").clips
    enc = TokenOverlapEncoder([t for c in train for t in c.texts])
    bank = ExemplarBank(RetrievalBaseline(SimpleNamespace(clips=train), enc), top_k=3)
    meta = {**model.meta, "sampling": {**model.meta.get("sampling", {}), "exemplar_strength": 0.3,
                                       "best_of": {"candidates": 3, "levels": [30, 45, 60], "draws": 3}}}
    return Text2MotionModel(model.denoiser, model.normalizer, meta, model.encoder, exemplars=bank)


PROMPT = "a person walks forward"


def test_best_of_returns_the_best_scored_candidate_exactly(ranked_model):
    assert ranked_model.text_score.config.candidates == 3
    m, info = ranked_model.generate_motion(PROMPT, 60)
    b = info["best_of"]
    assert b["candidates"] == 3 and b["variations"] == [0, 1, 2] and b["rank"] == 0
    assert b["chosen"] == int(np.argmax(b["text_scores"]))
    alone, ainfo = ranked_model.generate_motion(PROMPT, 60, options=SamplingOptions(variation=b["chosen"], best_of=1))
    assert "best_of" not in ainfo and ainfo["exemplar_clip"] == info["exemplar_clip"]
    assert np.array_equal(m.rotations, alone.rotations) and np.array_equal(m.root_pos, alone.root_pos)
    # the scores are what the scorer says of the candidates as generated alone
    feats = [motion_to_features(ranked_model.generate_motion(PROMPT, 60, options=SamplingOptions(
        variation=v, best_of=1))[0], contacts=True) for v in range(3)]
    again = ranked_model.text_score.score(ranked_model.embed(PROMPT), feats, seed=0)
    assert np.allclose(again, b["text_scores"], atol=1e-5)
    assert len({f.tobytes() for f in feats}) == 3  # three different candidates to choose from


def test_variations_walk_down_the_ranking(ranked_model):
    infos = [ranked_model.generate_motion(PROMPT, 60, options=SamplingOptions(variation=v))[1]["best_of"]
             for v in range(4)]
    order = list(np.argsort(-np.asarray(infos[0]["text_scores"]), kind="stable"))
    assert [i["chosen"] for i in infos[:3]] == order  # the same three candidates, best first
    assert infos[3]["variations"] == [3, 4, 5] and infos[3]["rank"] == 0  # the next block: new candidates


def test_progress_spans_every_candidate_and_cancel_stops_the_first(ranked_model):
    seen = []
    ranked_model.generate_motion(PROMPT, 60, on_progress=lambda d, t, msg: seen.append((d, t, msg)))
    totals = {t for _, t, _ in seen}
    assert len(totals) == 1 and [d for d, _, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][0] == seen[-1][1] and seen[0][2].startswith("candidate 1/3") and "candidate 3/3" in seen[-1][2]
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(GenerationCancelled):
        ranked_model.generate_motion(PROMPT, 60, cancelled=cancelled)
    assert len(calls) == 2  # stopped at the second step of the first candidate, not after all three


def test_bad_best_of_is_refused_and_timelines_are_not_ranked(ranked_model):
    with pytest.raises(ControlError, match="best_of"):
        ranked_model.generate_motion(PROMPT, 60, options=SamplingOptions(best_of=0))
    _, info = ranked_model.generate_motion(PROMPT, 60, Controls(timeline=[("a person walks forward", 0, 30),
                                                                          ("a person jumps", 30, 60)]))
    assert "best_of" not in info


def test_a_sidecar_without_best_of_makes_one_candidate(model):
    meta = {**model.meta, "sampling": {k: v for k, v in model.meta.get("sampling", {}).items() if k != "best_of"}}
    plain = Text2MotionModel(model.denoiser, model.normalizer, meta, model.encoder)
    assert plain.text_score.config.candidates == 1
    _, info = plain.generate_motion(PROMPT, 30)
    assert "best_of" not in info
