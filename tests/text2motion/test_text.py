"""Text side: deterministic paraphrases, left/right mirroring, the embedding cache, the real offline encoder."""
from __future__ import annotations

import numpy as np
import pytest

from backend.models.text import EMBED_DIM, TextEncoder, default_encoder, mirror_text, paraphrases


def test_paraphrases_are_deterministic_unique_and_keep_the_original_first():
    for t in ["walk", "dance - small jetes, pirouette", "a person kicks with the right leg", "jump, balance",
              "something never seen before"]:
        p = paraphrases(t)
        assert p[0] == t
        assert p == paraphrases(t)
        assert len(p) == len(set(p)) >= 3


def test_paraphrases_use_the_lexicon_and_keep_details_verbatim():
    p = paraphrases("basketball - forward dribble")
    assert "a person plays basketball: forward dribble" in p
    assert "someone is playing basketball: forward dribble" in p
    assert "a person walks forward" in paraphrases("walk")
    assert "someone kicks with the right leg" in paraphrases("a person kicks with the right leg")


def test_mirror_text_swaps_left_and_right_only():
    assert mirror_text("90-degree left turns, Right arm up") == "90-degree right turns, Left arm up"
    assert mirror_text("a person walks forward") == "a person walks forward"
    assert mirror_text(mirror_text("kick with the left leg")) == "kick with the left leg"


class _CountingModel:
    """Stands in for the sentence-transformers model to count how often the cache misses."""
    def __init__(self):
        self.calls = 0

    def encode(self, texts, **kw):
        self.calls += 1
        out = np.zeros((len(texts), EMBED_DIM), np.float32)
        for i, t in enumerate(texts):
            out[i, hash(t) % EMBED_DIM] = 1.0
        return out


def test_encoder_caches_in_memory_and_on_disk(tmp_path):
    fake = _CountingModel()
    enc = TextEncoder(cache_path=tmp_path / "emb.npz", loader=lambda: fake)
    a = enc.encode(["walk", "run", "walk"])
    assert a.shape == (3, EMBED_DIM) and np.array_equal(a[0], a[2])
    enc.encode(["run", "walk"])
    assert fake.calls == 1  # second call served from memory
    assert enc.save() == tmp_path / "emb.npz"
    again = TextEncoder(cache_path=tmp_path / "emb.npz", loader=lambda: pytest.fail("must not load the model"))
    assert again.cached("walk") and np.array_equal(again.encode(["run"])[0], a[1])


def test_broken_cache_file_is_ignored(tmp_path):
    bad = tmp_path / "emb.npz"
    bad.write_bytes(b"not an npz")
    fake = _CountingModel()
    enc = TextEncoder(cache_path=bad, loader=lambda: fake)
    assert enc.encode("walk").shape == (1, EMBED_DIM) and fake.calls == 1


def test_real_encoder_is_offline_unit_length_and_semantic():
    enc = default_encoder()
    e = enc.encode(["a person walks forward", "walking forward", "a person does a backflip"])
    assert e.shape == (3, EMBED_DIM)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_vocabulary_flags_only_prompts_below_the_threshold_and_survives_storage(tmp_path):
    from backend.models.retrieval import TokenOverlapEncoder
    from backend.models.text.vocabulary import Vocabulary, choose_threshold
    texts = ["a person walks forward", "a person jumps in place", "someone waves with the right hand"]
    enc = TokenOverlapEncoder(texts + ["stock market closed higher"])
    vocab = Vocabulary.build(texts, enc, threshold=0.5)
    assert vocab.note("a person walks forward", enc) is None
    note = vocab.note(["jump", "stock market closed higher"], enc)  # the first flagged prompt is named
    assert note.startswith("'stock market closed higher' is far from anything the model was trained on")
    assert "similarity 0.00, below 0.50" in note
    path = vocab.save(tmp_path / "v.npz")
    back = Vocabulary.load(path)
    assert back.texts == texts and back.threshold == 0.5
    assert np.abs(back.embeddings @ vocab.embeddings.T - vocab.embeddings @ vocab.embeddings.T).max() < 0.01
    # the 1% quantile of held-out similarities, rounded down to 0.01
    assert choose_threshold(np.linspace(0.5, 1.0, 101), 0.01) == 0.5
    assert choose_threshold(np.array([0.456, 0.9, 0.95]), 0.0) == 0.45


def test_stored_vocabulary_separates_corpus_prompts_from_nonsense():
    from backend.models.text import default_encoder
    from backend.models.text.vocabulary import VOCABULARY_FILE, load_vocabulary
    vocab = load_vocabulary()
    assert vocab is not None, f"{VOCABULARY_FILE} is missing: run `python -m backend eval vocabulary --write`"
    assert vocab.meta["chosen_on"] == "val" and 0.3 < vocab.threshold < 0.9
    enc = default_encoder()
    for ok in ("a person walks forward", "a person does a cartwheel", "someone sits down on a chair"):
        assert vocab.note(ok, enc) is None, ok
    for bad in ("the stock market closed higher today", "zxqv blorp fnord"):
        assert "far from anything the model was trained on" in vocab.note(bad, enc), bad
