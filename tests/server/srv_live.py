"""Live servers for the tests: ``python -m backend serve --port 0`` in a subprocess, on a real socket; the test
reads the port from the server's first stdout line, as the add-on does."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from backend.server.client import Client

REPO = Path(__file__).resolve().parents[2]

STARTUP_TIMEOUT_S = 120  # generous: only guards against a hang on a busy machine


class LiveServer:
    def __init__(self, *args: str, env: dict | None = None):
        self.stderr = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 - open as long as the server runs
        cmd = [sys.executable, "-m", "backend", "serve", "--port", "0", "--threads", "1", *args]
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env=full_env)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            first = self.lines.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"server did not start: {self.log()}")
        if not first or not first.startswith("MOTIONLOOM_SERVER "):
            self.stop()
            raise RuntimeError(f"unexpected first line {first!r}: {self.log()}")
        self.url = first.split(" ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.token = None
        try:
            nxt = self.lines.get(timeout=0.5)
            if nxt and nxt.startswith("MOTIONLOOM_TOKEN "):
                self.token = nxt.split(" ", 1)[1].strip()
        except queue.Empty:
            pass

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def client(self, token: str | None = None, host: str = "127.0.0.1", **kw) -> Client:
        return Client(f"http://{host}:{self.port}", token=token, **kw)

    def log(self) -> str:
        self.stderr.flush()
        return Path(self.stderr.name).read_text()[-4000:]

    def stop(self, kill: bool = False):
        if self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.stderr.close()
        os.unlink(self.stderr.name)


def start_server(*args: str, env: dict | None = None) -> LiveServer:
    return LiveServer(*args, env=env)
