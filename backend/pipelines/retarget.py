"""The ``retarget`` task: a source motion (canonical, or on its own rig) onto a target rig's pose channels.

Classical and analytic (``rest-offset-transfer``, :mod:`backend.retarget.transfer`): both rigs are bound to the
canonical joints by their bone maps (automatic, with the request's overrides); each mapped target bone takes the
world-space turn of its source bone relative to the source's rest, corrected by the per-bone rest offset, so a
T-pose source drives an A-pose target; the hips follow the source's, scaled by the ratio of leg lengths.
A rig-space source is transferred rig to rig directly (no detour through the canonical body, which would drop the
bones the canonical body lacks).
"""
from __future__ import annotations

from ..retarget.transfer import RetargetError, transfer
from ..schema import JobResult, RetargetRequest
from .context import JobContext, RequestError
from .convert import spec_to_canonical_motion
from .rigs import RigBinding

MODEL_NAME = "rest-offset-transfer"


def check(request: RetargetRequest) -> None:
    RigBinding(request.target_rig).require_body()
    if request.source.space == "rig":
        RigBinding(request.source_rig).require_body()
    else:
        from .convert import check_canonical_bones
        check_canonical_bones(request.source.bones, "source motion")


def run(request: RetargetRequest, ctx: JobContext, model=None) -> JobResult:
    ctx.progress(0, 3, "binding rigs")
    target = RigBinding(request.target_rig)
    src = request.source
    info = {"frames": src.num_frames, "source_space": src.space}
    try:
        if src.space == "rig":
            source = RigBinding(request.source_rig)
            motion = source.spec_to_motion(src)
            ctx.progress(1, 3, "transferring")
            out = transfer(motion, target.alignment_from(source))
        else:
            motion = spec_to_canonical_motion(src)
            ctx.progress(1, 3, "transferring")
            out = target.from_canonical(motion)
    except RetargetError as e:
        raise RequestError(str(e)) from None
    if "fps" in request.model_fields_set and abs(out.fps - request.fps) > 1e-6:
        out = out.resample(request.fps)  # only when asked: by default the source's frame rate is kept
    ctx.progress(2, 3, "writing channels")
    spec = target.motion_to_spec(out, src.start_frame)
    info["bones_written"] = len(spec.bones)
    info["contact_cleanup"] = "not available yet" if request.contact_cleanup else "off"
    ctx.progress(3, 3)
    return JobResult(motions=[spec], bone_map=target.bone_map_entries(), model=MODEL_NAME, info=info)
