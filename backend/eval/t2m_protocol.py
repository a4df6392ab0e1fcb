"""Pieces of the text-to-motion evaluation protocol (``python -m backend eval text2motion``), in plain numpy/torch.

* :func:`eval_samples`: each text segment of the split, capped to ``window`` frames (shorter than ``min_frames``
  dropped), with one of its sentences chosen deterministically (a CRC of the segment id and its index);
  locomotion samples are those whose sentence says walk / run / jog.
* :func:`toe_skate`, :func:`penetration_cm`: foot skating (GMD/CondMDI definition) and the deepest joint below
  the floor.
* :func:`facing_error_deg`: mean angle between the body's heading (:meth:`Motion.heading`) and the direction of
  travel along a path (turned the way the prompt asks: backwards, sideways), on frames where the path moves faster
  than 0.2 m/s.
* :func:`s_curve`: a synthetic S-shaped path of a given length.
* :class:`NoveltyIndex`: distance of 1-second windows to the nearest 1-second window of the training motion.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

LOCOMOTION = re.compile(r"\b(walk|run|jog)", re.IGNORECASE)


@dataclass
class Sample:
    motion: object  # Motion, canonicalised at frame 0
    text: str
    id: str
    locomotion: bool


def pick_sentence(texts: list[str], key: str) -> str:
    """One of ``texts``, the same on every run and machine (CRC-32 of ``key``)."""
    return texts[zlib.crc32(key.encode()) % len(texts)]


def eval_samples(clips, window: int = 160, min_frames: int = 30) -> list[Sample]:
    """One sample per text clip (the first ``window`` frames, canonicalised); clips under ``min_frames`` dropped."""
    out = []
    for k, c in enumerate(clips):
        if c.num_frames < min_frames or not c.texts:
            continue
        text = pick_sentence(list(c.texts), f"{c.id}|{k}")
        out.append(Sample(c.motion.slice(0, window).canonicalized(0), text, c.id, bool(LOCOMOTION.search(text))))
    return out


def toe_skate(m) -> float:
    """GMD/CondMDI foot-skate ratio of a motion's two toe joints (below 5 cm and faster than 0.5 m/s)."""
    from ..motion.contacts import foot_skate_ratio_gmd
    from ..motion.skeleton import CANONICAL
    toes = [CANONICAL.index("left_foot"), CANONICAL.index("right_foot")]
    return foot_skate_ratio_gmd(m.positions()[:, toes], m.fps)


def penetration_cm(pos: np.ndarray) -> float:
    """Deepest point (cm) any joint reaches below the floor (z < 0) over a motion's positions (T, J, 3); 0 if none."""
    return float(max(0.0, -float(np.min(pos[..., 2]))) * 100.0)


def polyline_distance(points, path) -> float:
    """Mean distance (m) of 2D points to a 2D polyline."""
    a, b = path[:-1], path[1:]
    ab = b - a
    L = (ab ** 2).sum(-1)
    d = []
    for p in points:
        t = np.clip(((p - a) * ab).sum(-1) / np.maximum(L, 1e-12), 0, 1)
        d.append(np.linalg.norm(a + t[:, None] * ab - p, axis=-1).min())
    return float(np.mean(d))


def facing_error_deg(heading: np.ndarray, xy: np.ndarray, fps: float, min_speed: float = 0.2,
                     prompt: str | None = None) -> tuple[float, int]:
    """(mean absolute angle in degrees, frames counted) between ``heading`` (T,) (radians, 0 = facing -Y,
    counter-clockwise, as :meth:`Motion.heading`) and the direction of travel of ``xy`` (T, 2), on frames where
    ``xy`` moves faster than ``min_speed`` m/s. NaN and 0 frames when it never does. With ``prompt``, the facing
    the prompt asks for (:mod:`backend.models.text.direction`): the back along the path for "walks backwards", a
    shoulder (the nearer one) for "sidesteps"; without it, the front."""
    from ..models.text.direction import FORWARD, facing_offsets, travel_facing
    v = np.gradient(np.asarray(xy, np.float64), axis=0) * fps
    speed = np.linalg.norm(v, axis=1)
    travel = np.arctan2(v[:, 0], -v[:, 1])
    moving = speed > min_speed
    if not moving.any():
        return float("nan"), 0
    offsets = facing_offsets(FORWARD if prompt is None else travel_facing(prompt))
    d = np.min([np.abs(np.angle(np.exp(1j * (np.asarray(heading, np.float64) - travel - o)))) for o in offsets], 0)
    return float(np.degrees(d[moving]).mean()), int(moving.sum())


def s_curve(length: float = 4.0, amplitude: float = 0.6, yaw: float = 0.0, points: int = 200) -> np.ndarray:
    """(points, 3) an S-shaped path: one sine period of ``amplitude`` m to each side over ``length`` m forward,
    then scaled to ``length`` metres of arc; from the origin heading -Y turned by ``yaw``; z = 0 (flat floor)."""
    u = np.linspace(0.0, 1.0, points)
    xy = np.stack([amplitude * np.sin(2 * np.pi * u), -length * u], axis=1)
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1).sum()
    xy = xy * (length / seg)
    c, s = np.cos(yaw), np.sin(yaw)
    xy = xy @ np.array([[c, -s], [s, c]]).T
    return np.concatenate([xy, np.zeros((points, 1))], axis=1)


# ------------------------------------------------------------------------------------------------------ novelty
def window_positions(pos: np.ndarray, heading: np.ndarray, starts: np.ndarray, W: int) -> np.ndarray:
    """(N, W, J, 3) joint positions of the windows ``pos[s:s+W]``, each relative to its first frame's root ground
    point and turned so that frame faces -Y (the root's path within the window is kept)."""
    starts = np.asarray(starts, np.int64)
    idx = starts[:, None] + np.arange(W)[None]
    p = pos[idx].astype(np.float32)  # (N, W, J, 3)
    origin = pos[starts, 0].astype(np.float32).copy()
    origin[:, 2] = 0.0
    p = p - origin[:, None, None, :]
    a = -np.asarray(heading, np.float64)[starts]
    c, s = np.cos(a).astype(np.float32), np.sin(a).astype(np.float32)
    x, y = p[..., 0].copy(), p[..., 1].copy()
    p[..., 0] = c[:, None, None] * x - s[:, None, None] * y
    p[..., 1] = s[:, None, None] * x + c[:, None, None] * y
    return p


class NoveltyIndex:
    """Nearest 1-second training window of 1-second windows of other motion.

    Distance: the mean over frames and joints of the joint position distance (cm) between two windows, each taken
    relative to its first frame's root (:func:`window_positions`). The training motion's windows are searched in two
    stages: a coarse nearest-``candidates`` search over windows every ``stride`` frames (at most ``max_windows`` of
    them, every ``coarse_step``-th frame; squared distance, torch.cdist in chunks), then every start within
    ``stride`` frames of each candidate is scored exactly, so a window copied from training scores ~0 wherever it
    starts."""

    def __init__(self, motions, window: int = 30, stride: int = 15, max_windows: int = 20000,
                 candidates: int = 16, coarse_step: int = 3):
        self.W, self.candidates, self.coarse_step = int(window), int(candidates), int(coarse_step)
        pos, head, take = [], [], []
        for k, m in enumerate(motions):
            if m.num_frames < self.W:
                continue
            pos.append(m.positions().astype(np.float32))
            head.append(m.heading())
            take.append(np.full(m.num_frames, k, np.int64))
        if not pos:
            raise ValueError(f"no training motion of at least {self.W} frames")
        self.pos, self.head, self.take = np.concatenate(pos), np.concatenate(head), np.concatenate(take)
        ends = np.cumsum([len(p) for p in pos])
        self.end = np.repeat(ends, [len(p) for p in pos])  # per frame: where its motion ends
        valid = np.nonzero(np.arange(len(self.pos)) + self.W <= self.end)[0]
        self.stride = max(int(stride), int(np.ceil(len(valid) / max_windows)))
        starts = []
        for a, b in zip(np.concatenate([[0], ends[:-1]]), ends):
            starts.extend(range(int(a), int(b) - self.W + 1, self.stride))
        self.starts = np.asarray(starts, np.int64)
        self.frames = len(self.pos)
        self.coarse = np.concatenate([self._coarse(self.starts[i:i + 4096])
                                      for i in range(0, len(self.starts), 4096)])

    def _coarse(self, starts) -> np.ndarray:
        w = window_positions(self.pos, self.head, starts, self.W)[:, ::self.coarse_step]
        return w.reshape(len(w), -1)

    def distances_cm(self, motions, query_stride: int | None = None) -> np.ndarray:
        """Per window of ``motions`` (every ``query_stride`` frames, default one window length): the distance (cm)
        to the nearest training window."""
        import torch
        qs = int(query_stride or self.W)
        wins = []
        for m in motions:
            if m.num_frames < self.W:
                continue
            p = m.positions().astype(np.float32)
            starts = np.arange(0, m.num_frames - self.W + 1, qs)
            wins.append(window_positions(p, m.heading(), starts, self.W))
        if not wins:
            return np.zeros(0)
        q = np.concatenate(wins)  # (Q, W, J, 3)
        qc = torch.from_numpy(np.ascontiguousarray(q[:, ::self.coarse_step].reshape(len(q), -1)))
        base = torch.from_numpy(self.coarse)
        k = min(self.candidates, len(self.coarse))
        cand = []
        for i in range(0, len(qc), 256):
            d = torch.cdist(qc[i:i + 256], base)
            cand.append(torch.topk(d, k, largest=False).indices.numpy())
        cand = np.concatenate(cand)
        offsets = np.arange(-self.stride + 1, self.stride)
        out = np.empty(len(q))
        for i in range(len(q)):
            c = self.starts[cand[i]]
            s = np.unique((c[:, None] + offsets[None]).ravel())
            s = s[(s >= 0) & (s < self.frames)]
            s = s[s + self.W <= self.end[s]]
            w = window_positions(self.pos, self.head, s, self.W)
            d = np.linalg.norm(w - q[i][None], axis=-1).mean(axis=(1, 2))
            out[i] = float(d.min()) * 100.0
        return out
