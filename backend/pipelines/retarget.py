"""The ``retarget`` task: a source motion (canonical, or on its own rig) onto a target rig's pose channels.

Analytic, through :mod:`backend.retarget.api` (the model name ``rest-offset-transfer`` names its core): both rigs are
bound to the canonical joints by their bone maps (names and topology, with the request's overrides); a rig-space
source goes to the canonical body first (``to_canonical``), then onto the target (``from_canonical``): each mapped
target bone takes the world-space turn of its source joint corrected by the per-bone rest offset (a T-pose source
drives an A-pose target), extra spine/neck bones share the bend, the hips follow the source's scaled by the ratio of
leg lengths, and, unless ``contact_cleanup`` is off, feet planted in the source stay planted on the target (pins,
foot roll, two-bone IK). Rigify rigs get their FK controls and the IK/FK switch properties; feet parented to the
root get location channels. The result lists exactly the channels it sets (see :mod:`backend.schema`).
"""
from __future__ import annotations

from ..retarget.transfer import RetargetError
from ..schema import JobResult, RetargetRequest
from .context import JobContext, RequestError
from .convert import check_canonical_bones, spec_to_canonical_motion
from .rigs import RigBinding

MODEL_NAME = "rest-offset-transfer"


def check(request: RetargetRequest) -> tuple[RigBinding, RigBinding | None]:
    """Refuse requests that cannot be served; returns the (target, source) bindings :func:`run` then uses (source:
    None for a canonical source motion)."""
    target = RigBinding(request.target_rig)
    target.require_body()
    source = None
    if request.source.space == "rig":
        source = RigBinding(request.source_rig)
        source.require_body()
    else:
        check_canonical_bones(request.source.bones, "source motion")
    return target, source


def run(request: RetargetRequest, ctx: JobContext, model=None, bindings=None) -> JobResult:
    """``bindings``: what :func:`check` returned for this request (checked here when not given)."""
    ctx.progress(0, 3, "binding rigs")
    target, source = check(request) if bindings is None else bindings
    src = request.source
    info = {"frames": src.num_frames, "source_space": src.space}
    try:
        if src.space == "rig":
            canon = source.to_canonical(source.spec_to_pose(src), reference=request.source_reference)
            info["source_reference"] = source.reference_used
        else:
            canon = spec_to_canonical_motion(src)
        if "fps" in request.model_fields_set and abs(canon.fps - request.fps) > 1e-6:
            canon = canon.resample(request.fps)  # only when asked: by default the source's frame rate is kept
            info["frames"] = canon.num_frames  # == request.result_frames, which the schema bounded
        ctx.progress(1, 3, "retargeting")
        res = target.to_rig(canon, contact_cleanup=request.contact_cleanup, check=ctx.check_cancelled)
    except RetargetError as e:
        raise RequestError(str(e)) from None
    ctx.progress(2, 3, "writing channels")
    spec = target.pose_to_spec(res.pose, src.start_frame)
    info["bones_written"] = len(spec.bones)
    info["location_bones"] = len(spec.location_bones or [])
    info["properties"] = len(spec.properties or [])
    info["contact_cleanup"] = "on" if request.contact_cleanup else "off"
    info["leg_scale"] = round(float(res.info.get("scale", 1.0)), 6)  # target leg length / canonical
    rest_z = target.rig.skeleton.rest_positions()[:, 2]
    info["target_height_m"] = round(float(rest_z.max() - rest_z.min()), 4)  # as read: say the scale assumed
    ctx.progress(3, 3)
    return JobResult(motions=[spec], bone_map=target.bone_map_entries(), model=MODEL_NAME, info=info)
