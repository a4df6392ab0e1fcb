"""The one job at a time and the main-thread pump that applies its events.

Network I/O happens in worker threads (:mod:`client`); they only fill queues. :func:`pump` runs on Blender's main
thread: in the GUI as a ``bpy.app.timers`` callback, in tests and the headless demo called in a loop (timers never
fire in the ``bpy`` module). Each tick drains the queue within a small time budget, applies at most the newest
partial result (older ones are dropped), and finishes the job on a terminal event. A result handler may be a
generator: it then runs one slice per tick (e.g. a batch of F-curves of a new, not yet assigned action), so writing
a large result does not freeze Blender in one go. Handlers look bpy data up by name
every tick, so undo or file loads in between never leave stale pointers.
"""
from __future__ import annotations

import inspect
import queue
import time
from dataclasses import dataclass, field

import bpy

from . import autosave, client, wire

TICK_S = 0.05  # timer interval while a job runs
BUDGET_S = 0.008  # time per tick spent draining events before yielding to Blender
SLICE_S = 0.01  # next tick sooner while a preview or a result is being written in slices


@dataclass
class Job:
    """One running request. Handlers run on the main thread and may raise; a raise fails the job cleanly."""
    kind: str
    label: str
    stream: client.JobStream | None = None
    prepare: object = None  # a generator that reads the scene in slices (one per tick) and returns the JobStream
    call: client.Call | None = None
    on_partial: object = None  # fn(job, wire.Motion) -> None or a generator (one slice per tick)
    on_result: object = None  # fn(job, wire.Result | value) -> message, or a generator (one slice per tick)
    on_cleanup: object = None  # fn(job, ok: bool): always called once at the end
    preview: object = None  # a preview.Preview: discarded (the armature restored exactly) whatever the outcome
    state: str = "running"  # running | done | error | cancelled
    progress: float = 0.0
    message: str = "waiting for the backend"
    object_name: str = ""  # the armature the job writes to ("" for jobs that write none)
    take_name: str = ""  # the name its new action gets
    url: str = ""  # connection jobs: the backend's address
    started: float = field(default_factory=time.perf_counter)
    tick_times: list = field(default_factory=list)
    # outcome, set by the result handler
    result: object = None  # the wire.Result
    actions: list = field(default_factory=list)  # names of the actions it made
    keys_added: int = 0
    connection_lost: bool = False  # it failed because the backend is gone
    target_errors: list = field(default_factory=list)  # [(joint, bone, frame, distance on the rig)]
    bone_map: list = field(default_factory=list)
    # pump state (main thread only)
    finishing: object = None  # the result generator being run, one slice per tick
    previewing: object = None  # the preview generator being run
    next_partial: object = None  # the newest partial result, drawn once the preview in progress is complete
    shown_partial: object = None  # the partial last handed to on_partial (shown again after a save or an undo)
    pending_result: object = None  # a result that waits for the artist to leave Edit Mode
    has_pending_result: bool = False

    @property
    def running(self) -> bool:
        return self.state == "running"


_active: Job | None = None
_last: Job | None = None
finish_listeners: list = []  # fn(job) after every job's end (the connection state listens)


def active() -> Job | None:
    return _active


def last() -> Job | None:
    """The running job, or the one that finished last (for the panel's status line)."""
    return _active or _last


def start(job: Job) -> Job:
    global _active
    if _active is not None and _active.running:
        raise RuntimeError(f"'{_active.label}' is still running: wait for it or cancel it first")
    _active = job
    if job.prepare is not None:
        try:  # the first slice runs in the operator, so bad input is reported there, before anything starts
            _prepare_slice(job)
        except BaseException:
            _active = None
            job.prepare = None
            raise
    elif job.stream is not None:
        job.stream.start()
    autosave.pause()  # no autosave file may hold the job's preview (see .autosave)
    if not bpy.app.timers.is_registered(pump):
        bpy.app.timers.register(pump, first_interval=0.0, persistent=True)
    return job


def cancel() -> bool:
    """Cancel the running job: the stream closes, the backend drops the job, nothing is written."""
    job = _active
    if job is None or not job.running:
        return False
    if job.stream is not None:
        job.stream.cancel()
    _finish(job, "cancelled", "cancelled: nothing was written")
    return True


def _prepare_slice(job: Job) -> None:
    """One slice of the job's scene reading; when it is done, its request goes out."""
    try:
        next(job.prepare)
    except StopIteration as done:
        job.prepare = None
        job.stream = done.value
        job.message = "waiting for the backend"
        job.stream.start()


def _complete(job: Job, value) -> bool:
    """Apply a result: at once, or start its generator (then the job ends when the generator does)."""
    _stop_preview(job)  # the outcome supersedes any preview still being drawn
    out = job.on_result(job, value) if job.on_result else None
    if inspect.isgenerator(out):
        job.finishing = out
        job.message = "writing the result"
        return _advance(job)
    _finish(job, "done", out or "done")
    return True


def _advance(job: Job) -> bool:
    """Run one slice of the result generator; True when the job is over."""
    try:
        next(job.finishing)
    except StopIteration as stop:
        job.finishing = None
        _finish(job, "done", stop.value or "done")
        return True
    return False


def _stop_preview(job: Job) -> None:
    job.next_partial = None
    gen, job.previewing = job.previewing, None
    if gen is not None:
        gen.close()


def _preview_slice(job: Job) -> None:
    """Advance the preview by one slice. A preview being drawn is finished before the newest partial starts
    (restarting on every partial could starve it when partials come faster than a preview takes)."""
    if job.previewing is None and job.next_partial is not None:
        partial, job.next_partial = job.next_partial, None
        job.shown_partial = partial
        out = job.on_partial(job, partial)
        if not inspect.isgenerator(out):
            return
        job.previewing = out
    gen = job.previewing
    if gen is None:
        return
    try:
        next(gen)
    except StopIteration:
        job.previewing = None


def take_preview_off() -> None:
    """Before a save: put the armature back as it was (the file gets no preview); :func:`show_preview_again`
    afterwards."""
    job = _active
    if job is not None and job.running and job.preview is not None:
        _stop_preview(job)
        job.preview.discard()


def show_preview_again() -> None:
    """After a save or an undo/redo: draw the last partial again on the next tick (the preview was taken off, or the
    undo brought back an older state that :func:`preview.repair_orphans` cleaned)."""
    job = _active
    if job is None or not job.running or job.preview is None:
        return
    if job.previewing is not None:
        job.previewing.close()  # its half-made action (if any) removes itself
        job.previewing = None
    job.preview.forget()
    if job.next_partial is None:
        job.next_partial = job.shown_partial


def _finish(job: Job, state: str, message: str) -> None:
    global _active, _last
    _stop_preview(job)
    if job.prepare is not None:
        job.prepare.close()
        job.prepare = None
    gen, job.finishing = job.finishing, None
    if gen is not None:
        gen.close()  # an unfinished write removes what it made (its finally clause)
    job.state = state
    job.message = message
    if state == "done":
        job.progress = 1.0
    try:
        if job.preview is not None:
            job.preview.discard()
        if job.on_cleanup is not None:
            job.on_cleanup(job, state == "done")
    except Exception as e:  # noqa: BLE001 - cleanup must not hide the job's own outcome
        job.message += f" (and cleaning up failed: {e})"
    if _active is job:
        _active = None
        autosave.resume()
    _last = job
    for listener in finish_listeners:
        try:
            listener(job)
        except Exception as e:  # noqa: BLE001 - one broken listener must not stop the others
            print(f"MotionLoom: a job listener failed: {e!r}")
    _report(job)


def _report(job: Job) -> None:
    """Write the outcome to the Info log (and the terminal) in plain words."""
    level = {"done": "INFO", "error": "ERROR", "cancelled": "WARNING"}.get(job.state, "INFO")
    text = f"MotionLoom {job.label}: {job.message}"
    print(text)
    try:
        bpy.ops.motionloom.report("EXEC_DEFAULT", level=level, message=text)
    except Exception:  # noqa: BLE001, S110 - the terminal line above stays
        pass  # add-on unregistered or no window: the terminal line above stays


def _fail(job: Job, message: str) -> None:
    if job.stream is not None:
        job.stream.cancel()
    _finish(job, "error", message)


def _handle(job: Job, ev) -> bool:
    """Apply one event; returns True when the job is over."""
    if isinstance(ev, client.Failure):
        job.connection_lost = ev.lost
        _fail(job, ev.message)
        return True
    if ev.type in ("queued", "started"):
        job.message = "queued" if ev.type == "queued" else "running"
    elif ev.type == "progress":
        if ev.fraction is not None:
            job.progress = ev.fraction
        job.message = ev.message or f"step {ev.step} of {ev.total}"
    elif ev.type == "result":
        if _in_edit_mode():
            # applied as soon as the artist leaves Edit Mode
            job.pending_result, job.has_pending_result = ev.result, True
            job.message = "result ready: leave Edit Mode to apply it"
            return False
        return _complete(job, ev.result)
    elif ev.type == "error":
        _fail(job, f"the backend reported an error: {ev.message or 'no details'}")
        return True
    elif ev.type == "cancelled":
        _finish(job, "cancelled", "cancelled: nothing was written")
        return True
    return False


def pump() -> float | None:
    """One main-thread tick. Returns the delay until the next tick, or None when no job is left (timer stops)."""
    job = _active
    if job is None or not job.running:
        return None
    t0 = time.perf_counter()
    try:
        if job.prepare is not None:
            _prepare_slice(job)
        elif job.finishing is not None:
            if not _in_edit_mode():
                _advance(job)
        elif job.call is not None:
            if job.call.done:
                if job.call.error:
                    _fail(job, job.call.error)
                else:
                    _complete(job, job.call.value)
        elif job.has_pending_result:
            if not _in_edit_mode():
                value, job.pending_result, job.has_pending_result = job.pending_result, None, False
                _complete(job, value)
        else:
            latest_partial = None
            while time.perf_counter() - t0 < BUDGET_S:
                try:
                    ev = job.stream.queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(ev, client.Failure) and ev.type == "partial":
                    if ev.partial is not None:
                        latest_partial = ev.partial
                    if ev.fraction is not None:
                        job.progress = ev.fraction
                    continue
                if isinstance(ev, client.Failure) or ev.type in wire.TERMINAL_EVENTS:
                    latest_partial = None  # the outcome supersedes any preview
                    _handle(job, ev)
                    break
                _handle(job, ev)
            if latest_partial is not None and job.running and job.on_partial is not None:
                job.next_partial = latest_partial  # drawn once the preview in progress is complete
            if job.running and job.finishing is None and not job.has_pending_result:
                _preview_slice(job)
    except (wire.WireError, ValueError, RuntimeError, ReferenceError, KeyError) as e:
        if job.running:
            _fail(job, str(e))
    except Exception as e:  # noqa: BLE001 - a failed apply fails the job, never Blender's timer
        if job.running:
            _fail(job, f"unexpected error while applying the result: {e!r}")
    job.tick_times.append(time.perf_counter() - t0)
    _redraw()
    if not job.running:
        return None
    busy = job.finishing is not None or job.previewing is not None or job.prepare is not None
    return SLICE_S if busy else TICK_S


def _in_edit_mode() -> bool:
    """Writing actions and pushing undo steps from Edit Mode would be lost or undone with the edit; wait instead."""
    mode = getattr(bpy.context, "mode", "OBJECT") or "OBJECT"
    return mode.startswith("EDIT")


def _redraw() -> None:
    wm = bpy.context.window_manager
    if wm is None:
        return
    for win in wm.windows:
        screen = win.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type in {"VIEW_3D", "DOPESHEET_EDITOR", "GRAPH_EDITOR", "NLA_EDITOR"}:
                area.tag_redraw()


def run_until_idle(timeout: float = 120.0, sleep: float = 0.005) -> Job | None:
    """Pump until the active job is over (tests, the headless demo). Returns the finished job."""
    job = _active
    t_end = time.monotonic() + timeout
    while _active is not None and _active.running:
        if time.monotonic() > t_end:
            cancel()
            raise TimeoutError(f"the job did not finish within {timeout:.0f} s")
        pump()
        time.sleep(sleep)
    return job or _last


def shutdown() -> None:
    """On unregister / file load: cancel whatever runs and stop the timer."""
    global _last
    cancel()
    _last = None
    if bpy.app.timers.is_registered(pump):
        bpy.app.timers.unregister(pump)
