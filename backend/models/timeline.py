"""Prompt timelines: which prompt drives which frames. Shared by every text-to-motion model (the diffusion model
samples a window per segment, the retrieval baseline fetches a clip per segment)."""
from __future__ import annotations

from dataclasses import dataclass


class TimelineError(ValueError):
    """A timeline that leaves frames without a prompt, or names an empty one."""


@dataclass
class Segment:
    start: int
    stop: int  # exclusive
    prompt: str


def split_timeline(prompt: str, frames: int, timeline) -> list[Segment]:
    """``timeline`` ((prompt, start, end) with end exclusive, any order) -> consecutive segments covering
    ``0..frames``. Entries are taken in order of their start; an entry overlapping the previous one starts where that
    one ended; frames no entry covers take the main ``prompt`` (an error when there is none)."""
    if not timeline:
        return [Segment(0, frames, prompt)]
    segs, t = [], 0
    for p, s, e in sorted(timeline, key=lambda x: x[1]):
        p = (p or "").strip()
        if not p:
            raise TimelineError("a timeline entry has an empty prompt")
        s, e = max(s, t), min(e, frames)
        if s >= e:
            continue
        if s > t:
            if not prompt:
                raise TimelineError(f"frames {t}..{s - 1} are not covered by the timeline and there is no main "
                                    f"prompt to fill them")
            segs.append(Segment(t, s, prompt))
        segs.append(Segment(s, e, p))
        t = e
    if t < frames:
        if not prompt:
            raise TimelineError(f"frames {t}..{frames - 1} are not covered by the timeline and there is no main "
                                f"prompt to fill them")
        segs.append(Segment(t, frames, prompt))
    return segs
