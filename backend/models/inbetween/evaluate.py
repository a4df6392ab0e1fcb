"""The benchmark on canonical clips: protocol windows from a corpus split, the model and the baselines, metrics.

Used by ``python -m backend eval inbetween`` (test split) and by training (validation split). See
:mod:`.protocol` for what the metrics are and how they are normalised. Rows: ``model``; ``spline`` (with
``with_spline``: the same model with its network switched off, i.e. the velocity-continuing spline its residual sits
on, through the same code path); ``slerp`` (SLERP + linear root); ``zerovel``.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ...motion.rotations import np_quat_fix_hemisphere, np_quat_to_6d, np_sixd_to_quat
from ...motion.skeleton import CANONICAL, CANONICAL_FPS
from . import protocol as P
from .layouts import benchmark_layout

TOES = [CANONICAL.index("left_foot"), CANONICAL.index("right_foot")]


def clip_windows(motions, length: int, stride: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Every window of ``length`` frames every ``stride`` frames over the motions, canonicalised as the benchmark
    does. Returns (root (N,T,3), rotations (N,T,22,4), [(motion index, start)])."""
    roots, rots, where = [], [], []
    for i, m in enumerate(motions):
        q = np_quat_fix_hemisphere(m.rotations)
        for s in P.sliding_windows(m.num_frames, length, stride):
            roots.append(m.root_pos[s:s + length])
            rots.append(q[s:s + length])
            where.append((i, s))
    if not roots:
        return np.zeros((0, length, 3)), np.zeros((0, length, CANONICAL.num_joints, 4)), []
    root, rot = P.canonicalize_windows(np.stack(roots), np.stack(rots))
    return root, rot, where


def position_stats(train_motions, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's normalisation: global-position mean/std over training windows of 50 frames every 20.
    Accumulated ``chunk`` motions at a time (sums in float64), so 9 hours of training takes stay in bounded memory."""
    train_motions = list(train_motions)
    n, s1, s2 = 0, 0.0, 0.0
    for a in range(0, len(train_motions), chunk):
        root, rot, _ = clip_windows(train_motions[a:a + chunk], P.STATS_WINDOW, P.STATS_STRIDE)
        if len(root) == 0:
            continue
        _, gpos = P.global_pose(root, rot, CANONICAL.offsets, CANONICAL.parents)
        flat = gpos.reshape(-1, gpos.shape[-2] * 3)
        n, s1, s2 = n + len(flat), s1 + flat.sum(0), s2 + np.square(flat).sum(0)
    if n == 0:
        raise ValueError(f"no training window of {P.STATS_WINDOW} frames: the statistics need longer clips")
    mean = s1 / n
    return mean, np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))


def to_features(root: np.ndarray, rot: np.ndarray) -> torch.Tensor:
    N, T = root.shape[:2]
    return torch.from_numpy(np.concatenate([root, np_quat_to_6d(rot).reshape(N, T, -1)], -1)).float()


def from_features(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    x = x.double().numpy()
    N, T = x.shape[:2]
    return x[..., :3], np_sixd_to_quat(x[..., 3:].reshape(N, T, CANONICAL.num_joints, 6))


def model_windows(model, root: np.ndarray, rot: np.ndarray, n_past: int = P.N_PAST, batch: int = 256):
    """The model's in-betweens of benchmark windows (context + target keyed)."""
    N, T = root.shape[:2]
    jm, rm = benchmark_layout(T, n_past)
    feats = to_features(root, rot)
    outs = []
    for a in range(0, N, batch):
        b = min(N, a + batch)
        outs.append(model.predict(feats[a:b], torch.from_numpy(jm).expand(b - a, -1, -1),
                                  torch.from_numpy(rm).expand(b - a, -1)))
    if not outs:
        return root.copy(), rot.copy()
    p_root, p_rot = from_features(torch.cat(outs))
    if hasattr(model, "postprocess"):  # the same post-process the served fill applies
        from ...motion.motion import Motion
        for w in range(N):
            mw = model.postprocess(Motion(CANONICAL, 30.0, p_root[w], p_rot[w]), jm)
            p_root[w], p_rot[w] = mw.root_pos, mw.rotations
    return p_root, p_rot


class variant:
    """``with variant(model, base="matching", network=False, plant=False):`` runs the model with another base, its
    network and/or its foot planting switched off, and puts every setting back afterwards."""

    def __init__(self, model, base: str | None = None, network: bool | None = None, plant: bool | None = None):
        self.model, self.base, self.network, self.plant = model, base, network, plant

    def __enter__(self):
        self.was = (self.model.base, self.model.use_network, self.model.plant)
        if self.base is not None:
            self.model.base = self.base
        if self.network is not None:
            self.model.use_network = self.network
        if self.plant is not None:
            self.model.plant = self.plant
        return self.model

    def __exit__(self, *exc):
        self.model.base, self.model.use_network, self.model.plant = self.was


# the rows a model adds to the table: name -> (base, network on, foot planting on); None keeps the served setting
MODEL_ROWS = {"model": (None, None, None), "spline": ("spline", False, None), "matching": ("matching", False, None),
              "model_matching": ("matching", True, None), "model_no_plant": (None, None, False)}


def variant_windows(model, row: str, root: np.ndarray, rot: np.ndarray, n_past: int = P.N_PAST):
    """:func:`model_windows` for one of :data:`MODEL_ROWS`."""
    with variant(model, *MODEL_ROWS[row]):
        return model_windows(model, root, rot, n_past)


def spline_windows(model, root: np.ndarray, rot: np.ndarray, n_past: int = P.N_PAST):
    """The model's own non-learned base on benchmark windows: :func:`model_windows` with the network switched off
    (``use_network = False``; the residual is zero, so the output is the spline the residual would be added to)."""
    with variant(model, "spline", False):
        return model_windows(model, root, rot, n_past)


def key_error(pred_root, pred_rot, root, rot, frames) -> float:
    """Largest difference at the keyed ``frames`` between a prediction and the keys it was given: quaternion
    components (the sign nearest the key's) and root metres, over every window."""
    q, k = pred_rot[:, frames], rot[:, frames]
    dq = np.minimum(np.abs(q - k).max(-1), np.abs(q + k).max(-1))
    dr = np.abs(pred_root[:, frames] - root[:, frames])
    return float(max(dq.max(initial=0.0), dr.max(initial=0.0)))


def evaluate(model, motions, stats, lengths=P.LENGTHS, stride: int = P.TEST_WINDOW_STRIDE, fps=CANONICAL_FPS,
             foot_length: int = 30, with_spline: bool = False, with_matching: bool = False) -> dict:
    """Benchmark table for the model (if given) with and without its foot planting (``model_no_plant``), its spline base (``with_spline``), its matching base alone and with
    the network on it (``with_matching``: rows ``matching`` and ``model_matching``) and both classical baselines on
    ``motions``. With a model, ``key_error_max`` is the largest key error (:func:`key_error`) of the model rows'
    predictions over every window of every length."""
    mean, std = stats
    mrows = (["model", "model_no_plant"] + (["spline"] if with_spline else [])
             + (["matching", "model_matching"] if with_matching else [])) if model is not None else []
    rows = ["slerp", "zerovel"] + mrows
    res: dict = {"lengths": list(lengths), "windows": {}}
    res.update({r: {"l2p": {}, "l2q": {}, "npss": {}} for r in rows})
    skate = {}
    worst = 0.0
    for n in lengths:
        root, rot, _ = clip_windows(motions, P.N_PAST + n + 1, stride)
        res["windows"][str(n)] = len(root)
        if len(root) == 0:
            continue
        preds = {"slerp": P.interpolation(root, rot), "zerovel": P.zero_velocity(root, rot)}
        if model is not None:
            for r in mrows:
                preds[r] = variant_windows(model, r, root, rot)
            keyed = list(range(P.N_PAST)) + [root.shape[1] - 1]
            worst = max([worst] + [key_error(*preds[r], root, rot, keyed) for r in mrows])
        for name, (r, q) in preds.items():
            m = P.transition_metrics(r, q, root, rot, CANONICAL.offsets, CANONICAL.parents, mean, std)
            for k, v in m.items():
                res[name][k][str(n)] = v
        if n == foot_length:
            for name, (r, q) in list(preds.items()) + [("ground_truth", (root, rot))]:
                _, pos = P.global_pose(r, q, CANONICAL.offsets, CANONICAL.parents)
                skate[name] = P.foot_skate_windows(pos[:, :, TOES], fps)
    res["foot_skate"] = skate
    if model is not None:
        res["key_error_max"] = worst
    return res


def latency_ms(fill, keys, out_frames, repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time (ms) of ``fill(keys, out_frames)`` over ``repeats`` calls."""
    for _ in range(warmup):
        fill(keys, out_frames)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fill(keys, out_frames)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1000)
