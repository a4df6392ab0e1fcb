"""The classical in-betweening baseline behind the same ``fill`` seam as the learned model: per joint, slerp between
that joint's own keys (hold outside them); the root lerps between its keys. No weights, no randomness.

Served by name (``slerp-baseline``), used by the eval and the bench for latency comparisons, and by tests.
"""
from __future__ import annotations

import numpy as np

from ...motion.motion import Motion
from ...motion.skeleton import CANONICAL, CANONICAL_FPS
from .interpolation import lerp_points, slerp_channels
from .keys import CanonicalKeys

MODEL_NAME = "slerp-baseline"


class SlerpInbetweener:
    """Classical baseline: slerp rotations per joint between its keys, linear root. No weights, no randomness."""
    name = MODEL_NAME

    def fill(self, keys: CanonicalKeys, out_frames: np.ndarray, fps: float = CANONICAL_FPS, ctx=None) -> Motion:
        rot = slerp_channels(keys.frames, keys.rotations, keys.mask, out_frames)
        root = lerp_points(keys.frames, keys.root, keys.root_mask, out_frames)
        return Motion(CANONICAL, fps, root, rot)
