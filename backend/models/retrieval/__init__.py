"""Classical text-to-motion by retrieval: the nearest corpus clip for a prompt, fitted to the length and bent onto a
path. Modules: :mod:`.baseline` (ranking, fitting, timelines), :mod:`.path` (path following), :mod:`.encoders`
(a dependency-free test encoder)."""
from __future__ import annotations

from .baseline import MODEL_NAME, Match, RetrievalBaseline
from .encoders import TokenOverlapEncoder
from .path import follow_path

__all__ = ["MODEL_NAME", "Match", "RetrievalBaseline", "TokenOverlapEncoder", "follow_path"]
