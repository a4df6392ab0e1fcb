"""What a task runner may tell its caller while it works, and how it learns it should stop.

The server and the CLI hand every runner a :class:`JobContext`. Runners call ``ctx.progress(step, total)`` at each
step of their work (that is also where a cancel or a timeout takes effect), ``ctx.check_cancelled()`` between the
stages of work that has no steps, ``ctx.partial(spec)`` to show an intermediate motion (bounded: see
:mod:`backend.pipelines.preview`; ``ctx.partial_due()`` says whether one would be sent, so a runner can skip making
it), and ``ctx.wait(seconds)`` instead of ``time.sleep`` so a cancel interrupts the wait.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class JobCancelled(Exception):
    """Raised inside a runner when its job was cancelled; the caller reports a ``cancelled`` event."""


class JobTimedOut(Exception):
    """Raised inside a runner when its job ran past its deadline."""


class RequestError(ValueError):
    """A request that is well-formed JSON of the right types but cannot be served (unknown bones, a rig without
    legs, ...). The server answers 422 with this message before the job is queued."""


ProgressFn = Callable[[int, int, "float | None", "str | None"], None]


class JobContext:
    """Progress, partial results, cancellation and the random seed of one job.

    ``on_progress(step, total, eta_s, message)`` and ``on_partial(motion_spec)`` are the caller's sinks (the job
    manager turns them into events; the CLI prints them). ``cancel`` is a ``threading.Event`` the caller sets;
    ``deadline`` is a ``time.monotonic()`` value after which the next check raises :class:`JobTimedOut`.
    """

    def __init__(self, seed: int = 0, on_progress: ProgressFn | None = None, on_partial=None,
                 cancel: threading.Event | None = None, deadline: float | None = None, device: str = "cpu"):
        self.seed = int(seed)
        self.device = device  # torch device the runner's models should use
        self._on_progress = on_progress
        self._on_partial = on_partial
        self.cancel = cancel or threading.Event()
        self.deadline = deadline
        self.started = time.monotonic()
        self.step = 0
        self.total = 0
        self._partial_bucket = -1  # the last share of progress (1 / MAX_PARTIALS) that got a partial
        self.partials_sent = 0

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` or :class:`JobTimedOut` if the job should stop now."""
        if self.cancel.is_set():
            raise JobCancelled("the job was cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise JobTimedOut("the job ran longer than the server's job timeout")

    def progress(self, step: int, total: int, message: str | None = None) -> None:
        """Report that ``step`` of ``total`` steps are done; stops the job here if it was cancelled."""
        self.check_cancelled()
        if step == 0:
            self.started = time.monotonic()  # the ETA counts from the first step (not from model loading)
        self.step, self.total = int(step), int(total)
        eta = None
        if 0 < step <= total:
            eta = (time.monotonic() - self.started) / step * (total - step)
        if self._on_progress is not None:
            self._on_progress(self.step, self.total, eta, message)

    def partial_due(self) -> bool:
        """Whether :meth:`partial` would publish now: at most one partial per 1/MAX_PARTIALS of the progress."""
        from .preview import MAX_PARTIALS
        if self._on_partial is None:
            return False
        if self.total <= 0:
            return self.partials_sent < MAX_PARTIALS
        return min(self.step, self.total) * MAX_PARTIALS // self.total > self._partial_bucket

    def partial(self, motion_spec) -> None:
        """Publish an intermediate motion (a :class:`backend.schema.MotionSpec`) for previews, down-sampled in time
        (:func:`backend.pipelines.preview.downsample_spec`); dropped when one was sent for this share of progress."""
        self.check_cancelled()
        if not self.partial_due():
            return
        from .preview import MAX_PARTIALS, downsample_spec
        if self.total > 0:
            self._partial_bucket = min(self.step, self.total) * MAX_PARTIALS // self.total
        self.partials_sent += 1
        self._on_partial(downsample_spec(motion_spec))

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking at once on cancel (then raising :class:`JobCancelled`)."""
        if seconds > 0:
            limit = seconds if self.deadline is None else max(0.0, min(seconds, self.deadline - time.monotonic()))
            self.cancel.wait(limit)
        self.check_cancelled()
