"""Training windows and texts for the text-to-motion model and its evaluator, precomputed for speed.

``backend.data.windows.sample_window`` costs about 8 ms per window (resampling, FK for the heading); a training
step needs 64. :class:`WindowBank` does the expensive part once per clip and variant (mirrored or not, time-warped by
a fixed set of factors in [0.8, 1.25], contacts re-detected after warping, heading per frame) and then cuts a batch
of canonicalised windows with a few numpy operations: the window's first frame is moved above the origin and turned
to face -Y (plus an optional small random yaw), exactly what :meth:`Motion.canonicalized` does. Mirrored variants
carry mirrored texts (left <-> right). Clips are drawn with probability proportional to the square root of their
length, so short labelled clips (a wave, a punch) are seen often enough to be learned.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.features import FEATURE_DIM_CONTACTS, NUM_JOINTS, motion_to_features
from ..models.text.augment import mirror_text, paraphrases

WARPS = (0.8, 0.9, 1.0, 1.12, 1.25)


def default_training_corpus():
    """Corpus v3 when it is built (``data/corpus_v3``), else the committed demo corpus."""
    from ..data.corpus import CORPUS_V3, DEFAULT_CORPUS
    return CORPUS_V3 if (CORPUS_V3 / "manifest.json").is_file() else DEFAULT_CORPUS


def training_clips(corpus, split: str, whole_take_max_seconds: float | None = 12.0):
    """The text-labelled clips of one split: every text segment of every take (v3), whole-take labels only for
    takes up to ``whole_take_max_seconds``; a v2 corpus's clips as they are."""
    part = corpus.split(split)
    if part.version == "2":
        return list(part.clips)
    return part.text_clips(max_seconds=whole_take_max_seconds)


@dataclass
class Variant:
    clip: int
    mirrored: bool
    offset: int
    length: int


class WindowBank:
    def __init__(self, clips, warps=WARPS, mirror: bool = True, log=None):
        self.clips = list(clips)
        feats, heads, self.variants = [], [], []
        off = 0
        for ci, clip in enumerate(self.clips):
            base = clip.motion
            for mirrored in ((False, True) if mirror else (False,)):
                mm = base.mirrored() if mirrored else base
                for w in warps:
                    m = mm if w == 1.0 else mm.copy(fps=mm.fps / w).resample(mm.fps)
                    if m.num_frames < 2:
                        continue
                    m = m.with_contacts()
                    feats.append(motion_to_features(m, contacts=True))
                    heads.append(m.heading())
                    self.variants.append(Variant(ci, mirrored, off, m.num_frames))
                    off += m.num_frames
            if log and ((ci + 1) % 500 == 0 or ci + 1 == len(self.clips)):
                log(f"  window bank: {ci + 1}/{len(self.clips)} clips")
        self.feats = np.concatenate(feats).astype(np.float32)
        self.heading = np.concatenate(heads).astype(np.float64)
        lengths = np.array([c.num_frames for c in self.clips], np.float64)
        self.clip_p = np.sqrt(lengths) / np.sqrt(lengths).sum()
        self.by_clip: list[list[int]] = [[] for _ in self.clips]
        for vi, v in enumerate(self.variants):
            self.by_clip[v.clip].append(vi)
        # texts: every paraphrase of every description, mirrored for mirrored variants
        self.texts: list[str] = []
        index: dict[str, int] = {}
        self.text_ids: dict[tuple[int, bool], list[int]] = {}
        for ci, clip in enumerate(self.clips):
            for mirrored in (False, True):
                ids = []
                for desc in clip.texts:
                    for p in paraphrases(mirror_text(desc) if mirrored else desc):
                        if p not in index:
                            index[p] = len(self.texts)
                            self.texts.append(p)
                        ids.append(index[p])
                self.text_ids[(ci, mirrored)] = ids

    def sample(self, batch: int, length: int, rng: np.random.Generator, yaw_jitter: float = 0.0,
               clip_ids: np.ndarray | None = None):
        """A batch of canonicalised windows.

        Returns (features (B, L, 139) float32, real-frame mask (B, L) bool, clip index (B,), text id (B,)).
        Clips shorter than ``length`` are padded by holding their last frame (mask False there).
        """
        if clip_ids is None:
            clip_ids = rng.choice(len(self.clips), size=batch, p=self.clip_p)
        out = np.empty((batch, length, FEATURE_DIM_CONTACTS), np.float32)
        real = np.zeros((batch, length), bool)
        text = np.empty(batch, np.int64)
        for b, ci in enumerate(clip_ids):
            v = self.variants[self.by_clip[ci][rng.integers(len(self.by_clip[ci]))]]
            start = int(rng.integers(0, max(1, v.length - length + 1)))
            n = min(length, v.length - start)
            s0 = v.offset + start
            w = self.feats[s0:s0 + n]
            out[b, :n] = w
            out[b, n:] = w[-1]
            real[b, :n] = True
            ang = -self.heading[s0] + (rng.uniform(-yaw_jitter, yaw_jitter) if yaw_jitter > 0 else 0.0)
            canonicalise(out[b], ang)
            ids = self.text_ids[(int(ci), v.mirrored)]
            text[b] = ids[rng.integers(len(ids))]
        return out, real, clip_ids, text


def canonicalise(x: np.ndarray, angle: float) -> np.ndarray:
    """In place on features (L, D): move frame 0's root above the origin, then rotate everything by ``angle``
    about Z (root position and the root joint's rotation; child rotations are local and do not change)."""
    c, s = np.cos(angle), np.sin(angle)
    rz = np.array([[c, -s], [s, c]], np.float32)
    x[:, 0:2] -= x[0, 0:2]
    x[:, 0:2] = x[:, 0:2] @ rz.T
    # root 6D = two columns of the root rotation matrix: rotate each column's xy by Rz
    x[:, 3:5] = x[:, 3:5] @ rz.T
    x[:, 6:8] = x[:, 6:8] @ rz.T
    return x


# --------------------------------------------------------------------------------------------- observation masks
ROOT_XY = [0, 1]
POSE_DIMS = list(range(3 + 6 * NUM_JOINTS))


def joint_dims(j: int) -> list[int]:
    return list(range(3 + 6 * j, 9 + 6 * j))


def random_observation(real: np.ndarray, rng: np.random.Generator, D: int = FEATURE_DIM_CONTACTS) -> np.ndarray:
    """One random observation mask (L, D) in {0,1} for a window with real-frame mask ``real`` (L,).

    Mixes the controls the sampler offers: nothing (text only), the root's ground trajectory (dense or sparse),
    keyframes (full or partial body), a prefix of earlier motion (continuation and timelines), and combinations.
    """
    L = len(real)
    n = int(real.sum())
    m = np.zeros((L, D), np.float32)
    r = rng.random()
    traj = keys = prefix = False
    if r < 0.40:
        pass
    elif r < 0.55:
        traj = True
    elif r < 0.68:
        keys = True
    elif r < 0.82:
        prefix = True
    elif r < 0.93:
        traj = keys = True
    else:
        traj = prefix = True
    if traj:
        if rng.random() < 0.8:
            m[:n, ROOT_XY] = 1
        else:
            frames = rng.random(n) < rng.uniform(0.05, 0.5)
            m[:n][frames, 0:2] = 1
    if keys:
        k = int(rng.integers(1, 5))
        frames = rng.choice(n, size=min(k, n), replace=False)
        if rng.random() < 0.3:
            frames[0] = 0  # a key on the first frame is the common case (start from the current pose)
        if rng.random() < 0.7:
            dims = POSE_DIMS
        else:  # partial body: root and/or a random subset of joints
            js = rng.choice(NUM_JOINTS, size=int(rng.integers(1, NUM_JOINTS)), replace=False)
            dims = sorted({d for j in js for d in joint_dims(int(j))} | (set(range(3)) if rng.random() < 0.5
                                                                          else set()))
        m[np.ix_(frames, dims)] = 1
    if prefix:
        p = int(rng.integers(4, min(41, max(5, n // 2 + 1))))
        m[:p, POSE_DIMS] = 1
    return m
