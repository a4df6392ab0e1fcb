"""Sparse keys on locomotion: what an animator does with a walk, measured against the real motion.

The LaFAN1 protocol keys a 10-frame context block and one target; an animator blocking a walk keys full-body poses
every 30 frames and nothing else. This module cuts such test cases and scores them:

* windows: the spans of a take whose text segments say walk / run / jog (overlapping segments merged), cut into
  windows of :data:`WINDOW` frames (181 = six 30-frame gaps), whole takes at their own place and facing;
* keys: the full body (every joint and the root) on frames 0, 30, 60, ... and on the last frame; no context block;
* **contact count error**: contact onsets (a foot coming down: ankle or toe in contact, :meth:`Motion.with_contacts`,
  after a frame with neither) of each foot in the fill vs the real motion, ``|difference|`` per foot normalised to
  30 frames (a window of T frames is (T-1)/30 such stretches), averaged over feet and windows. A fill that
  moonwalks has no onsets where the real walk has about one per foot per 30 frames;
* **key acceleration ratio**: joint-position acceleration at a key (second difference of world joint positions,
  m/s², magnitude averaged over joints) divided by the median of the same quantity over every frame of the real
  windows, averaged over the inner keys (a velocity kink at a key shows as a spike); the first and last frame of a
  window have no acceleration and are left out;
* foot skating is the repository's toe-skate ratio (GMD / CondMDI, :func:`backend.motion.contacts.foot_skate_ratio_gmd`
  on the toes), reported by the eval as fill / real on the same windows.
"""
from __future__ import annotations

import re

import numpy as np

from ...motion.skeleton import FOOT_JOINTS
from .keys import CanonicalKeys

LOCOMOTION = re.compile(r"\b(walk|walks|walking|walked|run|runs|running|ran|jog|jogs|jogging|jogged)\b")
WINDOW = 181
KEY_EVERY = 30
FEET = (("left_ankle", "left_foot"), ("right_ankle", "right_foot"))


def locomotion_spans(clip, pattern=LOCOMOTION) -> list[tuple[int, int]]:
    """[start, stop) frame spans of ``clip`` (a corpus :class:`~backend.data.corpus.Clip`) covered by text segments
    whose sentences match ``pattern``, overlapping or touching spans merged."""
    fps, T = clip.motion.fps, clip.num_frames
    spans = []
    for seg in clip.segments:
        if not any(pattern.search(t.lower()) for t in seg["texts"]):
            continue
        a = round(seg["start"] * fps)
        b = T if seg["end"] is None else min(T, round(seg["end"] * fps) + 1)
        if b > a:
            spans.append((a, b))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def locomotion_windows(clips, window: int = WINDOW, stride: int | None = None, limit: int | None = None):
    """Windows of ``window`` frames every ``stride`` (default: back to back) frames inside the locomotion spans of
    ``clips``, as motions (at most ``limit``); each has ``meta['name']`` = ``clip@start``."""
    stride = stride or window
    out = []
    for c in clips:
        for a, b in locomotion_spans(c):
            for s in range(a, b - window + 1, stride):
                m = c.motion.slice(s, s + window)
                m.meta = {"name": f"{c.id}@{s}"}
                out.append(m)
                if limit is not None and len(out) >= limit:
                    return out
    return out


def key_frames(num_frames: int, every: int = KEY_EVERY) -> np.ndarray:
    """0, every, 2*every, ... and the last frame."""
    f = list(range(0, num_frames, every))
    if f[-1] != num_frames - 1:
        f.append(num_frames - 1)
    return np.asarray(f, np.int64)


def full_body_keys(motion, frames) -> CanonicalKeys:
    """Every joint and the root of ``motion`` keyed on ``frames``."""
    frames = np.asarray(frames, np.int64)
    K, J = len(frames), motion.rotations.shape[1]
    return CanonicalKeys(frames, motion.rotations[frames].copy(), motion.root_pos[frames].copy(),
                         np.ones((K, J), bool), np.ones(K, bool))


def contact_onsets(motion) -> np.ndarray:
    """(2,) contact onsets of the left and right foot: frames where the foot (ankle or toe, by
    :meth:`~backend.motion.motion.Motion.with_contacts`) is in contact and was not on the frame before."""
    c = motion.with_contacts(FOOT_JOINTS).contacts
    out = []
    for joints in FEET:
        foot = c[:, [FOOT_JOINTS.index(j) for j in joints]].any(1)
        out.append(int(np.sum(foot[1:] & ~foot[:-1])))
    return np.asarray(out)


def contact_count_error(generated, real, every: int = KEY_EVERY) -> float:
    """Mean over windows and feet of ``|onsets(generated) - onsets(real)|`` per ``every`` frames."""
    errs = []
    for g, r in zip(generated, real, strict=True):
        span = (r.num_frames - 1) / every
        errs.extend(np.abs(contact_onsets(g) - contact_onsets(r)) / span)
    return float(np.mean(errs))


def acceleration(motion) -> np.ndarray:
    """(T,) joint-position acceleration magnitude (m/s², averaged over joints) per frame; NaN on the first and last
    frame, which have no second difference."""
    p = motion.positions()
    a = np.full(len(p), np.nan)
    if len(p) >= 3:
        a[1:-1] = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=-1).mean(-1) * motion.fps ** 2
    return a


def key_accel_ratio(generated, real, every: int = KEY_EVERY) -> float:
    """Mean over windows and inner keys (:func:`key_frames` less the first and last) of the generated acceleration
    at the key divided by the median acceleration over every frame of the real windows."""
    med = float(np.nanmedian(np.concatenate([acceleration(r) for r in real])))
    at_keys = np.concatenate([acceleration(g)[key_frames(g.num_frames, every)[1:-1]] for g in generated])
    return float(np.nanmean(at_keys) / med)
