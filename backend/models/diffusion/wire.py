"""Wire (``backend.schema``) -> model controls, for requests already in canonical space.

Frame numbers on the wire are scene frames; the model counts from the request's ``start_frame``. Rig-space keys and
bone-named joint targets are converted to canonical joints by the pipeline before they get here.
"""
from __future__ import annotations

import numpy as np

from ...motion.skeleton import CANONICAL
from .control import ControlError, JointTargets, Keys


def request_controls(request) -> dict:
    """A ``Text2MotionRequest`` -> keyword arguments of :meth:`Text2MotionModel.generate_motion`."""
    start = request.start_frame
    out: dict = {"trajectory": None, "trajectory_timed": request.trajectory_timed, "keys": None,
                 "joint_targets": None, "timeline": None}
    if request.trajectory is not None:
        out["trajectory"] = request.trajectory.numpy()
    if request.keys is not None:
        k = request.keys
        unknown = [b for b in k.bones if b not in CANONICAL.index_of]
        if unknown:
            raise ControlError(f"keys name bones that are not canonical joints: {', '.join(unknown[:5])}")
        frames = np.array(k.frames) - start
        if frames.min() < 0 or frames.max() >= request.frames:
            raise ControlError(f"keys at frames {k.frames[0]}..{k.frames[-1]} fall outside the generated range "
                               f"{start}..{start + request.frames - 1}")
        out["keys"] = Keys(frames, list(k.bones), k.rotations.numpy(), k.root_translation.numpy(),
                           None if k.mask is None else k.mask.numpy() > 0.5,
                           None if k.root_mask is None else np.array(k.root_mask, bool))
    if request.joint_targets:
        tg = JointTargets()
        for t in request.joint_targets:
            if t.joint not in CANONICAL.index_of:
                raise ControlError(f"joint target names {t.joint!r}, which is not a canonical joint")
            tg.add(t.joint, t.frame - start, t.position)
        out["joint_targets"] = tg
    if request.timeline:
        out["timeline"] = [(e.prompt, e.start, e.end) for e in request.timeline]
    return out
