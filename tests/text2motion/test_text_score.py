"""The denoiser's own text score (backend.models.diffusion.text_score) and the exemplar re-ordering it drives: the
candidate the text explains best comes first, what is scored is what is returned, variations still differ."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from backend.models.diffusion.exemplar import ExemplarBank
from backend.models.diffusion.schedule import CosineSchedule
from backend.models.diffusion.text_score import TextScore, TextScoreConfig
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


def test_bad_levels_are_refused():
    with pytest.raises(ValueError, match="levels"):
        _score(np.ones((4, 4)), TextScoreConfig(levels=(100,)))
    with pytest.raises(ValueError, match="draws"):
        _score(np.ones((4, 4)), TextScoreConfig(draws=0))


def test_the_config_reads_the_sidecar():
    c = TextScoreConfig.from_dict({"levels": [30, 45], "draws": 2})
    assert c.levels == (30, 45) and c.draws == 2 and c.max_frames == 120


@pytest.fixture(scope="module")
def retriever(corpus):
    train = corpus.split("train").clips
    enc = TokenOverlapEncoder([t for c in train for t in c.texts])
    return RetrievalBaseline(SimpleNamespace(clips=train), enc)


def test_rerank_reorders_the_best_clips_and_returns_what_it_scored(retriever):
    prompt = "a person walks forward"
    ranked = retriever.rank(prompt)
    seen = {}

    def prefer_last(p, motions):  # the head in reverse: its third clip first
        seen["motions"] = motions
        return np.arange(len(motions), dtype=float)

    rng = np.random.default_rng(3)
    m, match = retriever.clip_for(prompt, 40, 30.0, rng, rerank=prefer_last, rerank_top=3)
    assert match.clip.id == ranked[2].clip.id
    assert np.array_equal(m.rotations, seen["motions"][2].rotations)  # fitted from the same random state
    _, match1 = retriever.clip_for(prompt, 40, 30.0, np.random.default_rng(3), variation=1, rerank=prefer_last)
    assert match1.clip.id == ranked[1].clip.id
    _, pmatch = retriever.clip_for(prompt, 40, 30.0, np.random.default_rng(3))
    assert pmatch.clip.id == ranked[0].clip.id  # no rerank: the nearest text, as before


def test_the_bank_hands_the_scorer_model_frame_features(retriever):
    bank = ExemplarBank(retriever, top_k=3)
    got = []

    def scorer(prompt, feats):
        got.extend(feats)
        return [0.0, 1.0, 0.0]

    ex = bank.exemplar("a person walks forward", 60, rerank=scorer)
    assert len(got) == 3 and all(f.shape == (60, ex.features.shape[1]) for f in got)
    assert np.allclose(got[1][0, :2], 0.0, atol=1e-5)  # first frame above the origin
    assert ex.clips[0] == str(retriever.rank("a person walks forward")[1].clip.id)
    assert np.allclose(ex.features, got[1], atol=1e-5)  # the scored candidate is the exemplar


def test_the_served_model_reorders_by_its_own_score(model, retriever):
    from backend.models.diffusion.model import Text2MotionModel
    meta = {**model.meta, "sampling": {**model.meta.get("sampling", {}),
                                       "exemplar_rerank": {"levels": [30, 45, 60], "draws": 3}}}
    bank = ExemplarBank(retriever, top_k=3)
    ranked_model = Text2MotionModel(model.denoiser, model.normalizer, meta, model.encoder, exemplars=bank)
    plain = Text2MotionModel(model.denoiser, model.normalizer,
                             {**meta, "sampling": {k: v for k, v in meta["sampling"].items()
                                                   if k != "exemplar_rerank"}}, model.encoder, exemplars=bank)
    assert ranked_model.text_score is not None and plain.text_score is None
    prompt = "a person walks forward"
    head = [str(m.clip.id) for m in retriever.rank(prompt)[:3]]
    feats = [ranked_model.exemplar(prompt, 60, seed=0, variation=v).clips[0] for v in range(3)]
    assert sorted(feats) == sorted(head)  # a permutation of the same three clips: variations still differ
    assert [plain.exemplar(prompt, 60, variation=v).clips[0] for v in range(3)] == head
    _, info = ranked_model.generate_motion(prompt, 60)
    assert info["exemplar_clip"] == feats[0]  # what a Generate starts from
