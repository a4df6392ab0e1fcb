"""HTTP client for the MotionLoom backend (standard library only; never touches bpy).

Blocking calls (:class:`Backend`) are only ever made from worker threads. :class:`JobStream` submits a job and reads
its Server-Sent Events in a daemon thread, putting decoded :class:`wire.Event` objects (or a :class:`Failure`) on a
queue that the main-thread pump drains. Every failure becomes a :class:`BackendError` whose message is written for
the artist, never a traceback.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import queue
import socket
import threading
import urllib.parse
from dataclasses import dataclass

from . import wire

DEFAULT_TIMEOUT_S = 10.0
STREAM_TIMEOUT_S = 600.0  # longest silence tolerated between two events of a running job


class BackendError(Exception):
    """Anything that went wrong talking to the backend, in words a person understands. ``lost``: the backend is
    gone (not listening, or the connection dropped mid-job), so the panel stops saying "Connected"."""

    def __init__(self, message: str, lost: bool = False):
        super().__init__(message)
        self.lost = lost


@dataclass
class Failure:
    """Put on a job's queue instead of an event when the stream breaks."""
    message: str
    lost: bool = False  # the connection to the backend is gone


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_url(url: str):
    u = urllib.parse.urlsplit(url.strip())
    if u.scheme not in ("http", "https") or not u.hostname:
        raise BackendError(f"'{url}' is not a backend address; expected something like http://127.0.0.1:8000")
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        raise BackendError(f"'{url}' has an invalid port") from None
    return u.scheme, u.hostname, port, u.path.rstrip("/")


def _error_text(status: int, body: bytes) -> str:
    """The backend's ErrorBody (``{"error", "detail"}``) or FastAPI's ``{"detail"}`` as one readable line."""
    try:
        d = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        d = None
    msg = None
    if isinstance(d, dict):
        detail = d.get("detail")
        if isinstance(detail, list) and detail:
            parts = []
            for it in detail[:3]:
                if isinstance(it, dict):
                    loc = ".".join(str(x) for x in it.get("loc", []) if x not in ("body",))
                    parts.append(f"{loc}: {it.get('msg', it)}" if loc else str(it.get("msg", it)))
                else:
                    parts.append(str(it))
            msg = "; ".join(parts)
        elif isinstance(detail, str):
            msg = detail
        if d.get("error"):
            msg = str(d["error"])  # the backend's own sentence; ``detail`` is for programs
    if not msg:
        msg = body.decode("utf-8", "replace").strip()[:300] or http.client.responses.get(status, "")
    if status in (401, 403):
        return f"the backend refused the request: wrong or missing token ({msg})"
    if status == 404:
        return f"the backend does not know this request (HTTP 404: {msg})"
    if status == 422 or status == 400:
        return f"the backend rejected the request: {msg}"
    return f"the backend answered HTTP {status}: {msg}"


class Backend:
    """Blocking JSON-over-HTTP calls. Use only from worker threads."""

    def __init__(self, url: str, token: str = "", timeout: float = DEFAULT_TIMEOUT_S,
                 stream_timeout: float = STREAM_TIMEOUT_S):
        self.url = url.strip().rstrip("/")
        self.stream_timeout = stream_timeout
        self.scheme, self.host, self.port, self.prefix = _parse_url(self.url)
        self.token = token or ""
        self.timeout = timeout

    # ---------------------------------------------------------------------------------------------- plumbing
    def connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout or self.timeout)

    def headers(self, body: bool = False) -> dict:
        h = {"Accept": "application/json"}
        if body:
            h["Content-Type"] = "application/json"
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def unreachable(self, e: BaseException) -> BackendError:
        if isinstance(e, ConnectionRefusedError):
            return BackendError(f"cannot reach the MotionLoom backend at {self.url}: nothing is listening there. "
                                "Start it in the Backend panel (or check the address).", lost=True)
        if isinstance(e, (socket.timeout, TimeoutError)):
            return BackendError(f"the MotionLoom backend at {self.url} did not answer in time")
        if isinstance(e, socket.gaierror):
            return BackendError(f"cannot resolve the backend host '{self.host}'")
        return BackendError(f"lost the connection to the MotionLoom backend at {self.url} ({e.__class__.__name__})",
                            lost=True)

    def request(self, method: str, path: str, body=None, timeout: float | None = None):
        """One request; returns the decoded JSON (or None for an empty body)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        conn = self.connection(timeout)
        try:
            conn.request(method, self.prefix + path, body=data, headers=self.headers(body is not None))
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise self.unreachable(e) from None
        finally:
            conn.close()
        if resp.status >= 400:
            raise BackendError(_error_text(resp.status, raw))
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise BackendError(f"the backend at {self.url} answered with something that is not JSON "
                               "(is this really a MotionLoom backend?)") from None

    # --------------------------------------------------------------------------------------------- endpoints
    def health(self) -> dict:
        h = self.request("GET", "/health")
        if not isinstance(h, dict) or h.get("status") != "ok":
            raise BackendError(f"the backend at {self.url} is not healthy: {h!r}"[:300])
        if str(h.get("schema_version")) != wire.SCHEMA_VERSION:
            raise BackendError(f"the backend speaks wire schema {h.get('schema_version')!r} but this add-on speaks "
                               f"{wire.SCHEMA_VERSION!r}: update the add-on or the backend so they match")
        return h

    def models(self) -> list:
        m = self.request("GET", "/v1/models")
        return m if isinstance(m, list) else (m or {}).get("models", [])

    def bone_map(self, rig: dict) -> list:
        return wire.parse_bone_map(self.request("POST", "/v1/bonemap", rig))

    def submit(self, request: dict) -> str:
        created = self.request("POST", "/v1/jobs", request)
        if not isinstance(created, dict) or not created.get("job_id"):
            raise BackendError("the backend accepted the job but returned no job id")
        return str(created["job_id"])

    def cancel(self, job_id: str) -> None:
        try:
            self.request("DELETE", f"/v1/jobs/{urllib.parse.quote(job_id)}", timeout=3.0)
        except BackendError:
            pass  # the job may already be over; closing the stream is what matters


class SSEReader:
    """Reads ``event:``/``data:`` blocks from a streaming HTTP response, one :class:`wire.Event` per block."""

    def __init__(self, resp):
        self.resp = resp

    def __iter__(self):
        etype, data = None, []
        while True:
            line = self.resp.readline()
            if not line:
                return  # connection closed
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if data:
                    yield wire.parse_event(etype, "\n".join(data))
                etype, data = None, []
            elif line.startswith(":"):
                continue  # keep-alive comment
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    etype = value
                elif name == "data":
                    data.append(value)


class JobStream:
    """Submit one job and stream its events into ``self.queue`` from a daemon thread.

    The queue receives :class:`wire.Event` objects and, exactly once at the end, either a terminal event
    (result / error / cancelled) or a :class:`Failure`. ``cancel()`` may be called from any thread; it closes the
    socket (unblocking the reader) and asks the backend to drop the job.
    """

    def __init__(self, backend: Backend, request: dict):
        self.backend = backend
        self.request = request
        self.stream_timeout = backend.stream_timeout
        self.queue: queue.Queue = queue.Queue()
        self.job_id: str | None = None
        self._cancel = threading.Event()
        self._conn = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="motionloom-job", daemon=True)

    def start(self) -> JobStream:
        self.thread.start()
        return self

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            conn, job_id = self._conn, self.job_id
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if job_id:
            threading.Thread(target=self.backend.cancel, args=(job_id,), daemon=True).start()

    def _run(self) -> None:
        try:
            self.job_id = self.backend.submit(self.request)
            if self._cancel.is_set():
                self.backend.cancel(self.job_id)
                self.queue.put(wire.Event(type="cancelled", job_id=self.job_id, message="cancelled"))
                return
            self._stream()
        except BackendError as e:
            self.queue.put(Failure(str(e), e.lost))
        except wire.WireError as e:
            self.queue.put(Failure(f"the backend sent something this add-on cannot read: {e}"))
        except Exception as e:  # noqa: BLE001 - never let a worker die silently
            self.queue.put(Failure(f"unexpected error while talking to the backend: {e!r}"))

    def _stream(self) -> None:
        b = self.backend
        conn = b.connection(self.stream_timeout)
        with self._lock:
            self._conn = conn
        try:
            headers = b.headers()
            headers["Accept"] = "text/event-stream"
            conn.request("GET", f"{b.prefix}/v1/jobs/{urllib.parse.quote(self.job_id)}/events", headers=headers)
            resp = conn.getresponse()
            if resp.status >= 400:
                raise BackendError(_error_text(resp.status, resp.read()))
            for ev in SSEReader(resp):
                self.queue.put(ev)
                if ev.type in wire.TERMINAL_EVENTS:
                    return
        except (OSError, http.client.HTTPException) as e:
            if not self._cancel.is_set():
                if isinstance(e, (socket.timeout, TimeoutError)):
                    raise BackendError(f"the backend sent nothing for {self.stream_timeout:.0f} s; gave up on the "
                                       "job. Nothing was written.") from None
                raise BackendError(self.DIED + f" ({e.__class__.__name__})", lost=True) from None
        finally:
            conn.close()
        if self._cancel.is_set():
            self.queue.put(wire.Event(type="cancelled", job_id=self.job_id or "", message="cancelled"))
            return
        raise BackendError(self.DIED, lost=True)

    DIED = ("the backend stopped in the middle of the job (the connection closed before a result). "
            "Nothing was written; check the backend's log and try again")


class Call:
    """Run one blocking backend call in a daemon thread; poll ``done`` / read ``value`` or ``error``."""

    def __init__(self, fn, *args):
        self.value = None
        self.error: str | None = None
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(fn,) + args, name="motionloom-call", daemon=True)
        self.thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _run(self, fn, *args):
        try:
            self.value = fn(*args)
        except (BackendError, wire.WireError) as e:
            self.error = str(e)
        except Exception as e:  # noqa: BLE001 - the caller on Blender's thread gets the reason
            self.error = f"unexpected error: {e!r}"
        finally:
            self._done.set()
