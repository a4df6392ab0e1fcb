"""Learned keyframe in-betweening on the canonical skeleton (issue 6).

Entry point for the task runner (``backend.pipelines.inbetween``)::

    from ...models.inbetween import load_default
    model = load_default()                       # weights/inbetween.safetensors
    motion = model.fill(keys, out_frames, fps, ctx)   # keys: CanonicalKeys; ctx: optional JobContext

``fill`` returns a canonical :class:`~backend.motion.motion.Motion` over ``out_frames`` in which every keyed value
(per frame, per joint, and the root) is exactly the one given. Modules: :mod:`.frames` (masks, interpolation base,
canonical frame), :mod:`.network` (the transformer), :mod:`.model` (the fill contract), :mod:`.layouts` (training
key layouts), :mod:`.protocol` / :mod:`.evaluate` (LaFAN1 benchmark), :mod:`.bezier` (Blender's own F-curve
interpolation for bones the model cannot drive), :mod:`.baseline` (SLERP behind the same seam).
"""
from __future__ import annotations

from .keys import CanonicalKeys

__all__ = ["MODEL_NAME", "CanonicalKeys", "load_default", "weights_available"]

MODEL_NAME = "inbetween-delta-transformer"


def weights_available() -> bool:
    from .model import DEFAULT_WEIGHTS
    return DEFAULT_WEIGHTS.is_file()


def load_default():
    """The committed model (raises FileNotFoundError with the training command if the weights are missing)."""
    from .model import DEFAULT_WEIGHTS, Inbetweener
    return Inbetweener.load(DEFAULT_WEIGHTS)
