"""The baseline a text-to-motion model has to beat: nearest training clip by sentence embedding.

The prompt is embedded with the same frozen encoder as the model; the training clip whose description (any of its
descriptions, as written in the corpus) has the highest cosine similarity is returned, fitted to the requested
length: a window of a longer clip (start drawn from the caller's generator) or the clip looped, each copy continuing
from where the last one ended, with a short crossfade. The result starts at the origin facing -Y. Used by the
evaluation as "retrieval"; the served ``retrieval-baseline`` (:mod:`backend.pipelines.text2motion`) is the same
idea with paths and variations, on the same motion edits (:mod:`backend.motion.edit`).
"""
from __future__ import annotations

import numpy as np

from ...motion.edit import CROSSFADE, fit_length, stitch
from ...motion.motion import Motion


class RetrievalBaseline:
    name = "retrieval"

    def __init__(self, clips, encoder):
        self.clips = [c for c in clips if c.texts]
        self.texts = [t for c in self.clips for t in c.texts]
        self.owner = np.array([i for i, c in enumerate(self.clips) for _ in c.texts])
        self.encoder = encoder
        self.emb = encoder.encode(self.texts)

    def nearest(self, prompt: str, rank: int = 0):
        sims = self.emb @ self.encoder.encode([prompt])[0]
        seen = []
        for k in np.argsort(-sims, kind="stable"):
            i = int(self.owner[k])
            if i not in seen:
                seen.append(i)
            if len(seen) > rank:
                return self.clips[seen[rank]], float(sims[k])
        return self.clips[seen[-1]], float(sims.max())

    def motion_for(self, prompt: str, frames: int, rng: np.random.Generator, rank: int = 0) -> Motion:
        clip, _ = self.nearest(prompt, rank)
        return fit_length(clip.motion, frames, rng).canonicalized(0)

    def timeline(self, entries: list[tuple[str, int, int]], rng: np.random.Generator) -> Motion:
        """Each entry retrieved for its own prompt and stitched in order with crossfades (seams at entry starts)."""
        out = None
        for k, (p, s, e) in enumerate(entries):
            extra = CROSSFADE if k < len(entries) - 1 else 0
            part = self.motion_for(p, e - s + extra, rng)
            out = part if out is None else stitch([out, part])
        return out.slice(0, entries[-1][2])
