"""Corpus sanity checks a person would do by eye: do walks walk at walking speed, subject by subject?

A take read at the wrong frame rate moves twice (or half) as fast; per CMU subject, the median walking speed of
segments whose HumanML3D or KIT-ML sentences say "walk" (a plain walk: not slow, styled, turning or mixed with other actions) exposes
that. A segment's walking speed is the median ground speed of its root, smoothed over one second (so the hips' sway
does not count), over the frames where it travels (faster than 0.25 m/s: standing at the start or end of a segment
is not walking); segments with under a second of travel are left out, and subjects with fewer than three such
segments are not judged (one slow walk is one person's walk, not a frame rate).

The frame rate itself is checked directly too: each take's duration against the AMASS duration that KIT-ML records
for it (``duration_vs_amass``: medians per capture rate, 1.0 when the rate is right, 0.5 or 2.0 when it is not).
"""
from __future__ import annotations

import re

import numpy as np

from .corpus import Corpus
from .texts import HUMANML3D, KITML

SENTENCE_SOURCES = (HUMANML3D, KITML)

WALK = re.compile(r"\bwalk(s|ing|ed)?\b")
# sentences that describe a walk that is not a plain walk: slower or faster on purpose, styled, not travelling
NOT_PLAIN = re.compile(
    r"\b(in place|on the spot|treadmill|stand(s|ing)?|backwards?|sideways|turns?|turning|around|circles?|circular|"
    r"stops?|stopping|sits?|slow(ly)?|careful(ly)?|cautious(ly)?|crouch\w*|hunch\w*|bent|bend\w*|limp\w*|injur\w*|"
    r"hurt|stumbl\w*|sneak\w*|tip ?toe\w*|stealth\w*|zombie|drunk\w*|balanc\w*|beam|tightrope|line|uneven|stairs?|"
    r"steps? (up|down|over)|over|onto|climb\w*|jog\w*|run\w*|jump\w*|hop\w*|skip\w*|march\w*|dance\w*|"
    r"chicken|animal|monkey|gorilla|elephant|dinosaur|like a|pretend\w*|mimic\w*|acting|heavy|carr(y|ies|ying)|"
    r"push\w*|pull\w*|drag\w*|look(s|ing)? (around|for)|wander\w*|pac(e|es|ing)|shuffl\w*|tired|old|elderly|"
    r"wound\w*|creep\w*|silent\w*|stoop\w*|ape|tiny|small steps|shak\w*|ball|start\w*|stiff\w*|search\w*|"
    r"hold\w*|picks?|drink\w*|stretch\w*|cool|slalom|s-shape|figure|obstacle|strut\w*|stride|macho|styl\w*|"
    r"upstairs|downstairs|podest|up and down|return\w*|side|fast|quick\w*|brisk\w*|"
    r"then|and then|while|before|after)\b")
MIN_SEGMENTS = 2  # a subject is judged on at least this many walk segments
TRAVEL_M_S = 0.25
WALK_RANGE_M_S = (0.6, 2.0)
MIN_SECONDS = 2.0


def is_walk(texts: list[str]) -> bool:
    """Every sentence says walk and none says the walk is anything but a plain walk (slow, styled, turning, mixed
    with other actions)."""
    t = [s.lower() for s in texts]
    return bool(t) and all(WALK.search(s) for s in t) and not any(NOT_PLAIN.search(s) for s in t)


def ground_speed(root_xy: np.ndarray, fps: float) -> float:
    """Median ground speed (m/s) of the root path smoothed over one second, over the frames where it travels
    (NaN with under a second of travel)."""
    k = max(1, round(fps))
    if len(root_xy) <= k + 1:
        return float("nan")
    kernel = np.ones(k) / k
    smooth = np.stack([np.convolve(root_xy[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    v = np.linalg.norm(np.diff(smooth, axis=0), axis=1) * fps
    moving = v[v > TRAVEL_M_S]
    return float(np.median(moving)) if len(moving) >= fps else float("nan")


def audit(corpus: Corpus) -> dict:
    by_subject: dict[str, list[float]] = {}
    for clip in corpus.clips:
        if not clip.take.startswith("cmu:"):
            continue
        subject = clip.take.split(":")[1].split("_")[0]
        for k, seg in enumerate(clip.segments):
            # sentence segments only: CMU's index labels a whole take "walk" when it paces back and forth in a room
            if seg["source"] not in SENTENCE_SOURCES or not is_walk(seg["texts"]):
                continue
            sc = clip.segment_clip(k)
            if sc.motion.duration < MIN_SECONDS:
                continue
            v = ground_speed(sc.motion.root_pos[:, :2], sc.motion.fps)
            if np.isfinite(v):
                by_subject.setdefault(subject, []).append(v)
    med = {s: round(float(np.median(v)), 3) for s, v in sorted(by_subject.items())}
    judged = {s for s, v in by_subject.items() if len(v) >= MIN_SEGMENTS}
    allv = [x for v in by_subject.values() for x in v]
    lo, hi = WALK_RANGE_M_S
    corrected = sum(any("CMU captured this take at 60 fps" in n or "a 60-fps CMU capture" in n
                        for n in c.meta.get("notes", [])) for c in corpus.clips)
    return {"walk_speed_m_s": {"median": round(float(np.median(allv)), 3) if allv else None,
                               "segments": len(allv), "by_subject": med,
                               "segments_by_subject": {s: len(v) for s, v in sorted(by_subject.items())},
                               "min_segments": MIN_SEGMENTS},
            "duration_vs_amass": duration_vs_amass(corpus),
            "range_m_s": [lo, hi], "outside": [s for s, v in med.items() if s in judged and not lo <= v <= hi],
            "outside_single_segment": [s for s, v in med.items() if s not in judged and not lo <= v <= hi],
            "fps_corrected_takes": corrected}


def duration_vs_amass(corpus: Corpus) -> dict:
    """Median ratio of each CMU take's duration to the AMASS duration KIT-ML gives it, by CMU capture rate."""
    from .cmu import capture_rates
    rates = capture_rates()
    ratios: dict[str, list[float]] = {}
    for clip in corpus.clips:
        take = clip.take.split(":", 1)[1] if clip.take.startswith("cmu:") else None
        amass = next((s["take_seconds"] for s in clip.segments if s.get("take_seconds")), None)
        if take is None or not amass:
            continue
        ratios.setdefault(f"{rates.get(take, 120.0):g} fps captures", []).append(clip.motion.duration / amass)
    return {k: {"takes": len(v), "median": round(float(np.median(v)), 3)} for k, v in sorted(ratios.items())}
