"""Jobs: a bounded queue, one worker thread per device, event logs that clients can replay.

Every job keeps its full event log (``queued``, ``started``, ``progress``..., ``partial``..., then exactly one of
``result`` / ``error`` / ``cancelled``) as ready-to-send SSE frames, so a client that reconnects with
``Last-Event-ID`` gets what it missed, including the final result, until the job expires (``keep_results_s``).
Model work runs only in the worker thread; the event loop is woken with ``call_soon_threadsafe``.

Cancellation and timeouts are cooperative: they set the job's cancel flag, which the runner sees at its next
``ctx.progress`` / ``ctx.check_cancelled`` / ``ctx.wait`` (every runner checks per step of its work: a denoising
step, a window, a stage of the retargeting), raises, and the worker takes the next job. A timed-out job is also
finished at once by the janitor (clients get the ``error`` event on time); its late result is discarded. Partial
events are bounded (:mod:`backend.pipelines.preview`): down-sampled, spaced out, and dropped over a byte cap.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..pipelines import JobCancelled, JobContext, JobTimedOut, RequestError
from ..pipelines.preview import MAX_PARTIAL_BYTES
from ..schema import JobEvent, JobResult, JobStatus

log = logging.getLogger("motionloom.jobs")

TERMINAL = ("result", "error", "cancelled")


class QueueFull(Exception):
    pass


@dataclass(eq=False)
class Job:
    id: str
    task: str
    request: object
    created: float = field(default_factory=time.monotonic)
    status: str = "queued"  # queued | running | done | error | cancelled
    step: int = 0
    total: int = 0
    message: str | None = None
    result: JobResult | None = None
    finished_at: float | None = None
    deadline: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    frames: list[str] = field(default_factory=list)  # SSE frames, index = seq
    size: int = 0  # characters held in frames (results and partials dominate)
    working: bool = False  # the worker thread is inside this job's runner
    _waiters: list = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def status_model(self) -> JobStatus:
        return JobStatus(job_id=self.id, task=self.task, status=self.status, step=self.step, total=self.total,
                         message=self.message, working=self.working)

    # ---------------------------------------------------------------------------------------- loop side
    def _wake(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait_beyond(self, count: int, timeout: float) -> bool:
        """Wait (in the event loop) until the log has more than ``count`` frames or the job is finished.
        Returns False on timeout."""
        if len(self.frames) > count or self.finished:
            return True
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if len(self.frames) > count or self.finished:  # appended between the check and the registration
            return True
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False


def sse_frame(event: JobEvent) -> str:
    """One Server-Sent Event: ``id`` = seq, ``event`` = type, ``data`` = the JobEvent JSON on one line."""
    return f"id: {event.seq}\nevent: {event.type}\ndata: {event.model_dump_json(exclude_none=True)}\n\n"


class JobManager:
    """Owns the jobs, the queue and the worker. ``runner(request, ctx) -> JobResult`` does the work."""

    def __init__(self, runner: Callable, *, max_queue: int = 64, job_timeout_s: float = 600.0,
                 keep_results_s: float = 900.0, max_retained_jobs: int = 500,
                 max_retained_bytes: int = 1 << 30, device: str = "cpu"):
        self.runner = runner
        self.max_queue = max_queue
        self.job_timeout_s = job_timeout_s
        self.keep_results_s = keep_results_s
        self.max_retained_jobs = max_retained_jobs
        self.max_retained_bytes = max_retained_bytes
        self.device = device
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue = queue.Queue()
        self._queued = 0
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.shutting_down = False
        self.current: Job | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        for name, target in ((f"motionloom-worker-{self.device}", self._work), ("motionloom-janitor", self._janitor)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def shutdown(self, reason: str = "the backend is shutting down") -> None:
        """Finish every unfinished job with an ``error`` event (so streams end cleanly) and stop the threads."""
        with self._lock:
            self.shutting_down = True
            for job in list(self.jobs.values()):
                if not job.finished:
                    job.cancel.set()
                    self._finish(job, "error", reason)
        self._stop.set()
        self._queue.put(None)

    def join(self, timeout: float = 5.0) -> None:
        for t in self._threads:
            t.join(timeout)

    # ------------------------------------------------------------------------------------------ public API
    @property
    def queue_length(self) -> int:
        return self._queued

    def submit(self, request) -> Job:
        with self._lock:
            if self.shutting_down:
                raise QueueFull("the backend is shutting down")
            if self._queued >= self.max_queue:
                raise QueueFull(f"the job queue is full ({self.max_queue} jobs waiting); try again when some "
                                f"have finished")
            job = Job(id=uuid.uuid4().hex, task=request.task, request=request)
            self.jobs[job.id] = job
            self._queued += 1
            self._emit(job, "queued", message=f"position {self._queued} in the queue")
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: a queued job is finished at once; a running one stops at its next step."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.finished:
                return job
            job.cancel.set()
            if job.status == "queued":
                self._queued -= 1
                self._finish(job, "cancelled", "cancelled before it started")
            return job

    # ------------------------------------------------------------------------------------------ events
    def _emit(self, job: Job, type_: str, max_bytes: int | None = None, **fields) -> None:
        """Append an event (not after the job finished). ``max_bytes``: drop the event if its frame is larger."""
        with self._lock:
            if job.finished:
                return
            frame = sse_frame(JobEvent(type=type_, job_id=job.id, seq=len(job.frames), **fields))
            if max_bytes is not None and len(frame) > max_bytes:
                log.info("job %s: %s event of %d bytes dropped (limit %d)", job.id, type_, len(frame), max_bytes)
                return
            job.frames.append(frame)
            job.size += len(frame)
        self._notify(job)

    def _notify(self, job: Job) -> None:
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(job._wake)
            except RuntimeError:  # loop closed during shutdown
                pass

    def _finish(self, job: Job, status: str, message: str | None = None, result: JobResult | None = None) -> bool:
        """Append the terminal event and mark the job finished (once; later calls are ignored)."""
        with self._lock:
            if job.finished:
                return False
            kind = {"done": "result", "error": "error", "cancelled": "cancelled"}[status]
            ev = JobEvent(type=kind, job_id=job.id, seq=len(job.frames), step=job.step, total=job.total,
                          message=message, result=result)
            job.frames.append(sse_frame(ev))
            job.size += len(job.frames[-1])
            job.status, job.message, job.result = status, message, result
            job.finished_at = time.monotonic()
        self._notify(job)
        return True

    # ------------------------------------------------------------------------------------------ worker
    def _work(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                break
            with self._lock:
                if job.finished:  # cancelled while queued
                    continue
                self._queued -= 1
                job.status = "running"
                job.deadline = time.monotonic() + self.job_timeout_s
                self.current = job
            self._emit(job, "started")
            self._run(job)
            with self._lock:
                self.current = None

    def _run(self, job: Job) -> None:
        def on_progress(step, total, eta, message):
            job.step, job.total = step, total
            self._emit(job, "progress", step=step, total=total, eta_s=None if eta is None else round(eta, 3),
                       message=message)

        def on_partial(spec):  # already down-sampled and spaced out by the context (backend.pipelines.preview)
            self._emit(job, "partial", max_bytes=MAX_PARTIAL_BYTES, step=job.step, total=job.total, partial=spec)

        ctx = JobContext(seed=getattr(job.request, "seed", 0), on_progress=on_progress, on_partial=on_partial,
                         cancel=job.cancel, deadline=job.deadline, device=self.device)
        job.working = True
        try:
            try:
                result = self.runner(job.request, ctx)
            finally:
                job.working = False  # before the terminal event: a client that sees it sees a free worker
        except JobCancelled:
            self._finish(job, "cancelled", f"cancelled at step {job.step} of {job.total}")
        except JobTimedOut:
            self._finish(job, "error", f"the job ran longer than {self.job_timeout_s:g} s and was stopped")
        except RequestError as e:
            self._finish(job, "error", str(e))
        except Exception as e:  # noqa: BLE001 - a model bug must not take the worker down; the client gets the reason
            log.error("job %s (%s) failed:\n%s", job.id, job.task, traceback.format_exc())
            self._finish(job, "error", f"{job.task} failed: {type(e).__name__}: {e}")
        else:
            if job.cancel.is_set() and not job.finished:
                self._finish(job, "cancelled", f"cancelled at step {job.step} of {job.total}")
            else:
                self._finish(job, "done", None, result)

    # ------------------------------------------------------------------------------------------ janitor
    def _janitor(self) -> None:
        while not self._stop.wait(0.25):
            self.sweep()

    def sweep(self, now: float | None = None) -> None:
        """Time out the running job if it is past its deadline; forget finished jobs past their retention, and the
        oldest finished ones beyond ``max_retained_jobs`` or ``max_retained_bytes``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            job = self.current
            if job is not None and job.deadline is not None and now > job.deadline and not job.finished:
                job.cancel.set()
                self._finish(job, "error", f"the job ran longer than {self.job_timeout_s:g} s and was stopped")
            finished = sorted((j for j in self.jobs.values() if j.finished), key=lambda j: j.finished_at)
            excess = len(finished) - self.max_retained_jobs
            held = sum(j.size for j in finished)
            for i, j in enumerate(finished):
                if i < excess or held > self.max_retained_bytes or now - j.finished_at > self.keep_results_s:
                    del self.jobs[j.id]
                    held -= j.size
