"""The baseline a text-to-motion model has to beat: nearest training clip by sentence embedding.

The prompt is embedded with the same frozen encoder as the model; the training clip whose description (any of its
descriptions, as written in the corpus) has the highest cosine similarity is returned, fitted to the requested
length: a window of a longer clip (start drawn from the caller's generator) or the clip looped, each copy continuing
from where the last one ended, with a short crossfade. The result starts at the origin facing -Y. Used by the
evaluation as "retrieval"; the server has its own runnable version of the same idea.
"""
from __future__ import annotations

import numpy as np

from ...motion.motion import Motion
from ...motion.rotations import np_quat_fix_hemisphere, np_quat_slerp

CROSSFADE = 10


def _continue_from(prev: Motion, frame: int, nxt: Motion) -> Motion:
    turn = float(prev.heading(frame) - nxt.heading(0))
    m = nxt.rotated_about_z(turn, pivot=nxt.root_pos[0])
    root = m.root_pos.copy()
    root[:, :2] += prev.root_pos[frame, :2] - m.root_pos[0, :2]
    return m.copy(root_pos=root)


def crossfade_concat(a: Motion, b: Motion, n: int = CROSSFADE) -> Motion:
    """``b`` continues ``a`` (turned and moved to ``a``'s heading and position ``n`` frames before its end), with
    those ``n`` frames crossfaded (slerp / lerp)."""
    n = max(1, min(n, a.num_frames // 3, b.num_frames // 3))
    b = _continue_from(a, a.num_frames - n, b)
    w = ((np.arange(n) + 1) / (n + 1))[:, None]
    rot = np_quat_slerp(a.rotations[-n:], b.rotations[:n], np.broadcast_to(w, (n, a.rotations.shape[1])))
    root = a.root_pos[-n:] * (1 - w) + b.root_pos[:n] * w
    return a.copy(rotations=np_quat_fix_hemisphere(np.concatenate([a.rotations[:-n], rot, b.rotations[n:]])),
                  root_pos=np.concatenate([a.root_pos[:-n], root, b.root_pos[n:]]), contacts=None,
                  contact_joints=())


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
        m = clip.motion
        if m.num_frames >= frames:
            s = int(rng.integers(0, m.num_frames - frames + 1))
            out = m.slice(s, s + frames)
        else:
            out = m
            while out.num_frames < frames:
                out = crossfade_concat(out, m)
            out = out.slice(0, frames)
        return out.canonicalized(0)

    def timeline(self, entries: list[tuple[str, int, int]], rng: np.random.Generator) -> Motion:
        """Each entry retrieved for its own prompt and stitched in order with crossfades (seams at entry starts)."""
        out = None
        for k, (p, s, e) in enumerate(entries):
            extra = CROSSFADE if k < len(entries) - 1 else 0
            part = self.motion_for(p, e - s + extra, rng)
            out = part if out is None else crossfade_concat(out, part)
        return out.slice(0, entries[-1][2])
