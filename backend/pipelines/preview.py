"""Bounded previews: what a job's ``partial`` events may carry.

A preview is for the eye, so a job's stream carries a bounded amount of it however long the motion is:

* at most :data:`MAX_PARTIALS` (+1) partials per job, spread evenly over its progress steps
  (:meth:`~backend.pipelines.context.JobContext.partial_due`);
* each one down-sampled in time to about :data:`PREVIEW_VALUES` numbers (every k-th frame, the frame rate divided by
  k, so a client that places samples by ``fps`` shows it over the same frames; k never takes the rate below the
  wire's ``MIN_FPS``);
* and no event over :data:`MAX_PARTIAL_BYTES` (the job manager drops a partial that is still larger, e.g. on a rig
  with very many bones; the final result is never cut).

So a stream's partials total at most ``(MAX_PARTIALS + 1) x MAX_PARTIAL_BYTES`` bytes, and the final ``result``
event carries the complete motion.
"""
from __future__ import annotations

import math

import numpy as np

from ..motion.motion import Motion
from ..schema import MIN_FPS, Array, MotionSpec

MAX_PARTIALS = 20  # partial events per job (one more may land on the first step)
PREVIEW_VALUES = 32_768  # float32 values per preview (~175 kB of base64)
MAX_PARTIAL_BYTES = 512 * 1024  # one partial event, as sent


def stride(frames: int, values_per_frame: int, fps: float) -> int:
    """Keep every k-th frame so a preview holds about :data:`PREVIEW_VALUES` numbers (k >= 1, fps / k >= MIN_FPS)."""
    k = max(1, math.ceil(frames * max(1, values_per_frame) / PREVIEW_VALUES))
    return max(1, min(k, int(fps // MIN_FPS)))


def downsample_motion(motion: Motion) -> Motion:
    """A canonical motion with every k-th frame (see :func:`stride`); the motion itself when it is small enough."""
    k = stride(motion.num_frames, motion.skeleton.num_joints * 4 + 3, motion.fps)
    if k == 1:
        return motion
    return motion.copy(fps=motion.fps / k, rotations=motion.rotations[::k], root_pos=motion.root_pos[::k],
                       contacts=None if motion.contacts is None else motion.contacts[::k])


def downsample_spec(spec: MotionSpec) -> MotionSpec:
    """A wire motion with every k-th frame of each array (see :func:`stride`)."""
    L = len(spec.location_bones or [])
    k = stride(spec.num_frames, len(spec.bones) * 4 + 3 + 3 * L + (4 if spec.contacts is not None else 0), spec.fps)
    if k == 1:
        return spec

    def cut(a):
        return None if a is None else Array.from_numpy(np.ascontiguousarray(a.numpy()[::k]))

    return spec.model_copy(update={"fps": spec.fps / k, "rotations": cut(spec.rotations),
                                   "root_translation": cut(spec.root_translation), "contacts": cut(spec.contacts),
                                   "locations": cut(spec.locations)})
