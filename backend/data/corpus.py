"""The canonical motion corpus on disk: one npz of concatenated clips plus a JSON manifest.

Two versions are read:

- **v3** (``data/corpus_v3/``, built by ``python -m backend data build``): ``corpus.npz`` in the compact codec of
  :mod:`backend.data.codec` (~30 MB for 9 hours), each clip at its source rate (at most 30 fps), whole takes;
  ``manifest.json`` holds the version, the canonical skeleton, the build command, the rules, a SHA-256 of
  ``corpus.npz`` and, per clip, id, take, source, split, stored fps and frame count, and its text segments
  (start/end seconds, sentences, where they came from). Licences and attributions are kept per source.
- **v2** (``data/corpus/``, 10 minutes, the committed demo and test corpus): float32 arrays at 30 fps, one text list
  per clip.

Loaded clips are always on the canonical skeleton at 30 fps, grounded, starting at the origin facing -Y.
:meth:`Corpus.text_clips` cuts the text segments out of the takes: what text-to-motion trains on.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, CANONICAL_FPS, FOOT_JOINTS
from ..paths import CACHE, DATA
from .codec import CODEC, decode, encode

DEFAULT_CORPUS = DATA / "corpus"
CORPUS_V3 = DATA / "corpus_v3"
DECODED_CACHE = CACHE / "corpus"  # v3 decoded and resampled to 30 fps, keyed by the npz's checksum
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

    @property
    def segments(self) -> list[dict]:
        """Text segments (v3): dicts with source, ref, start and end seconds (end None = to the end), texts. A v2
        clip has one whole-clip segment of its texts."""
        if "segments" in self.meta:
            return self.meta["segments"]
        return [{"source": "label", "ref": self.id, "start": 0.0, "end": None, "texts": list(self.texts)}]

    def segment_clip(self, k: int) -> Clip:
        """Segment ``k`` as a clip of its own (the take's frames in the segment's span, its sentences)."""
        seg = self.segments[k]
        fps = self.motion.fps
        a = round(seg["start"] * fps)
        b = self.num_frames if seg["end"] is None else min(self.num_frames, round(seg["end"] * fps) + 1)
        if seg["start"] == 0.0 and seg["end"] is None:
            return Clip(self.id, self.take, self.source, self.licence, list(seg["texts"]), self.split, self.motion,
                        {**self.meta, "segment": seg})
        m = self.motion.slice(a, b)
        m.meta = {"name": f"{self.id}@{seg['start']:g}-{seg['end']:g}"}
        return Clip(f"{self.id}@{seg['start']:g}-{seg['end']:g}", self.take, self.source, self.licence,
                    list(seg["texts"]), self.split, m, {**{k2: v for k2, v in self.meta.items() if k2 not in
                                                          ("segments", "cyclic")}, "segment": seg})


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

    def split(self, name: str) -> Corpus:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        return Corpus([c for c in self.clips if c.split == name], self.manifest, self.path)

    def by_id(self, clip_id: str) -> Clip:
        for c in self.clips:
            if c.id == clip_id or c.id.endswith("/" + clip_id):
                return c
        raise KeyError(f"no clip {clip_id!r} in the corpus at {self.path}")

    def text_clips(self, max_seconds: float | None = None) -> list[Clip]:
        """Every text segment as a clip (whole-take segments longer than ``max_seconds`` left out, when given)."""
        out = []
        for c in self.clips:
            for k, seg in enumerate(c.segments):
                if max_seconds is not None and seg["end"] is None and c.motion.duration > max_seconds:
                    continue
                out.append(c.segment_clip(k))
        return out

    def stats(self) -> dict:
        """Counts. ``splits`` counts takes; ``clips`` counts stored clips (one per take in v3)."""
        frames = sum(c.num_frames for c in self.clips)
        sources: dict[str, int] = {}
        for c in self.clips:
            sources[c.source] = sources.get(c.source, 0) + 1
        labels = {t for c in self.clips for t in c.texts}
        segs = [s for c in self.clips for s in c.segments]
        text_sources: dict[str, int] = {}
        for s in segs:
            text_sources[s["source"]] = text_sources.get(s["source"], 0) + len(s["texts"])
        take_split = {c.take: c.split for c in self.clips}
        return {"version": self.version, "clips": len(self.clips), "frames": frames,
                "minutes": round(frames / CANONICAL_FPS / 60.0, 3), "hours": round(frames / CANONICAL_FPS / 3600, 3),
                "takes": len(take_split), "segments": len(segs), "sentences": sum(text_sources.values()),
                "text_sources": dict(sorted(text_sources.items())), "labels": len(labels),
                "sources": dict(sorted(sources.items())),
                "splits": {s: sum(v == s for v in take_split.values()) for s in SPLITS}}


_CLIP_KEYS = ("id", "take", "source", "licence", "texts", "split", "frames", "fps")


def save_corpus(path: Path, clips: list[Clip], manifest: dict) -> None:
    """Write a v3 corpus: the codec npz and the manifest (licence and attribution per source, a checksum)."""
    path.mkdir(parents=True, exist_ok=True)
    bounds = np.cumsum([0] + [c.num_frames for c in clips]).astype(np.int64)
    arrays = encode(np.concatenate([c.motion.root_pos for c in clips]),
                    np.concatenate([c.motion.rotations for c in clips]),
                    np.concatenate([c.motion.contacts for c in clips]), bounds)
    npz = path / "corpus.npz"
    np.savez(npz, **arrays)
    manifest = dict(manifest)
    sources: dict[str, dict] = {}
    for c in clips:
        sources.setdefault(c.source, {"licence": c.licence, "attribution": c.meta.get("attribution", "")})
    manifest["sources"] = sources
    manifest["codec"] = CODEC
    manifest["sha256"] = {"corpus.npz": hashlib.sha256(npz.read_bytes()).hexdigest()}
    manifest["clips"] = [{"id": c.id, "take": c.take, "source": c.source, "texts": c.texts, "split": c.split,
                          "frames": c.num_frames, "fps": round(c.motion.fps, 6),
                          **{k: v for k, v in c.meta.items() if k != "attribution"}} for c in clips]
    lines = ",\n".join(json.dumps(cm, ensure_ascii=False) for cm in manifest.pop("clips"))
    head = json.dumps(manifest, indent=1, ensure_ascii=False)
    (path / "manifest.json").write_text(head[:-2] + ',\n "clips": [\n' + lines + "\n ]\n}\n")


def _arrays_30fps(npz_path: Path, manifest: dict):
    """A v3 corpus's arrays at 30 fps: (root, rotations, contacts, bounds). Decoding and resampling 9 hours costs
    tens of seconds, so the result is cached under ``.cache/corpus`` by the checksum of ``corpus.npz`` (the
    manifest's; a rebuilt corpus gets a new entry)."""
    sha = manifest.get("sha256", {}).get("corpus.npz", "")
    cached = DECODED_CACHE / f"{sha[:20]}.npz" if sha else None
    if cached is not None and cached.is_file():
        with np.load(cached) as z:
            return z["root_pos"], z["rotations"], z["contacts"], z["bounds"]
    with np.load(npz_path) as z:
        root, rot, contacts, bounds = decode(z)
    roots, rots, cons = [], [], []
    for k, meta in enumerate(manifest["clips"]):
        a, b = int(bounds[k]), int(bounds[k + 1])
        m = Motion(CANONICAL, meta.get("fps", CANONICAL_FPS), root[a:b], rot[a:b], contacts=contacts[a:b],
                   contact_joints=FOOT_JOINTS)
        m = m.resample(CANONICAL_FPS)
        roots.append(m.root_pos.astype(np.float32))
        rots.append(m.rotations.astype(np.float32))
        cons.append(m.contacts)
    out = (np.concatenate(roots), np.concatenate(rots), np.concatenate(cons),
           np.cumsum([0] + [len(r) for r in roots]).astype(np.int64))
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.npz")
            np.savez(tmp, root_pos=out[0], rotations=out[1], contacts=out[2], bounds=out[3])
            tmp.replace(cached)
        except OSError:  # a read-only checkout still loads, only slower
            pass
    return out


@lru_cache(maxsize=4)
def _load(path: str) -> Corpus:
    p = Path(path)
    man_path, npz_path = p / "manifest.json", p / "corpus.npz"
    if not man_path.exists() or not npz_path.exists():
        raise FileNotFoundError(f"no corpus at {p}: run `python -m backend data build` first")
    manifest = json.loads(man_path.read_text())
    if "codec" in manifest:
        root, rot, contacts, bounds = _arrays_30fps(npz_path, manifest)
    else:
        with np.load(npz_path) as z:
            root, rot, contacts, bounds = z["root_pos"], z["rotations"], z["contacts"], z["bounds"]
    sources = manifest.get("sources", {})
    clips = []
    for k, meta in enumerate(manifest["clips"]):
        a, b = int(bounds[k]), int(bounds[k + 1])
        m = Motion(CANONICAL, CANONICAL_FPS, root[a:b], rot[a:b], contacts=contacts[a:b].astype(bool),
                   contact_joints=FOOT_JOINTS, meta={"name": meta["id"]})
        src = sources.get(meta["source"], {})
        extra = {k2: v for k2, v in meta.items() if k2 not in _CLIP_KEYS}
        if "attribution" in src:
            extra.setdefault("attribution", src["attribution"])
        clips.append(Clip(meta["id"], meta["take"], meta["source"], meta.get("licence", src.get("licence", "")),
                          list(meta["texts"]), meta["split"], m, extra))
    return Corpus(clips, manifest, p)


def manifest_stats(path: str | Path) -> dict:
    """:meth:`Corpus.stats` from the manifest alone (no motion decoded): what ``data stats`` prints."""
    p = Path(path)
    man = json.loads((p / "manifest.json").read_text())
    clips = []
    for meta in man["clips"]:
        fps = meta.get("fps", CANONICAL_FPS)
        n = meta["frames"] if abs(fps - CANONICAL_FPS) < 1e-6 else round((meta["frames"] - 1) / fps * CANONICAL_FPS) + 1
        clips.append(Clip(meta["id"], meta["take"], meta["source"], "", list(meta["texts"]), meta["split"],
                          _FrameCount(n), {k: v for k, v in meta.items() if k not in _CLIP_KEYS}))
    return Corpus(clips, man, p).stats()


@dataclass
class _FrameCount:
    """Stands in for a motion where only its length at 30 fps is needed (:func:`manifest_stats`)."""
    num_frames: int


def load_corpus(split: str | None = None, path: str | Path | None = None) -> Corpus:
    """Load the corpus (default: the committed one under ``data/corpus``), optionally one split."""
    c = _load(str(Path(path) if path else DEFAULT_CORPUS))
    return c.split(split) if split else c
