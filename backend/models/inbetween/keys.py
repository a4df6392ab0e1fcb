"""Keys on the canonical skeleton, as the in-betweeners receive them.

Field for field the same as ``CanonicalKeys`` in ``backend.pipelines.inbetween`` (the server's task runner), so
either can be passed to :meth:`Inbetweener.fill`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CanonicalKeys:
    frames: np.ndarray  # (K,) int, strictly increasing
    rotations: np.ndarray  # (K,22,4) XYZW local rotations
    root: np.ndarray  # (K,3) pelvis world position (m)
    mask: np.ndarray  # (K,22) bool: keyed by the artist
    root_mask: np.ndarray  # (K,) bool
