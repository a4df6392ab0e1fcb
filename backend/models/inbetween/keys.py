"""Keys on the canonical skeleton, as every in-betweener (baseline or learned) receives them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CanonicalKeys:
    frames: np.ndarray  # (K,) int, strictly increasing scene frames
    rotations: np.ndarray  # (K,22,4) XYZW local rotations
    root: np.ndarray  # (K,3) pelvis world position (m)
    mask: np.ndarray  # (K,22) bool: keyed by the artist
    root_mask: np.ndarray  # (K,) bool
