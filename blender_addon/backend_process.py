"""Start and stop a local MotionLoom backend (``python -m backend serve``) as a child process of Blender.

The backend runs in its own Python (the project's venv, with torch); Blender never imports it. It binds a port
(0 = any free port) and prints ``MOTIONLOOM_SERVER http://HOST:PORT`` as its first stdout line, which a reader
thread picks up. Its standard input is a pipe Blender never writes to and the service runs with
``--exit-with-stdin``: when Blender exits or crashes the operating system closes the pipe and the backend ends too
(no orphan holding the port and the GPU). Everything it prints goes to a log file (``log_path``) and the last lines
stay in memory for the panel. No bpy here: the operators pass in the preferences.
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
                 extra_args: tuple = (), log_path: str | None = None):
        self.python = python
        self.workdir = workdir
        self.host, self.port, self.token = host, int(port), token
        self.extra_args = tuple(extra_args)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.exit_code: int | None = None  # set once the process has ended
        self.log: deque = deque(maxlen=200)
        self._ready = threading.Event()
        self._log_file = None

    # ----------------------------------------------------------------------------------------------- start
    def command(self) -> list[str]:
        cmd = [self.python, "-m", "backend", "serve", "--host", self.host, "--port", str(self.port),
               "--exit-with-stdin"]
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
        if self.log_path:
            try:
                os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
                self._log_file = open(self.log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - lives as long as the process it logs
                self._log_file.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.command())}\n")
            except OSError:
                self._log_file = None  # the panel still shows the tail
        try:
            # stdin: a pipe this process holds and never writes to; the backend exits when it closes
            self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                         **kwargs)
        except OSError as e:
            raise ProcessError(f"could not run '{python}': {e.strerror or e}") from None
        threading.Thread(target=self._read_output, name="motionloom-backend-log", daemon=True).start()
        return self

    def _read_output(self) -> None:
        try:
            for line in self.proc.stdout:
                line = line.rstrip("\n")
                self.log.append(line)
                if self._log_file is not None:
                    self._log_file.write(line + "\n")
                    self._log_file.flush()
                if self.url is None and line.startswith(BANNER):
                    self.url = line[len(BANNER):].strip()
                    self._ready.set()
            try:  # output closed: the process is ending; wait for its real exit code
                self.exit_code = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        finally:
            if self._log_file is not None:
                if self.exit_code is not None:
                    self._log_file.write(f"# exited with code {self.exit_code}\n")
                self._log_file.close()
                self._log_file = None
            self._ready.set()  # process ended: wake waiters

    def wait_ready(self, timeout: float = 120.0) -> str:
        """Block (worker thread) until the backend printed its address; returns the URL."""
        t_end = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if time.monotonic() > t_end:
                self.stop()
                raise ProcessError(f"the backend did not start within {timeout:.0f} s; last output:\n{self.tail()}")
        if self.url is None:
            code = self.exit_code if self.exit_code is not None else self.proc.poll() if self.proc else None
            how = f"with code {code}" if code is not None else "(closed its output)"
            raise ProcessError(f"the backend exited {how} before it was ready; last output:\n{self.tail()}"
                               + (f"\n(full log: {self.log_path})" if self.log_path else ""))
        return self.url

    # ------------------------------------------------------------------------------------------------ stop
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def died(self) -> str | None:
        """Why the process is gone, in words (None while it runs or when it was never started)."""
        if self.proc is None or self.running:
            return None
        code = self.proc.returncode
        return f"the local backend exited with code {code}" + (f" (log: {self.log_path})" if self.log_path else "")

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()  # the service leaves by itself (--exit-with-stdin)
        except OSError:
            pass
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


def start(python: str, workdir: str, host: str = "127.0.0.1", port: int = 0, token: str = "",
          log_path: str | None = None) -> LocalBackend:
    """Start the local backend (stopping one this add-on started before)."""
    global _current
    stop()
    _current = LocalBackend(python, workdir, host, port, token, log_path=log_path).start()
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None
