"""What the text-to-motion model was trained on, as sentence embeddings: out-of-vocabulary detection for prompts.

A :class:`Vocabulary` is the distinct sentences of a corpus split (the train split's text segments) with their
all-MiniLM-L6-v2 embeddings, stored compactly beside the weights (``weights/text2motion_vocabulary.npz``: the
sentences, int8 embeddings with a per-row scale, the threshold and how it was chosen; read without pickle). A
prompt whose best cosine similarity to every training sentence is below the threshold gets a sentence saying so
(:meth:`Vocabulary.note`), which the pipeline puts in the result's ``info["out_of_vocabulary"]``.

The threshold is chosen on the VAL split by ``python -m backend eval vocabulary``: the best similarity of every
val sentence to the train sentences is a sample of what in-distribution prompts look like; the threshold is its
``quantile`` (default 1%), rounded down to 0.01, so about 99% of held-out descriptions pass unflagged. The table
depends on the corpus, not on the weights: new weights trained on the same corpus use it unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...paths import WEIGHTS

VOCABULARY_FILE = WEIGHTS / "text2motion_vocabulary.npz"


def split_sentences(corpus_path: Path, split: str) -> list[str]:
    """Distinct sentences of a corpus split, read from its manifest alone (no motion is decoded): every text
    segment's sentences (v3) or every clip's texts (v2), sorted."""
    man = json.loads((Path(corpus_path) / "manifest.json").read_text())
    out: set[str] = set()
    for c in man["clips"]:
        if c.get("split") != split:
            continue
        out.update(str(t) for t in c.get("texts", []))
        for seg in c.get("segments", []):
            out.update(str(t) for t in seg.get("texts", []))
    return sorted(t for t in out if t.strip())


def choose_threshold(similarities: np.ndarray, quantile: float = 0.01) -> float:
    """The ``quantile`` of in-distribution (val) best similarities, rounded down to 0.01."""
    s = np.asarray(similarities, np.float64)
    if s.size == 0:
        raise ValueError("no similarities to choose a threshold from")
    return float(np.floor(np.quantile(s, quantile) * 100.0) / 100.0)


class Vocabulary:
    """Sentences and unit embeddings (N, D); ``threshold``: below it a prompt is out of vocabulary."""

    def __init__(self, texts: list[str], embeddings: np.ndarray, threshold: float | None = None,
                 meta: dict | None = None):
        if len(texts) != len(embeddings) or not texts:
            raise ValueError("a vocabulary needs one embedding per sentence and at least one sentence")
        self.texts = list(texts)
        self.embeddings = np.asarray(embeddings, np.float32)
        self.threshold = threshold
        self.meta = dict(meta or {})

    @classmethod
    def build(cls, texts: list[str], encoder, threshold: float | None = None, meta: dict | None = None):
        return cls(texts, encoder.encode(list(texts)), threshold, meta)

    def best(self, embeddings: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """(index of the nearest sentence, its cosine similarity) for each row of ``embeddings`` (M, D)."""
        q = np.atleast_2d(np.asarray(embeddings, np.float32))
        idx, sim = np.empty(len(q), np.int64), np.empty(len(q), np.float64)
        for i in range(0, len(q), chunk):
            s = q[i:i + chunk] @ self.embeddings.T
            idx[i:i + chunk] = s.argmax(1)
            sim[i:i + chunk] = s.max(1)
        return idx, sim

    def note(self, prompts: list[str] | str, encoder) -> str | None:
        """A sentence for the first prompt farther than the threshold from every training sentence, else None."""
        if self.threshold is None:
            return None
        prompts = [p for p in ([prompts] if isinstance(prompts, str) else prompts) if p and p.strip()]
        if not prompts:
            return None
        idx, sim = self.best(encoder.encode(prompts))
        for p, i, s in zip(prompts, idx, sim):
            if s < self.threshold:
                return (f"'{p[:80]}' is far from anything the model was trained on (closest training text: "
                        f"'{self.texts[int(i)][:80]}', similarity {s:.2f}, below {self.threshold:.2f}); expect the "
                        f"nearest motion it knows, often a walk or a stand")
        return None

    # --------------------------------------------------------------------------------------------- storage
    def save(self, path: Path = VOCABULARY_FILE) -> Path:
        """int8 embeddings with a per-row scale (cosines within about 0.005 of float32)."""
        e = self.embeddings
        scale = np.abs(e).max(axis=1, keepdims=True).clip(min=1e-8) / 127.0
        q = np.round(e / scale).astype(np.int8)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, texts=np.array(self.texts, dtype=str), emb_int8=q,
                            scale=scale.astype(np.float32).ravel(),
                            threshold=np.array(np.nan if self.threshold is None else self.threshold, np.float64),
                            meta=np.array(json.dumps(self.meta)))
        return path

    @classmethod
    def load(cls, path: Path = VOCABULARY_FILE) -> Vocabulary:
        with np.load(Path(path), allow_pickle=False) as z:
            e = z["emb_int8"].astype(np.float32) * z["scale"][:, None]
            e /= np.linalg.norm(e, axis=1, keepdims=True).clip(min=1e-8)
            th = float(z["threshold"])
            return cls([str(t) for t in z["texts"].tolist()], e, None if np.isnan(th) else th,
                       json.loads(str(z["meta"])))


def load_vocabulary(path: Path = VOCABULARY_FILE) -> Vocabulary | None:
    """The stored vocabulary, or None when it has not been built (no out-of-vocabulary notes then)."""
    path = Path(path)
    return Vocabulary.load(path) if path.is_file() else None
