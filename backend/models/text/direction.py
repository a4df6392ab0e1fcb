"""Which way a prompt asks the body to face while it travels: forward (the default), backward or sideways.

"a person walks backwards" travels with the back first, "sidesteps to the left" with a shoulder first, "walks" or
"runs" with the front first; anything else (a cartwheel, a dance) travels as it likes. The rule is a handful of words (English, case-insensitive); it decides which
training exemplars may start a generation (:class:`backend.models.diffusion.exemplar.ExemplarBank`) and what
"facing along the path" means in the eval (:func:`backend.eval.t2m_protocol.facing_error_deg`).
"""
from __future__ import annotations

import re

import numpy as np

FORWARD, BACKWARD, SIDEWAYS = "forward", "backward", "sideways"
_BACKWARD = re.compile(r"\b(back ?wards?|in reverse|backs? up|backing up|moon ?walk\w*)\b", re.IGNORECASE)
_GAIT = re.compile(r"\b(walk\w*|run|runs|running|ran|jog\w*|stroll\w*|march\w*|sprint\w*|hik\w+|strides?|striding|"
                   r"pac(e|es|ing)|limp\w*|stagger\w*|sneak\w*|tiptoe\w*)\b", re.IGNORECASE)
_SIDEWAYS = re.compile(r"\b(side ?ways|side[- ]?step\w*|side to side|strafe\w*|sidles?|crab[- ]walk\w*)\b", re.IGNORECASE)


def travel_facing(prompt: str, default: str | None = FORWARD) -> str | None:
    """:data:`BACKWARD` or :data:`SIDEWAYS` where ``prompt`` says so (backward wins), :data:`FORWARD` where it names
    a gait (walk, run, jog, ...) without either, else ``default`` (a cartwheel or a dance travels as it likes)."""
    if _BACKWARD.search(prompt or ""):
        return BACKWARD
    if _SIDEWAYS.search(prompt or ""):
        return SIDEWAYS
    if _GAIT.search(prompt or ""):
        return FORWARD
    return default


def facing_offsets(kind: str) -> tuple[float, ...]:
    """Body heading minus direction of travel (radians) that ``kind`` allows: 0; pi; or +-pi/2."""
    return {FORWARD: (0.0,), BACKWARD: (np.pi,), SIDEWAYS: (np.pi / 2, -np.pi / 2)}[kind]


def facing_kind(offset: float) -> str:
    """The kind an observed heading-minus-travel ``offset`` (radians) is nearest to."""
    a = abs(float(np.angle(np.exp(1j * offset))))
    return FORWARD if a < np.pi / 4 else BACKWARD if a > 3 * np.pi / 4 else SIDEWAYS
