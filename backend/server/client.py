"""A small client for the service, standard library only (``http.client``), so the same code can run in Blender's
bundled Python. Used by the tests, ``python -m backend bench server`` and scripts.

Event stream framing (see docs/server.md): blocks separated by a blank line; ``id:`` (seq), ``event:`` (type) and
one ``data:`` line (JSON); lines starting with ``:`` are keep-alives. A stream that ends before a ``result``,
``error`` or ``cancelled`` event means the server went away: :class:`BackendGone` says so.
"""
from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

TERMINAL = ("result", "error", "cancelled")


class BackendError(Exception):
    """Anything that went wrong talking to the backend; ``str()`` is a sentence for the user."""


class BackendHTTPError(BackendError):
    def __init__(self, status: int, message: str):
        super().__init__(f"the backend answered {status}: {message}")
        self.status = status
        self.message = message


class BackendGone(BackendError):
    """The connection failed or closed before the job finished (the server stopped or crashed)."""


class Client:
    def __init__(self, url: str = "http://127.0.0.1:8765", token: str | None = None, timeout: float = 30.0):
        u = urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.token = token
        self.timeout = timeout

    # ------------------------------------------------------------------------------------------ plumbing
    def _conn(self, timeout: float | None = None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)

    def _headers(self, extra=None) -> dict:
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(extra or {})
        return h

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict | list | str]:
        """One request; returns (status, parsed JSON or text). Raises :class:`BackendGone` if unreachable."""
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        hdrs = self._headers(headers)
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn = self._conn()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as e:
            raise BackendGone(f"cannot reach the backend at {self.host}:{self.port} ({type(e).__name__}: {e})") \
                from None
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode("utf-8", "replace")

    def _ok(self, method, path, body=None, expect=(200,)):
        status, data = self.request(method, path, body)
        if status not in expect:
            msg = data.get("error") if isinstance(data, dict) else str(data)
            raise BackendHTTPError(status, msg)
        return data

    # ------------------------------------------------------------------------------------------ API
    def health(self) -> dict:
        return self._ok("GET", "/health")

    def models(self) -> list:
        return self._ok("GET", "/v1/models")

    def submit(self, job: dict) -> str:
        return self._ok("POST", "/v1/jobs", job, expect=(202,))["job_id"]

    def status(self, job_id: str) -> dict:
        return self._ok("GET", f"/v1/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict:
        return self._ok("DELETE", f"/v1/jobs/{job_id}")

    def bonemap(self, rig: dict) -> list:
        return self._ok("POST", "/v1/bonemap", rig)

    def events(self, job_id: str, after: int | None = None, timeout: float | None = None) -> Iterator[dict]:
        """Yield the job's events (dicts with ``type``, ``seq``, ...) until the final one.

        ``after``: resume after this seq (sent as ``Last-Event-ID``). Raises :class:`BackendGone` if the stream
        ends or breaks before a final event, :class:`BackendHTTPError` for 4xx (e.g. an unknown job).
        """
        conn = self._conn(timeout)
        headers = self._headers({"Accept": "text/event-stream"})
        if after is not None:
            headers["Last-Event-ID"] = str(after)
        last = after
        try:
            conn.request("GET", f"/v1/jobs/{job_id}/events", headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raw = resp.read()
                try:
                    msg = json.loads(raw).get("error", raw.decode())
                except ValueError:
                    msg = raw.decode("utf-8", "replace")
                raise BackendHTTPError(resp.status, msg)
            block: dict = {}
            while True:
                line = resp.readline()
                if not line:
                    raise BackendGone(f"the backend closed the event stream of job {job_id} before it finished "
                                      f"(last event seq {last}); it may have stopped or crashed")
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if "data" in block:
                        ev = json.loads(block["data"])
                        last = ev.get("seq", last)
                        yield ev
                        if ev.get("type") in TERMINAL:
                            return
                    block = {}
                elif line.startswith(":"):
                    continue
                else:
                    key, _, value = line.partition(":")
                    block[key] = value.removeprefix(" ")
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as e:
            raise BackendGone(f"lost the connection to the backend while following job {job_id} (last event seq "
                              f"{last}): {type(e).__name__}: {e}") from None
        finally:
            conn.close()

    def run(self, job: dict, on_event=None) -> dict:
        """Submit a job and follow it to the end; return the result (raises :class:`BackendError` on error)."""
        job_id = self.submit(job)
        for ev in self.events(job_id):
            if on_event is not None:
                on_event(ev)
            if ev["type"] == "result":
                return ev["result"]
            if ev["type"] in ("error", "cancelled"):
                raise BackendError(f"job {job_id} {ev['type']}: {ev.get('message')}")
        raise BackendGone(f"job {job_id}: the event stream ended without a result")
