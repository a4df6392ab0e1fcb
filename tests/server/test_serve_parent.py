"""``serve --exit-with-stdin``: the service ends when its parent's pipe closes (the Blender add-on holds one, so a
crashed Blender leaves no orphan backend)."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _start(*args):
    p = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--port", "0", "--threads", "1", *args],
                         cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = p.stdout.readline()
    assert first.startswith("MOTIONLOOM_SERVER "), first
    return p


def test_exit_with_stdin_ends_the_service_when_the_pipe_closes():
    p = _start("--exit-with-stdin")
    p.stdin.close()
    assert p.wait(60) == 0
    assert "its parent process is gone" in p.stdout.read()

