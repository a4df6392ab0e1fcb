"""Build the canonical corpus: read sources, move every clip onto the canonical skeleton, deduplicate takes, split.

Per clip: rest-offset rotation transfer onto the canonical SMPL skeleton (:mod:`backend.retarget.transfer`, with the
source's profile map and reference pose from :mod:`backend.data.profiles`), resample to 30 fps, put the feet on
the floor, move to the origin facing -Y, detect foot contacts.

Takes: the same CMU capture exists in several formats here (original ASF/AMC, cgspeed BVH, Character Creator BVH,
FBX). Each take is kept once, from the most faithful source (ASF/AMC, then cgspeed BVH, then CC, then FBX); the
others are listed as alternates in the manifest. Splits are by take, deterministic (SHA-1 of the take id within each
family of sources): about 15% test, 10% validation. The test split is held out from all training.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, CANONICAL_FPS
from ..retarget.transfer import align, transfer
from .corpus import Clip, save_corpus
from .profiles import profile_for
from .sources import NOT_USED, SHARED_SOURCES, RawClip

CORPUS_VERSION = "2"
TEST_FRACTION, VAL_FRACTION = 0.15, 0.10
MIN_FRAMES = 15


def to_canonical(raw: RawClip) -> Motion:
    """Raw clip -> canonical motion (30 fps, grounded, at the origin facing -Y, with contacts)."""
    prof = profile_for(raw.motion.skeleton)
    al = align(raw.motion.skeleton, CANONICAL, prof.joint_map, src_ref_local=raw.ref_local)
    m = transfer(raw.motion, al)
    m = m.resample(CANONICAL_FPS).grounded().canonicalized().with_contacts()
    m.meta = {"name": raw.id, "profile": prof.name}
    return m


def pose_difference(a: Motion, b: Motion) -> float:
    """Mean root-relative joint position difference (m) of two canonical versions of one take (best small offset)."""
    pa, pb = a.positions(), b.positions()
    pa, pb = pa - pa[:, :1], pb - pb[:, :1]
    n = min(len(pa), len(pb)) - 2
    if n < 1:
        return float("nan")
    return float(min(np.linalg.norm(pa[s:s + n] - pb[:n], axis=-1).mean() for s in range(3) if s + n <= len(pa)))


def family(source: str) -> str:
    return "cmu" if source.startswith("cmu") else source


def assign_splits(takes: list[tuple[str, str]]) -> dict[str, str]:
    """(take, family) pairs -> take: split. Within each family, takes sorted by SHA-1 of their id; the first 15%
    go to test, the next 10% to val (at least one each once a family has 4 / 8 takes)."""
    out = {}
    fams: dict[str, list[str]] = {}
    for take, fam in takes:
        fams.setdefault(fam, []).append(take)
    for fam, ts in fams.items():
        ts = sorted(set(ts), key=lambda t: hashlib.sha1(t.encode()).hexdigest())
        n = len(ts)
        n_test = max(1 if n >= 4 else 0, int(round(TEST_FRACTION * n)))
        n_val = max(1 if n >= 8 else 0, int(round(VAL_FRACTION * n)))
        for i, t in enumerate(ts):
            out[t] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def build_corpus(raws: Iterable[RawClip], out: Path, command: str, skipped: dict[str, str] | None = None,
                 log=print) -> dict:
    """Convert, deduplicate, split and save. Returns the manifest."""
    by_take: dict[str, list[tuple[RawClip, Motion]]] = {}
    problems: dict[str, str] = dict(skipped or {})
    t0 = time.time()
    for raw in raws:
        try:
            m = to_canonical(raw)
        except Exception as e:  # a broken clip is reported, never silently dropped
            problems[raw.id] = f"{type(e).__name__}: {e}"
            log(f"  ! {raw.id}: {e}")
            continue
        if m.num_frames < MIN_FRAMES:
            problems[raw.id] = f"too short ({m.num_frames} frames at 30 fps)"
            continue
        if not raw.texts:
            problems[raw.id] = "no text description"
            continue
        by_take.setdefault(raw.take, []).append((raw, m))
        log(f"  {raw.id}: {raw.motion.num_frames} -> {m.num_frames} frames ({time.time() - t0:.0f}s)")
    chosen: list[tuple[RawClip, Motion, list[str]]] = []
    cross_check: dict[str, float] = {}
    for take, items in by_take.items():
        items.sort(key=lambda rm: (rm[0].priority, rm[0].id))
        raw, m = items[0]
        chosen.append((raw, m, [r.id for r, _ in items[1:]]))
        for alt, m_alt in items[1:]:
            cross_check[f"{alt.id} vs {raw.id}"] = round(pose_difference(m, m_alt), 4)
    splits = assign_splits([(raw.take, family(raw.source)) for raw, _, _ in chosen])
    chosen.sort(key=lambda x: x[0].id)
    clips = [Clip(raw.id, raw.take, raw.source, raw.licence, raw.texts, splits[raw.take], m,
                  {"attribution": raw.attribution, "source_file": _rel(raw.source_file),
                   "source_fps": round(raw.motion.fps, 4), "profile": m.meta.get("profile"),
                   **({"alternates": alts} if alts else {}), **({"notes": raw.notes} if raw.notes else {})})
             for raw, m, alts in chosen]
    manifest = {"version": CORPUS_VERSION, "fps": CANONICAL_FPS, "skeleton": CANONICAL.to_dict(),
                "quaternion_order": "xyzw", "world": "Z up, metres, facing -Y at frame 0",
                "build_command": command, "split_rule": __doc__.split("Splits are")[1].strip().split("\n\n")[0],
                "not_used": {**NOT_USED, **problems},
                "cross_format_check": {"what": "mean root-relative joint position difference (m) between the kept "
                                               "clip and the same take from another source, best of 0-2 frames "
                                               "offset", "pairs": cross_check}}
    save_corpus(out, clips, manifest)
    return manifest


def _rel(path: str) -> str:
    """Source paths relative to the shared data folder, so the manifest does not depend on the machine."""
    p = path.split("#")[0]
    for marker in ("shared/data/",):
        if marker in p:
            return path[path.index(marker) + len("shared/"):]
    return Path(p).name + (("#" + path.split("#")[1]) if "#" in path else "")


def shared_raw_clips(shared: Path, cache: Path, skipped: dict[str, str], log=print) -> Iterable[RawClip]:
    for folder, (reader, needs_blender) in SHARED_SOURCES.items():
        root = shared / folder
        if not root.exists():
            skipped[folder] = f"not found at {root}"
            continue
        log(f"source {folder}")
        try:
            yield from reader(root, cache)
        except RuntimeError as e:
            skipped[folder] = str(e)
            log(f"  ! skipped {folder}: {e}")
