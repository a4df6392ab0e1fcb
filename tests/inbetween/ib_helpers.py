"""Helpers shared by the in-betweening tests (a module with a unique name: test folders have no packages)."""
from __future__ import annotations

import numpy as np


def make_keys(motion, frames, mask=None, root_mask=None):
    from backend.models.inbetween.keys import CanonicalKeys
    frames = np.asarray(frames)
    K = len(frames)
    return CanonicalKeys(frames, motion.rotations[frames].copy(), motion.root_pos[frames].copy(),
                         np.ones((K, 22), bool) if mask is None else np.asarray(mask, bool),
                         np.ones(K, bool) if root_mask is None else np.asarray(root_mask, bool))
