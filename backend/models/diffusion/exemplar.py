"""Retrieval-augmented sampling: denoise from a noised training exemplar instead of from pure noise.

A diffusion model trained on a few hours of motion on two CPU cores learns the look of human motion long before it
learns which motion a sentence names: sampled from noise, "a person does a cartwheel" and "a person sits down" come
out as the same generic shuffle. Retrieval gets the *what* right (the nearest training clip by text) but only
replays it. MotionLoom combines the two, after ReMoDiffuse (Zhang et al. 2023: retrieved motions condition the
denoiser) and SDEdit (Meng et al. 2022: start the reverse process from a noised guide):

1. the prompt retrieves the nearest training clips by sentence embedding (:class:`ExemplarBank`, over the training
   split only), fitted to the requested length and, along a drawn path, bent onto it (the same
   :class:`~backend.models.retrieval.RetrievalBaseline` the eval uses as the baseline);
2. the exemplar is noised to the level ``strength`` of the schedule (``strength`` 1: pure noise, i.e. plain
   generation; 0: the exemplar itself) and DDIM runs from there under the prompt, the keys, the path and the joint
   targets (:func:`.sampler.sample_window` ``guide=``);
3. so the result keeps the exemplar's gross motion (what the text asked for) while the network re-makes every
   detail: it is new motion, measured as the distance of its 1-second windows to the nearest training window
   (``novelty_cm`` in ``eval text2motion``), and it honours controls the exemplar knows nothing about.

``strength`` is chosen on the validation split (``eval text2motion --split val --exemplar-strength ...``) and stored
in the weights' sidecar (``sampling.exemplar_strength``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...motion.motion import Motion
from ...motion.skeleton import CANONICAL_FPS
from ..features import motion_to_features
from ..retrieval.path import travel_offset
from ..text.direction import facing_kind, travel_facing


@dataclass
class Exemplar:
    features: np.ndarray  # (F, 139) model-frame features with contacts, 30 fps
    clips: list[str]  # training clips it came from (ids), for the result's info
    texts: list[str]  # their matching descriptions


class ExemplarBank:
    """Exemplars for prompts from a :class:`~backend.models.retrieval.RetrievalBaseline` built over the training
    split's text clips (never val or test). ``rank`` diversity: variation ``k`` of a request takes the
    ``k % top_k``-th best clip, so variations of one prompt differ in their exemplar too. Clips that travel facing
    another way than the prompt asks are passed over (:meth:`accepts`)."""

    def __init__(self, retriever, top_k: int = 3):
        self.retriever = retriever
        self.top_k = max(1, int(top_k))
        self._kinds: dict[str, str | None] = {}

    def clip_facing(self, clip) -> str | None:
        """How ``clip`` faces while it travels (:mod:`backend.models.text.direction`), None if it stays in place."""
        key = str(clip.id)
        if key not in self._kinds:
            off = travel_offset(clip.motion)
            self._kinds[key] = None if off is None else facing_kind(off)
        return self._kinds[key]

    def accepts(self, prompt: str, match) -> bool:
        """A clip may start a generation for ``prompt`` unless the prompt names a gait or a direction and the clip
        travels facing another way (a "walk crouched" must not start from the nearest sentence's backward
        crouched walk); prompts that name neither take any clip."""
        want = travel_facing(prompt, default=None)
        return want is None or self.clip_facing(match.clip) in (None, want)

    def exemplar(self, prompt: str, frames: int, *, seed: int = 0, variation: int = 0, timeline=None,
                 path_xy: np.ndarray | None = None) -> Exemplar:
        """``frames`` frames at 30 fps for ``prompt`` (``timeline``: (prompt, start, stop) entries at 30 fps) at the
        origin facing -Y, or with ``path_xy`` ((frames, 2), model frame, one point per frame) bent onto the path."""
        motion, info = self.retriever.generate(
            prompt, frames, CANONICAL_FPS, seed=seed, variation=variation % self.top_k, timeline=timeline,
            trajectory=None if path_xy is None else _path3(path_xy), trajectory_timed=True, accept=self.accepts)
        return Exemplar(motion_to_features(_with_contacts(motion), contacts=True), [info["clip"]],
                        [info["match_text"]])


def warp_to_observation(features: np.ndarray, values: np.ndarray, mask: np.ndarray,
                        horizon: float = 30.0, reach: int = 5) -> np.ndarray:
    """Motion warping (Witkin & Popovic 1995) in feature space, per channel: the offsets between the observed values
    and the motion on the observed frames, interpolated linearly between them and faded out linearly over
    ``horizon`` frames before the first and after the last, added to the motion. ``features``, ``values``,
    ``mask``: (F, D) (``values`` only read where ``mask``).

    A denoiser that sees an isolated key copies it onto the key's own frame (and partly onto the next ones) and
    leaves its neighbours where its own motion was, so the motion there is first re-derived from the frames
    ``reach`` either side of the key (linearly; held at a window's edge) before the offset is taken: the result then passes
    through the key with no spike beside it. Frames whose neighbours are observed too (a drawn path, a prefix) are
    taken as they are."""
    out = np.array(features, np.float32, copy=True)
    mask = np.asarray(mask) > 0
    F = len(out)
    t = np.arange(F, dtype=np.float64)
    for c in np.nonzero(mask.any(0))[0]:
        on = mask[:, c]
        fi = np.nonzero(on)[0]
        x = out[:, c].astype(np.float64)
        for f in fi:
            lo, hi = f - reach, f + reach
            free_lo = lo >= 0 and not on[lo:f].any()
            free_hi = hi < F and not on[f + 1:hi + 1].any()
            if free_lo and free_hi:
                x[lo + 1:hi] = np.interp(t[lo + 1:hi], [lo, hi], [x[lo], x[hi]])
            elif free_lo and hi >= F:
                x[lo + 1:] = x[lo]
            elif free_hi and lo < 0:
                x[:hi] = x[hi]
        off = values[on, c] - x[fi]
        w = np.interp(t, t[fi], off)
        w *= np.clip(1.0 - np.maximum(t[fi[0]] - t, t - t[fi[-1]]).clip(min=0.0) / horizon, 0.0, 1.0)
        out[:, c] = (x + w).astype(np.float32)
    return out


def _path3(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, np.float64)
    return np.concatenate([xy[:, :2], np.zeros((len(xy), 1))], axis=1)


def _with_contacts(m: Motion) -> Motion:
    return m if m.contacts is not None else m.with_contacts()
