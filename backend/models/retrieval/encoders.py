"""A dependency-free text encoder for retrieval tests: bag of word stems. The served retrieval baseline embeds with
the sentence encoder every text model shares (:class:`backend.models.text.TextEncoder`)."""
from __future__ import annotations

import re

import numpy as np


class TokenOverlapEncoder:
    """Bag of word stems without stop words, unit length: a dependency-free fallback and test encoder."""
    name = "token-overlap"
    STOP = frozenset(["a", "an", "the", "is", "are", "was", "be", "to", "of", "in", "on", "at", "and", "or", "with",
                      "his", "her", "their", "its", "then", "while", "person", "someone", "somebody", "man", "woman",
                      "people", "he", "she", "they", "it"])

    def __init__(self, vocabulary: list[str] | None = None):
        self.vocab: dict[str, int] = {}
        for t in vocabulary or []:
            for w in self._words(t):
                self.vocab.setdefault(w, len(self.vocab))

    @classmethod
    def _stem(cls, w: str) -> str:
        for suffix in ("ing", "ed", "es", "s"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[:-len(suffix)]
                break
        return w[:-1] if len(w) > 3 and w[-1] == w[-2] else w  # running -> runn -> run

    @classmethod
    def _words(cls, text: str) -> list[str]:
        return [cls._stem(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in cls.STOP]

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), max(1, len(self.vocab))), np.float32)
        for i, t in enumerate(texts):
            for w in self._words(t):
                if w in self.vocab:
                    out[i, self.vocab[w]] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(n > 0, n, 1.0)
