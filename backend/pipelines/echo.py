"""The ``echo`` task: no model, just the job machinery. It waits ``steps`` x ``step_ms``, reports progress each
step (and a tiny partial motion every ``partial_every`` steps), then returns its payload. Used by health checks,
the server tests (ordering, cancel, concurrency, disconnects) and ``python -m backend bench server``."""
from __future__ import annotations

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL
from ..schema import EchoRequest, JobResult
from .context import JobContext
from .convert import canonical_motion_to_spec

MODEL_NAME = "echo"


def run(request: EchoRequest, ctx: JobContext, model=None) -> JobResult:
    for i in range(request.steps):
        ctx.wait(request.step_ms / 1000.0)
        ctx.progress(i + 1, request.steps)
        if request.partial_every and (i + 1) % request.partial_every == 0:
            ctx.partial(canonical_motion_to_spec(Motion.rest(CANONICAL, frames=1), start_frame=i + 1))
    return JobResult(model=MODEL_NAME, info={"payload": request.payload, "steps": request.steps, "seed": ctx.seed})
