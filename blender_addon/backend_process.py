"""Start and stop a local MotionLoom backend (``python -m backend serve``) as a child process of Blender.

The backend runs in its own Python (the project's venv, with torch); Blender never imports it. It binds a port
(0 = any free port) and prints ``MOTIONLOOM_SERVER http://HOST:PORT`` as its first stdout line, which a reader
thread picks up. No bpy here: the operators pass in the preferences.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import deque

from .client import BackendError

BANNER = "MOTIONLOOM_SERVER "


class ProcessError(BackendError):
    """The local backend could not be started; the message says what to fix."""


class LocalBackend:
    """One backend child process and the tail of its output (shown when it fails)."""

    def __init__(self, python: str, workdir: str, host: str = "127.0.0.1", port: int = 0, token: str = "",
                 extra_args: tuple = ()):
        self.python = python
        self.workdir = workdir
        self.host, self.port, self.token = host, int(port), token
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.log: deque = deque(maxlen=200)
        self._ready = threading.Event()

    # ----------------------------------------------------------------------------------------------- start
    def command(self) -> list[str]:
        cmd = [self.python, "-m", "backend", "serve", "--host", self.host, "--port", str(self.port)]
        if self.token:
            cmd += ["--token", self.token]
        return cmd + list(self.extra_args)

    def start(self) -> LocalBackend:
        python = self.python.strip()
        if not python:
            raise ProcessError("set the backend's Python in the add-on preferences (the python of the MotionLoom "
                               "venv, e.g. /path/to/motionloom/.venv/bin/python)")
        if not os.path.isfile(python):
            raise ProcessError(f"the backend Python '{python}' does not exist; fix it in the add-on preferences")
        if not os.path.isdir(os.path.join(self.workdir, "backend")):
            raise ProcessError(f"'{self.workdir}' does not contain the MotionLoom 'backend' package; set the backend "
                               "folder in the add-on preferences")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE")}
        env["PYTHONUNBUFFERED"] = "1"
        kwargs = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True  # Ctrl-C in Blender's terminal does not kill the backend mid-write
        try:
            self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                         **kwargs)
        except OSError as e:
            raise ProcessError(f"could not run '{python}': {e.strerror or e}") from None
        threading.Thread(target=self._read_output, name="motionloom-backend-log", daemon=True).start()
        return self

    def _read_output(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.log.append(line)
            if self.url is None and line.startswith(BANNER):
                self.url = line[len(BANNER):].strip()
                self._ready.set()
        self._ready.set()  # process ended: wake waiters

    def wait_ready(self, timeout: float = 120.0) -> str:
        """Block (worker thread) until the backend printed its address; returns the URL."""
        t_end = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if time.monotonic() > t_end:
                self.stop()
                raise ProcessError(f"the backend did not start within {timeout:.0f} s; last output:\n{self.tail()}")
        if self.url is None:
            code = self.proc.poll() if self.proc else None
            raise ProcessError(f"the backend exited (code {code}) before it was ready; last output:\n{self.tail()}")
        return self.url

    # ------------------------------------------------------------------------------------------------ stop
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def tail(self, n: int = 12) -> str:
        return "\n".join(list(self.log)[-n:])


_current: LocalBackend | None = None


def current() -> LocalBackend | None:
    return _current


def start(python: str, workdir: str, host: str = "127.0.0.1", port: int = 0, token: str = "") -> LocalBackend:
    """Start the local backend (stopping one this add-on started before)."""
    global _current
    stop()
    _current = LocalBackend(python, workdir, host, port, token).start()
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None
