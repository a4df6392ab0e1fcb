"""The canonical motion corpus on disk: one compressed npz of concatenated clips plus a JSON manifest.

Layout (``data/corpus/``): ``corpus.npz`` holds ``root_pos`` (N,3) float32, ``rotations`` (N,22,4) float32 XYZW,
``contacts`` (N,4) uint8 and ``bounds`` (C+1,) int64 clip boundaries; ``manifest.json`` holds the version, the
canonical skeleton, the build command and, per clip, id, take, source, licence, texts, split and frame count.
Every clip is on the canonical skeleton at 30 fps, grounded, starting at the origin facing -Y.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, CANONICAL_FPS, FOOT_JOINTS

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO / "data" / "corpus"
SPLITS = ("train", "val", "test")


@dataclass
class Clip:
    id: str
    take: str
    source: str
    licence: str
    texts: list[str]
    split: str
    motion: Motion
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames


@dataclass
class Corpus:
    clips: list[Clip]
    manifest: dict
    path: Path

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def version(self) -> str:
        return str(self.manifest.get("version"))

    def split(self, name: str) -> "Corpus":
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        return Corpus([c for c in self.clips if c.split == name], self.manifest, self.path)

    def by_id(self, clip_id: str) -> Clip:
        for c in self.clips:
            if c.id == clip_id or c.id.endswith("/" + clip_id):
                return c
        raise KeyError(f"no clip {clip_id!r} in the corpus at {self.path}")

    def stats(self) -> dict:
        frames = sum(c.num_frames for c in self.clips)
        sources: dict[str, int] = {}
        for c in self.clips:
            sources[c.source] = sources.get(c.source, 0) + 1
        labels = {t for c in self.clips for t in c.texts}
        return {"clips": len(self.clips), "frames": frames, "minutes": round(frames / CANONICAL_FPS / 60.0, 3),
                "labels": len(labels), "sources": dict(sorted(sources.items())),
                "splits": {s: sum(c.split == s for c in self.clips) for s in SPLITS}}


def save_corpus(path: Path, clips: list[Clip], manifest: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    bounds = np.cumsum([0] + [c.num_frames for c in clips]).astype(np.int64)
    np.savez_compressed(
        path / "corpus.npz",
        root_pos=np.concatenate([c.motion.root_pos for c in clips]).astype(np.float32),
        rotations=np.concatenate([c.motion.rotations for c in clips]).astype(np.float32),
        contacts=np.concatenate([c.motion.contacts for c in clips]).astype(np.uint8),
        bounds=bounds)
    manifest = dict(manifest)
    manifest["clips"] = [{"id": c.id, "take": c.take, "source": c.source, "licence": c.licence, "texts": c.texts,
                          "split": c.split, "frames": c.num_frames, **c.meta} for c in clips]
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


@lru_cache(maxsize=4)
def _load(path: str) -> Corpus:
    p = Path(path)
    man_path, npz_path = p / "manifest.json", p / "corpus.npz"
    if not man_path.exists() or not npz_path.exists():
        raise FileNotFoundError(f"no corpus at {p}: run `python -m backend data build` first")
    manifest = json.loads(man_path.read_text())
    with np.load(npz_path) as z:
        root, rot, contacts, bounds = z["root_pos"], z["rotations"], z["contacts"], z["bounds"]
    clips = []
    for k, meta in enumerate(manifest["clips"]):
        a, b = int(bounds[k]), int(bounds[k + 1])
        m = Motion(CANONICAL, CANONICAL_FPS, root[a:b], rot[a:b], contacts=contacts[a:b].astype(bool),
                   contact_joints=FOOT_JOINTS, meta={"name": meta["id"]})
        extra = {k2: v for k2, v in meta.items() if k2 not in ("id", "take", "source", "licence", "texts", "split",
                                                                 "frames")}
        clips.append(Clip(meta["id"], meta["take"], meta["source"], meta["licence"], list(meta["texts"]),
                          meta["split"], m, extra))
    return Corpus(clips, manifest, p)


def load_corpus(split: str | None = None, path: str | Path | None = None) -> Corpus:
    """Load the corpus (default: the committed one under ``data/corpus``), optionally one split."""
    c = _load(str(Path(path) if path else DEFAULT_CORPUS))
    return c.split(split) if split else c
