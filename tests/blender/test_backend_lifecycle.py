"""The local backend's life is tied to Blender's and the panel tells the truth about it (issue 15, item 5): the
service exits when Blender dies, a dead backend is not shown as connected, a failed start says the real exit code
and what the backend printed, and the output is kept in a log file."""
import os
import subprocess
import sys
import textwrap
import time

import bpy
from bl_helpers import BACKEND_DIR, BACKEND_PY, ROOT, fake_backend, key_poses, load_character, select_all_keys
from test_register import _draw_all


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie is gone (nobody reaped it yet)
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, limit: float = 60.0) -> bool:
    t_end = time.monotonic() + limit
    while time.monotonic() < t_end:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return False


def test_backend_exits_when_blender_is_killed(tmp_path):
    """A stand-in for Blender starts the real service the add-on's way, then dies by SIGKILL (a crash: no
    unregister, no cleanup). The service notices its closed stdin and exits."""
    parent = tmp_path / "blender_stand_in.py"
    parent.write_text(textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from blender_addon.backend_process import LocalBackend
        b = LocalBackend({BACKEND_PY!r}, {str(BACKEND_DIR)!r}, port=0, log_path={str(tmp_path / 'backend.log')!r})
        b.start().wait_ready(120)
        print(b.proc.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "bl"))
    p = subprocess.run([sys.executable, str(parent)], capture_output=True, text=True, timeout=180, env=env, check=False)
    assert p.returncode == -9, p.stderr[-2000:]
    pid = int(p.stdout.split()[-1])
    gone = _wait_gone(pid)
    if not gone:
        os.kill(pid, 9)
    assert gone, "the backend outlived the process that started it"
    assert "MOTIONLOOM_SERVER http://127.0.0.1:" in (tmp_path / "backend.log").read_text()


def test_failed_start_says_the_exit_code_and_the_output(tmp_path):
    from blender_addon.backend_process import LocalBackend, ProcessError
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "__init__.py").write_text("")
    (tmp_path / "backend" / "__main__.py").write_text("import sys\nprint('boom: torch is not installed')\n"
                                                      "sys.exit(3)\n")
    log = tmp_path / "logs" / "backend.log"
    b = LocalBackend(sys.executable, str(tmp_path), log_path=str(log)).start()
    try:
        b.wait_ready(60)
    except ProcessError as e:
        msg = str(e)
    else:
        raise AssertionError("the start did not fail")
    assert "exited with code 3 before it was ready" in msg and "boom: torch is not installed" in msg
    assert str(log) in msg
    text = log.read_text()
    assert "boom: torch is not installed" in text and "# exited with code 3" in text
    assert b.died() == f"the local backend exited with code 3 (log: {log})"


def test_panel_stops_saying_connected_when_the_local_backend_dies(addon):
    from blender_addon import backend_process, jobs, preferences, tasks
    prefs = preferences.get()
    prefs.python, prefs.workdir, prefs.port = BACKEND_PY, str(BACKEND_DIR), 0
    assert bpy.ops.motionloom.backend_start() == {"FINISHED"}
    job = jobs.run_until_idle(180)
    assert job.state == "done", job.message
    proc = backend_process.current()
    try:
        labels = " ".join(x[1] for x in _draw_all(bpy.context) if x[0] == "label")
        assert f"Connected: {proc.url}" in labels and f"Log: {proc.log_path}" in labels
        proc.proc.kill()
        proc.proc.wait(30)
        labels = " ".join(x[1] for x in _draw_all(bpy.context) if x[0] == "label")
        assert "Connected:" not in labels and "Not connected" in labels
        assert "the local backend exited with code -9" in labels
        assert "MOTIONLOOM_SERVER" in labels  # the log's last lines are shown
        with open(proc.log_path) as f:
            assert "MOTIONLOOM_SERVER" in f.read()
    finally:
        backend_process.stop()
        tasks.CONNECTION.update(state="unknown", url="", error="")


def test_a_job_that_loses_the_backend_ends_connected(addon):
    from blender_addon import jobs, tasks
    arm = load_character()
    key_poses(arm)
    select_all_keys(arm)
    with fake_backend("--partials", "3", "--die-after", "3", "--step-delay", "0.2"):
        assert bpy.ops.motionloom.connect() == {"FINISHED"}
        assert jobs.run_until_idle(30).state == "done"
        assert tasks.CONNECTION["state"] == "connected"
        bpy.ops.motionloom.generate()
        job = jobs.run_until_idle(30)
    assert job.state == "error" and job.connection_lost
    assert tasks.CONNECTION["state"] == "error" and "stopped in the middle of the job" in tasks.CONNECTION["error"]
    tasks.CONNECTION.update(state="unknown", url="", error="")


def test_panel_notices_a_backend_that_stops_answering(addon):
    """A backend the add-on did not start (remote, or started by hand) that goes away while idle: the panel's
    periodic health check (in a thread) turns "Connected" into the reason."""
    from blender_addon import jobs, tasks
    with fake_backend() as srv:
        assert bpy.ops.motionloom.connect() == {"FINISHED"}
        assert jobs.run_until_idle(30).state == "done"
        assert tasks.CONNECTION["state"] == "connected"
        tasks._health["at"] = 0.0
        tasks.refresh_connection()  # a check against the live backend: still connected
        check = tasks._health["check"]
        while not check.call.done:
            time.sleep(0.01)
        assert tasks.refresh_connection()["state"] == "connected"
    assert srv.proc.poll() is not None
    try:
        tasks._health["at"] = 0.0  # do not wait the 5 s between checks
        t_end = time.monotonic() + 30
        while tasks.refresh_connection()["state"] == "connected" and time.monotonic() < t_end:
            time.sleep(0.05)
        assert tasks.CONNECTION["state"] == "error"
        assert "the backend stopped answering" in tasks.CONNECTION["error"]
        labels = " ".join(x[1] for x in _draw_all(bpy.context) if x[0] == "label")
        assert "Not connected" in labels and "stopped answering" in labels
    finally:
        tasks.CONNECTION.update(state="unknown", url="", error="")
