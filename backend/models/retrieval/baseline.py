"""Nearest-clip retrieval, the classical text-to-motion baseline (``retrieval-baseline``).

Every clip of a corpus comes with text descriptions; the prompt and the descriptions are embedded with the shared
sentence encoder (all-MiniLM-L6-v2, :mod:`backend.models.text`), and the clip whose description has the highest
cosine similarity is returned (the *k*-th best distinct clip for variation *k*). It is then

* fitted to the requested length: a window of a longer clip (start chosen by the seed), or a shorter clip looped,
  each copy turned and moved to continue where the last one ended, with a short crossfade at the seams;
* placed at the origin facing -Y, or, with a trajectory, bent onto it (:func:`.path.follow_path`);
* split by a prompt timeline (:func:`backend.models.timeline.split_timeline`), each segment retrieved for its own
  prompt and stitched in order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...motion.edit import CROSSFADE, fit_length, stitch
from ...motion.motion import Motion
from ...motion.skeleton import CANONICAL_JOINTS
from ..timeline import split_timeline
from .path import follow_path, travel_offset

MODEL_NAME = "retrieval-baseline"
ACCEPT_LOOK = 20  # how far down the ranking a filtered retrieval looks (clip_for's accept)


@dataclass
class Match:
    clip: object
    score: float
    text: str


class RetrievalBaseline:
    """Nearest-clip retrieval over ``corpus`` (an object with ``clips``, each with ``motion`` and ``texts``).
    ``encoder``: anything with ``encode(texts) -> (N, D)`` unit rows (default: the shared sentence encoder).
    Raises ValueError for a corpus without usable clips."""
    name = MODEL_NAME

    def __init__(self, corpus, encoder=None):
        clips = [c for c in corpus.clips if getattr(c, "texts", None) and c.motion.num_frames >= 2]
        for c in clips:
            if c.motion.skeleton.names != CANONICAL_JOINTS:
                raise ValueError(f"corpus clip {c.id!r} is not on the canonical skeleton")
        if not clips:
            raise ValueError("the motion corpus has no clips with text descriptions")
        self.clips = clips
        self.texts = [t for c in clips for t in c.texts]
        self.owner = np.array([i for i, c in enumerate(clips) for _ in c.texts])
        if encoder is None:
            from ..text import default_encoder
            encoder = default_encoder()
        self.encoder = encoder
        self.embeddings = encoder.encode(self.texts)

    def rank(self, prompt: str) -> list[Match]:
        """Clips by their best-matching description, best first."""
        sims = self.embeddings @ self.encoder.encode([prompt])[0]
        best: dict[int, tuple[float, str]] = {}
        for k in np.argsort(-sims, kind="stable"):
            i = int(self.owner[k])
            if i not in best:
                best[i] = (float(sims[k]), self.texts[k])
        return [Match(self.clips[i], s, t) for i, (s, t) in best.items()]

    def clip_for(self, prompt: str, frames: int, fps: float, rng, variation: int = 0,
                 accept: Callable[[str, Match], bool] | None = None) -> tuple[Motion, Match]:
        """The ``variation``-th clip by rank, of those among the best :data:`ACCEPT_LOOK` that ``accept(prompt,
        match)`` takes (all of them when it takes none), fitted to ``frames`` frames at ``fps``."""
        ranked = self.rank(prompt)
        if accept is not None:
            ranked = [m for m in ranked[:ACCEPT_LOOK] if accept(prompt, m)] or ranked
        match = ranked[variation % len(ranked)]
        clip = match.clip.motion
        if abs(clip.fps - fps) > 1e-6:
            clip = clip.resample(fps)
        return fit_length(clip, frames, rng), match

    def generate(self, prompt: str, frames: int, fps: float, *, seed: int = 0, variation: int = 0,
                 timeline=None, trajectory: np.ndarray | None = None, trajectory_timed: bool = True,
                 on_partial: Callable[[Motion], None] | None = None,
                 accept: Callable[[str, Match], bool] | None = None) -> tuple[Motion, dict]:
        """``frames`` frames at ``fps`` for ``prompt`` (``timeline``: (prompt, start, end) entries, end exclusive).
        ``on_partial`` sees the fitted motion before it is bent onto the trajectory; ``accept`` filters the clips
        each segment may use (:meth:`clip_for`). Returns (canonical Motion, info). Raises
        :class:`backend.models.timeline.TimelineError` for a timeline that leaves frames unprompted."""
        rng = np.random.default_rng([seed, variation])
        F = frames
        segments = split_timeline(prompt, F, timeline)
        parts, used = [], []
        for k, seg in enumerate(segments):
            # stitching eats the crossfade at each seam: ask for a little more
            extra = CROSSFADE if k < len(segments) - 1 else 0
            part, match = self.clip_for(seg.prompt, max(seg.stop - seg.start + extra, 2), fps, rng, variation,
                                        accept)
            parts.append(part)
            used.append(match)
        motion = stitch(parts).slice(0, F) if len(parts) > 1 else parts[0]
        if motion.num_frames < F:  # crossfades shortened it: loop the tail segment
            motion = stitch([motion, parts[-1]]).slice(0, F)
        motion = motion.canonicalized(0)
        if on_partial is not None:
            on_partial(motion)
        if trajectory is not None:
            from ..text.direction import facing_offsets, travel_facing
            own = travel_offset(motion)
            motion = follow_path(motion, trajectory, trajectory_timed,
                                 facing=own if own is not None else facing_offsets(travel_facing(prompt))[0])
        info = {"clip": str(used[0].clip.id), "match_text": used[0].text[:200], "similarity": round(used[0].score, 4),
                "clips_used": len(used)}
        return motion, info
