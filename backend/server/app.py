"""The FastAPI application: health, models, jobs (submit, status, events, cancel, result) and the bone map.

``create_app(settings)`` builds it; the job manager starts with the app (lifespan) and stops with it. Endpoints that
touch numpy/torch (``POST /v1/jobs`` checks, ``POST /v1/bonemap``) are plain ``def`` so FastAPI runs them in its
thread pool; model work only ever runs in the job worker. See ``docs/server.md`` for the event stream framing.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Body, FastAPI, Header, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import StreamingResponse

from .. import __version__
from ..pipelines import check_request, model_infos, run_job
from ..schema import (
    SCHEMA_VERSION,
    BoneMapEntry,
    ErrorBody,
    Health,
    JobCreated,
    JobEvent,
    JobRequest,
    JobResult,
    JobStatus,
    ModelInfo,
    RigSpec,
)
from . import errors
from .jobs import JobManager, QueueFull
from .security import Guard
from .settings import ServerSettings, is_loopback

JOB_ID = Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="job id from POST /v1/jobs")
E = {"model": ErrorBody}
COMMON = {400: E, 401: E, 413: E, 415: E, 422: E}
# errors of the event stream route are JSON, not text/event-stream: say so explicitly
EJ = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


SSE_EVENT_SCHEMA = {
    "type": "object", "required": ["id", "event", "data"],
    "description": "one Server-Sent Event: `id:` seq, `event:` type, `data:` a JobEvent as JSON on one line",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the event's seq"},
        "event": {"type": "string", "enum": list(JobEvent.model_fields["type"].annotation.__args__)},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": {"$ref": "#/components/schemas/JobEvent"}},
    },
}


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def _device(settings: ServerSettings) -> str:
    import torch
    if settings.device:
        try:
            dev = torch.device(settings.device)
        except RuntimeError:
            raise SystemExit(f"--device {settings.device!r} is not a torch device (try cpu or cuda)") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit(f"--device {settings.device}: this machine has no usable CUDA device")
        return str(dev)
    return "cuda" if torch.cuda.is_available() else "cpu"


def create_app(settings: ServerSettings | None = None, runner=run_job) -> FastAPI:
    settings = settings or ServerSettings()
    token = settings.resolve_token()
    device = _device(settings)
    manager = JobManager(runner, max_queue=settings.max_queue, job_timeout_s=settings.job_timeout_s,
                         keep_results_s=settings.keep_results_s, max_retained_jobs=settings.max_retained_jobs,
                         max_retained_bytes=settings.max_retained_bytes, device=device)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch
        torch.set_num_threads(max(1, settings.torch_threads))
        manager.start(asyncio.get_running_loop())
        yield
        manager.shutdown()
        manager.join(2.0)

    app = FastAPI(title="MotionLoom backend", version=__version__, lifespan=lifespan,
                  description=f"Local motion service for the MotionLoom Blender add-on. Wire schema version "
                              f"{SCHEMA_VERSION}: quaternions XYZW, arrays as base64 float32 with a shape; see "
                              f"docs/server.md. Job events stream as Server-Sent Events.")
    app.state.manager = manager
    app.state.settings = settings
    errors.install(app)

    # ------------------------------------------------------------------------------------------ endpoints
    @app.get("/health", response_model=Health, responses={401: E}, tags=["service"])
    def health() -> Health:
        """Version, wire schema version, device, queue length and the models (loaded or not)."""
        return Health(version=__version__, device=device, queue_length=manager.queue_length, models=model_infos())

    @app.get("/v1/models", response_model=list[ModelInfo], responses={401: E}, tags=["service"])
    def models() -> list[ModelInfo]:
        """Every model: its task, whether it is learned or a classical baseline, its training data and eval."""
        return model_infos()

    @app.post("/v1/jobs", status_code=202, response_model=JobCreated, responses={**COMMON, 503: E}, tags=["jobs"])
    def submit(request: Annotated[JobRequest, Body()]) -> JobCreated:
        """Queue a job and return its id at once; follow it at ``events_url``."""
        check_request(request)  # RequestError -> 422
        try:
            job = manager.submit(request)
        except QueueFull as e:
            raise _http(503, str(e))
        return JobCreated(job_id=job.id, events_url=f"/v1/jobs/{job.id}/events")

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus, responses={401: E, 404: E, 422: E}, tags=["jobs"])
    def status(job_id: str = JOB_ID) -> JobStatus:
        return _job(manager, job_id).status_model()

    @app.get("/v1/jobs/{job_id}/result", response_model=JobResult, responses={401: E, 404: E, 409: E, 422: E},
             tags=["jobs"])
    def result(job_id: str = JOB_ID) -> JobResult:
        """The result of a finished job (409 while it runs or if it failed), for clients that do not stream."""
        job = _job(manager, job_id)
        if job.result is None:
            raise _http(409, f"job {job_id} has no result ({job.status}"
                             f"{': ' + job.message if job.message else ''})")
        return job.result

    @app.delete("/v1/jobs/{job_id}", response_model=JobStatus, responses={401: E, 404: E, 422: E}, tags=["jobs"])
    def cancel(job_id: str = JOB_ID) -> JobStatus:
        """Cancel: a queued job ends at once; a running one stops its work at its next step (a denoising step, a
        window, a stage of the retargeting) and the worker takes the next job. Finished jobs are left as they are."""
        job = manager.cancel(job_id)
        if job is None:
            raise _http(404, _gone(job_id))
        return job.status_model()

    @app.get("/v1/jobs/{job_id}/events", response_class=EventStream, tags=["jobs"],
             responses={200: {"description": "Server-Sent Events: `id:` seq, `event:` type, `data:` JobEvent JSON "
                                             "(each event: `itemSchema`); `:` lines are keep-alives",
                              "content": {"text/event-stream": {"schema": {"type": "string",
                                                                           "contentMediaType": "text/event-stream"}}}},
                        401: EJ, 404: EJ, 422: EJ})
    async def events(request: Request, job_id: str = JOB_ID,
                     after: int | None = Query(None, ge=-1, le=1_000_000_000,
                                               description="send only events with seq > after (like Last-Event-ID)"),
                     last_event_id: str | None = Header(None, max_length=32)):
        """The job's events from the start (or after ``Last-Event-ID`` / ``after``), then live until the final
        ``result``, ``error`` or ``cancelled`` event; a comment line every few seconds keeps the connection alive."""
        job = _job(manager, job_id)
        start = after if after is not None else _int_or_none(last_event_id)
        start = -1 if start is None else start
        return EventStream(_stream(job, start, settings.keepalive_s),
                           headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/v1/bonemap", response_model=list[BoneMapEntry], responses=COMMON, tags=["rigs"])
    def bonemap(rig: Annotated[RigSpec, Body()]) -> list[BoneMapEntry]:
        """The automatic bone map of a rig (canonical joint -> bone, confidence); ``rig.bone_map`` entries are
        taken as given. Use it to show an editable map before retargeting."""
        from ..pipelines.rigs import RigBinding
        return RigBinding(rig).bone_map_entries()

    def openapi():
        """The generated schema plus ``JobEvent`` (the ``data:`` of every SSE event), which no JSON body carries."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            extra = JobEvent.model_json_schema(ref_template="#/components/schemas/{model}")
            comps = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, sch in extra.pop("$defs", {}).items():
                comps.setdefault(name, sch)
            comps["JobEvent"] = extra
            # each event of the stream, as OpenAPI 3.2 describes sequential media types (``itemSchema``): the SSE
            # fields, with ``data`` a JobEvent as JSON; the whole body stays a string for readers without 3.2
            media = spec["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
            media["text/event-stream"]["itemSchema"] = SSE_EVENT_SCHEMA
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi

    # ------------------------------------------------------------------------------------------ middleware
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])
    app.add_middleware(Guard, token=token, loopback_only_hosts=is_loopback(settings.host),
                       max_body_bytes=settings.max_body_bytes)
    return app


async def _stream(job, after: int, keepalive_s: float):
    yield "retry: 1000\n\n"
    i = after + 1
    while True:
        frames = job.frames[i:]
        for f in frames:
            yield f
        i += len(frames)
        if job.finished and i >= len(job.frames):
            return
        if not await job.wait_beyond(i, keepalive_s):
            yield ": keep-alive\n\n"


def _http(status: int, message: str):
    from fastapi import HTTPException
    return HTTPException(status_code=status, detail=message)


def _gone(job_id: str) -> str:
    return (f"no job {job_id!r}: it never existed or finished too long ago and was forgotten "
            f"(finished jobs are kept for a limited time)")


def _job(manager: JobManager, job_id: str):
    job = manager.get(job_id)
    if job is None:
        raise _http(404, _gone(job_id))
    return job


def _int_or_none(s: str | None) -> int | None:
    try:
        return int(s) if s is not None else None
    except ValueError:
        return None
