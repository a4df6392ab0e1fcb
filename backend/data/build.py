"""Build the canonical corpus: read sources, move every clip onto the canonical skeleton, deduplicate takes, split.

Per clip: rest-offset rotation transfer onto the canonical SMPL skeleton (:mod:`backend.retarget.transfer`, with the
source's profile map and reference pose from :mod:`backend.data.profiles`), put the feet on the floor, move to the
origin facing -Y, detect foot contacts (at 30 fps). Clips are stored at their source rate, capped at 30 fps (the
24-fps and 12-fps CMU conversions are not up-sampled on disk); :func:`backend.data.corpus.load_corpus` gives every
clip at 30 fps.

Takes: the same CMU capture exists in several formats here (the Daz-friendly BVH library, original ASF/AMC, cgspeed
BVH, Character Creator BVH, FBX). Each take is kept once. The Daz-friendly conversion wins for every take it has: it
covers the whole library, so all CMU motion shares one skeleton, one rest alignment and one conversion (a model sees
one body, not five); the others are listed as alternates, with their measured pose difference. Where it lacks a take,
the most faithful other source wins (ASF/AMC, then cgspeed BVH, then CC, then FBX).

Texts: HumanML3D segments (start/end seconds inside a take), KIT-ML sentences (whole take) and the source's own
label (CMU's index for CMU takes) become the clip's text segments (:mod:`backend.data.texts`).

Splits are by take, deterministic (SHA-1 of the take id within each family of sources): about 10% test, 5% validation;
every segment of a take is in the take's split. The test split is held out from all training, weight selection and
threshold tuning.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, CANONICAL_FPS
from ..retarget.transfer import align, transfer
from .corpus import Clip, save_corpus
from .profiles import profile_for
from .sources import NOT_USED, SHARED_SOURCES, RawClip
from .texts import CMU_INDEX, TextSegment

CORPUS_VERSION = "3"
TEST_FRACTION, VAL_FRACTION = 0.10, 0.05
MIN_FRAMES = 15
MIN_SEGMENT_SEC = 0.5
LABEL_SOURCE = "label"  # a source's own whole-take label (hand-written or from the file's index)


def to_canonical(raw: RawClip, fps: float | None = CANONICAL_FPS) -> Motion:
    """Raw clip -> canonical motion at ``fps`` (None: the source rate), grounded, at the origin facing -Y, with
    contacts detected at 30 fps."""
    prof = profile_for(raw.motion.skeleton)
    al = align(raw.motion.skeleton, CANONICAL, prof.joint_map, src_ref_local=raw.ref_local)
    m = transfer(raw.motion, al)
    if fps is not None:
        m = m.resample(fps)
    m = m.grounded().canonicalized()
    m30 = m.resample(CANONICAL_FPS).with_contacts()
    if abs(m.fps - CANONICAL_FPS) < 1e-9:
        m = m30
    else:  # contacts at the stored frames, taken from the 30-fps detection
        idx = np.rint(np.arange(m.num_frames) * CANONICAL_FPS / m.fps).astype(int).clip(0, m30.num_frames - 1)
        m = m.copy(contacts=m30.contacts[idx], contact_joints=m30.contact_joints)
    m.meta = {"name": raw.id, "profile": prof.name}
    return m


def storage_fps(source_fps: float) -> float:
    """Clips are stored at their source rate, capped at 30 fps."""
    return min(float(source_fps), CANONICAL_FPS)


def pose_difference(a: Motion, b: Motion) -> float:
    """Mean root-relative joint position difference (m) of two canonical versions of one take (best small offset)."""
    if abs(a.fps - b.fps) > 1e-6:
        a, b = a.resample(CANONICAL_FPS), b.resample(CANONICAL_FPS)
    pa, pb = a.positions(), b.positions()
    pa, pb = pa - pa[:, :1], pb - pb[:, :1]
    n = min(len(pa), len(pb)) - 2
    if n < 1:
        return float("nan")
    return float(min(np.linalg.norm(pa[s:s + n] - pb[:n], axis=-1).mean() for s in range(3) if s + n <= len(pa)))


def family(source: str) -> str:
    return "cmu" if source.startswith("cmu") else source


def assign_splits(takes: list[tuple[str, str]]) -> dict[str, str]:
    """(take, family) pairs -> take: split. Within each family, takes sorted by SHA-1 of their id; the first 10%
    go to test, the next 5% to val (at least one each once a family has 4 / 8 takes)."""
    out = {}
    fams: dict[str, list[str]] = {}
    for take, fam in takes:
        fams.setdefault(fam, []).append(take)
    for fam, ts in fams.items():
        ts = sorted(set(ts), key=lambda t: hashlib.sha1(t.encode()).hexdigest())
        n = len(ts)
        n_test = max(1 if n >= 4 else 0, round(TEST_FRACTION * n))
        n_val = max(1 if n >= 8 else 0, round(VAL_FRACTION * n))
        for i, t in enumerate(ts):
            out[t] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


# --------------------------------------------------------------------------------------------- label fixes
_FORWARD = re.compile(r"\b(walk|walks|walking|run|runs|running|jog|jogs|jogging)\s+forward\b")
IN_PLACE_TRAVEL_M = 0.3  # a clip whose root travels less than this is in place


def fix_labels(texts: list[str], m: Motion) -> tuple[list[str], list[str]]:
    """Known label defects: an in-place cycle labelled "walks forward" becomes "walks in place". Returns the texts
    and notes on what changed."""
    travel = float(np.linalg.norm(m.root_pos[-1, :2] - m.root_pos[0, :2]))
    if travel >= IN_PLACE_TRAVEL_M or not any(_FORWARD.search(t) for t in texts):
        return texts, []
    fixed = [_FORWARD.sub(lambda g: g.group(1) + " in place", t) for t in texts]
    return fixed, [f"root travels {travel:.2f} m: 'forward' labels read 'in place'"]


def is_cyclic(m: Motion, tol_m: float = 0.05, max_sec: float = 6.0) -> bool:
    """A short clip whose last pose is its first again (root-relative joints within ``tol_m``, feet included):
    windows loop it instead of padding."""
    if m.num_frames < 8 or m.duration > max_sec:
        return False
    p = m.slice(0, 1).positions()[0], m.slice(m.num_frames - 1).positions()[0]
    a, b = (q - q[:1] for q in p)
    return float(np.linalg.norm(a - b, axis=-1).max()) < tol_m


# ------------------------------------------------------------------------------------------------ segments
def clip_segments(raw: RawClip, texts: list[str], duration: float, sentences: dict[str, list[TextSegment]],
                  exclude: set[str]) -> tuple[list[dict], int]:
    """Text segments of one take: its own label (whole take) and the sentence sources', clipped to the take.
    Returns the segments (manifest form) and how many were dropped (outside the take or too short)."""
    segs: list[TextSegment] = []
    own = CMU_INDEX if raw.take.startswith("cmu:") else LABEL_SOURCE
    if texts and own not in exclude:
        segs.append(TextSegment(own, raw.take.split(":", 1)[1], 0.0, None, list(texts)))
    if raw.take.startswith("cmu:"):
        segs.extend(sentences.get(raw.take.split(":", 1)[1], []))
    out, dropped = [], 0
    for s in segs:
        end = duration if s.end_sec is None else min(s.end_sec, duration)
        if s.end_sec is not None and end - s.start_sec < MIN_SEGMENT_SEC:  # a whole take is as long as it is
            dropped += 1
            continue
        out.append({"source": s.source, "ref": s.ref, "start": round(s.start_sec, 3),
                    "end": None if s.end_sec is None else round(end, 3), "texts": list(s.texts),
                    **({"take_seconds": s.take_seconds} if s.take_seconds else {})})
    return out, dropped


def _convert(raw: RawClip):
    """Worker: one raw clip -> (the clip without its source motion, canonical motion or an error string)."""
    try:
        m = to_canonical(raw, storage_fps(raw.motion.fps))
        err = None
    except Exception as e:  # noqa: BLE001 - a broken clip is reported in the manifest, never silently dropped
        m, err = None, f"{type(e).__name__}: {e}"
    return replace(raw, motion=None, source_fps=raw.motion.fps), m, err


def _converted(raws: Iterable[RawClip], workers: int):
    if workers <= 1:
        yield from map(_convert, raws)
        return
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_convert, raws, chunksize=2)


def build_corpus(raws: Iterable[RawClip], out: Path, command: str, skipped: dict[str, str] | None = None,
                 log=print, sentences: dict[str, list[TextSegment]] | None = None, exclude: set[str] = frozenset(),
                 workers: int = 1, total: int | None = None) -> dict:
    """Convert, deduplicate, attach text segments, split and save. Returns the manifest."""
    from tqdm import tqdm

    sentences = sentences or {}
    by_take: dict[str, list[tuple[RawClip, Motion]]] = {}
    problems: dict[str, str] = dict(skipped or {})
    t0 = time.time()
    bar = tqdm(_converted(raws, workers), total=total, unit="clip", desc="converting", mininterval=1.0,
               disable=log is None)
    for raw, m, err in bar:
        if err is not None:
            problems[raw.id] = err
            bar.write(f"  ! {raw.id}: {err}")
            continue
        if round(m.duration * CANONICAL_FPS) + 1 < MIN_FRAMES:
            problems[raw.id] = f"too short ({m.num_frames} frames at {m.fps:g} fps)"
            continue
        by_take.setdefault(raw.take, []).append((raw, m))
    chosen: list[tuple[RawClip, Motion, list[str]]] = []
    cross_check: dict[str, float] = {}
    for items in by_take.values():
        items.sort(key=lambda rm: (rm[0].priority, rm[0].id))
        raw, m = items[0]
        chosen.append((raw, m, [r.id for r, _ in items[1:]]))
        for alt, m_alt in items[1:]:
            cross_check[f"{alt.id} vs {raw.id}"] = round(pose_difference(m, m_alt), 4)
    clips, dropped_segments, no_text = [], 0, []
    for raw, m, alts in chosen:
        texts, notes = fix_labels(list(raw.texts), m)
        if (CMU_INDEX if raw.take.startswith("cmu:") else LABEL_SOURCE) in exclude:
            texts = []
        segs, dropped = clip_segments(raw, texts, m.duration, sentences, exclude)
        dropped_segments += dropped
        if not segs:
            no_text.append(raw.id)
            continue
        meta = {"attribution": raw.attribution, "source_file": _rel(raw.source_file), "source_fps": round(
            raw.source_fps, 4), "profile": m.meta.get("profile"), "segments": segs}
        if is_cyclic(m):
            meta["cyclic"] = True
        if alts:
            meta["alternates"] = alts
        if raw.notes or notes:
            meta["notes"] = raw.notes + notes
        clips.append((raw, m, texts, meta))
    for cid in no_text:
        problems[cid] = "no text (no label and no sentence segment)"
    splits = assign_splits([(raw.take, family(raw.source)) for raw, *_ in clips])
    clips.sort(key=lambda x: x[0].id)
    out_clips = [Clip(raw.id, raw.take, raw.source, raw.licence, texts, splits[raw.take], m, meta)
                 for raw, m, texts, meta in clips]
    manifest = {"version": CORPUS_VERSION, "fps": CANONICAL_FPS, "skeleton": CANONICAL.to_dict(),
                "quaternion_order": "xyzw", "world": "Z up, metres, facing -Y at frame 0",
                "build_command": command, "build_seconds": round(time.time() - t0, 1),
                "split_rule": __doc__.split("Splits are")[1].strip().split("\n\n")[0],
                "dedup_rule": __doc__.split("Each take is kept once. ")[1].split("\n\n")[0],
                "excluded_sources": sorted(exclude),
                "segments_dropped": dropped_segments,
                "not_used": {**NOT_USED, **(skipped or {}), **problems},  # readers add to skipped as they run
                "cross_format_check": {"what": "mean root-relative joint position difference (m) between the kept "
                                               "clip and the same take from another source, best of 0-2 frames "
                                               "offset", "pairs": cross_check}}
    if not out_clips:
        why = "; ".join(f"{k}: {v}" for k, v in list(manifest["not_used"].items())[-5:])
        raise ValueError(f"no clip is left to write a corpus from ({why})")
    save_corpus(out, out_clips, manifest)
    return manifest


def _rel(path: str) -> str:
    """Source paths relative to the shared data folder, so the manifest does not depend on the machine."""
    p = path.split("#")[0]
    for marker in ("shared/data/",):
        if marker in p:
            return path[path.index(marker) + len("shared/"):]
    return Path(p).name + (("#" + path.split("#")[1]) if "#" in path else "")


def shared_raw_clips(shared: Path, cache: Path, skipped: dict[str, str], log=print,
                     exclude: set[str] = frozenset()) -> Iterable[RawClip]:
    for folder, (reader, needs_blender) in SHARED_SOURCES.items():
        if folder in exclude:
            skipped[folder] = "left out (--exclude-source)"
            continue
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
