"""Corpus sanity checks a person would do by eye: do walks walk at walking speed, subject by subject?

A take read at the wrong frame rate moves twice (or half) as fast; per CMU subject, the median speed of segments
whose sentences say "walk" exposes that. Speed is the length of the root's ground path, smoothed over one second (so
the hips' sway does not count), over the segment's duration.
"""
from __future__ import annotations

import re

import numpy as np

from .corpus import Corpus

WALK = re.compile(r"\bwalk(s|ing|ed)?\b")
NOT_TRAVEL = re.compile(r"\b(in place|on the spot|treadmill|stand(s|ing)?( still)?|backwards?|sideways|turns? "
                        r"around|circle|stops?|sits?)\b")
WALK_RANGE_M_S = (0.6, 2.0)
MIN_SECONDS = 2.0


def is_walk(texts: list[str]) -> bool:
    """Most sentences say walk and none says the walker stays put, turns or goes backwards."""
    t = [s.lower() for s in texts]
    return bool(t) and sum(bool(WALK.search(s)) for s in t) * 2 > len(t) and not any(NOT_TRAVEL.search(s) for s in t)


def ground_speed(root_xy: np.ndarray, fps: float) -> float:
    """Mean speed (m/s) along the root's ground path smoothed over one second."""
    k = max(1, int(round(fps)))
    if len(root_xy) <= k + 1:
        return float("nan")
    kernel = np.ones(k) / k
    smooth = np.stack([np.convolve(root_xy[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    return float(np.linalg.norm(np.diff(smooth, axis=0), axis=1).sum() * fps / max(len(smooth) - 1, 1))


def audit(corpus: Corpus) -> dict:
    by_subject: dict[str, list[float]] = {}
    for clip in corpus.clips:
        if not clip.take.startswith("cmu:"):
            continue
        subject = clip.take.split(":")[1].split("_")[0]
        for k, seg in enumerate(clip.segments):
            if not is_walk(seg["texts"]):
                continue
            sc = clip.segment_clip(k)
            if sc.motion.duration < MIN_SECONDS:
                continue
            v = ground_speed(sc.motion.root_pos[:, :2], sc.motion.fps)
            if np.isfinite(v):
                by_subject.setdefault(subject, []).append(v)
    med = {s: round(float(np.median(v)), 3) for s, v in sorted(by_subject.items())}
    allv = [x for v in by_subject.values() for x in v]
    lo, hi = WALK_RANGE_M_S
    corrected = sum(any("CMU captured this take at 60 fps" in n or "a 60-fps CMU capture" in n
                        for n in c.meta.get("notes", [])) for c in corpus.clips)
    return {"walk_speed_m_s": {"median": round(float(np.median(allv)), 3) if allv else None,
                               "segments": len(allv), "by_subject": med,
                               "segments_by_subject": {s: len(v) for s, v in sorted(by_subject.items())}},
            "range_m_s": [lo, hi], "outside": [s for s, v in med.items() if not lo <= v <= hi],
            "fps_corrected_takes": corrected}
