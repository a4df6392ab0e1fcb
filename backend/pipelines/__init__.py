"""Task runners shared by the server and the command line: one code path whether or not a server is running.

``run_job(request, ctx)`` dispatches on ``request.task`` to a runner module (``echo``, ``inbetween``,
``text2motion``, ``retarget``), giving it the active model for that task from :data:`REGISTRY` (loaded lazily once,
kept warm). ``check_request(request)`` does the cheap checks that need project knowledge (canonical joint names, rig
bone maps) so the server can answer 422 before queueing. ``model_infos()`` lists every model for ``GET /v1/models``.
"""
from __future__ import annotations

import importlib

from ..schema import JobResult, ModelInfo
from .context import JobCancelled, JobContext, JobTimedOut, RequestError
from .registry import ModelEntry, Registry

__all__ = [
    "REGISTRY",
    "TASKS",
    "JobCancelled",
    "JobContext",
    "JobTimedOut",
    "RequestError",
    "check_request",
    "model_infos",
    "run_job",
]

TASKS = ("text2motion", "inbetween", "retarget", "echo")


def _runner(task: str):
    return importlib.import_module(f"{__name__}.{task}")


def _load(module: str, factory: str):
    """A loader calling ``backend.<module>.<factory>()`` (imported on first use)."""
    def load():
        return getattr(importlib.import_module(f"backend.{module}"), factory)()
    return load


def _default_registry() -> Registry:
    from ..models.weights import sidecar_eval
    from . import text2motion as t2m
    reg = Registry()
    reg.register(ModelEntry("echo", "echo", "baseline", "none", load=lambda: None, preload=True,
                            note="no model: waits and echoes (health checks, tests, benchmarks)"))
    from ..models import inbetween as ib
    from ..models.inbetween.model import DEFAULT_WEIGHTS as IB_WEIGHTS
    reg.register(ModelEntry(ib.MODEL_NAME, "inbetween", "learned", "MotionLoom corpus (train split)",
                            load=ib.load_default, available=ib.weights_available,
                            requires="weights/inbetween.safetensors (python -m backend train inbetween)",
                            eval_summary=sidecar_eval(IB_WEIGHTS),
                            note="transformer residual over a velocity-continuing spline; keys exact; unmapped "
                                 "rig bones filled as Blender's default F-curves"))
    reg.register(ModelEntry("slerp-baseline", "inbetween", "baseline", "none (classical)",
                            load=_load("models.inbetween.baseline", "SlerpInbetweener"),
                            note="classical baseline: slerp rotations and linear root between keys"))
    reg.register(ModelEntry(t2m.LEARNED_NAME, "text2motion", "learned", t2m.LEARNED_TRAINING_DATA,
                            load=t2m.LearnedText2Motion.served, available=t2m.learned_available,
                            note=t2m.LEARNED_NOTE, requires="weights/text2motion.safetensors",
                            eval_summary=sidecar_eval(t2m.learned_weights())))
    reg.register(ModelEntry(t2m.V2_NAME, "text2motion", "learned", t2m.V2_TRAINING_DATA,
                            load=t2m.LearnedText2Motion.v2, available=t2m.v2_available,
                            note=t2m.V2_NOTE, requires="weights/text2motion_v2.safetensors",
                            eval_summary=sidecar_eval(t2m.v2_weights())))
    reg.register(ModelEntry(t2m.MODEL_NAME, "text2motion", "baseline", t2m.TRAINING_DATA,
                            load=_load("pipelines.text2motion", "load_retrieval_baseline"), available=t2m.corpus_available,
                            note=t2m.NOTE, requires="the motion corpus (backend.data.corpus)"))
    reg.register(ModelEntry("rest-offset-transfer", "retarget", "baseline", "none (analytic)", load=lambda: None,
                            preload=True,
                            note="analytic retargeting (backend.retarget.api): bone maps from names and topology, "
                                 "per-bone rest offsets in world space, hips scaled by leg length, planted feet "
                                 "kept planted (two-bone IK), Rigify FK controls with their IK/FK switches"))
    return reg


REGISTRY = _default_registry()


def _entry(request, model: str | None = None) -> ModelEntry:
    """The registry entry that serves ``request``: the named model (argument, else the request's ``model`` field) or
    the task's active one. Raises :class:`RequestError` for a name the task does not have."""
    name = model if model is not None else getattr(request, "model", None)
    if name is None:
        return REGISTRY.active(request.task)
    try:
        return REGISTRY.named(name, request.task)
    except KeyError as e:
        raise RequestError(e.args[0]) from None


def check_request(request, model: str | None = None):
    """Raise :class:`RequestError` for requests that cannot be served (before any queueing): an unknown or
    unavailable model, and the task's own checks (bone maps, ranges, its work budget). Returns what the task's
    ``check`` prepared (its rig bindings), which ``run_job`` hands to the runner."""
    entry = _entry(request, model)
    if not entry.available():
        raise RequestError(f"{request.task} is not available on this installation: {entry.name} needs "
                           f"{entry.requires}")
    mod = _runner(request.task)
    return mod.check(request) if hasattr(mod, "check") else None


def run_job(request, ctx: JobContext | None = None, model: str | None = None) -> JobResult:
    """Run one job in this thread with the model named ``model`` (e.g. ``slerp-baseline``), else the one the
    request's ``model`` field names, else the task's active model. Raises :class:`JobCancelled`,
    :class:`JobTimedOut`, :class:`RequestError` or the model's own error."""
    ctx = ctx or JobContext(seed=getattr(request, "seed", 0))
    checked = check_request(request, model)
    entry = _entry(request, model)
    if not entry.loaded:
        ctx.progress(0, 0, f"loading {entry.name} (first use; it stays loaded)")
    loaded = entry.get()
    ctx.check_cancelled()
    mod = _runner(request.task)
    if not hasattr(mod, "check"):
        return mod.run(request, ctx, loaded)
    return mod.run(request, ctx, loaded, checked)


def model_infos() -> list[ModelInfo]:
    return REGISTRY.infos()
