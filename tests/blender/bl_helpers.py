"""Scene builders and backend launchers shared by the Blender tests."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np
from mathutils import Euler, Quaternion

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "demo" / "assets"
FAKE = Path(__file__).with_name("fake_backend.py")
PY = sys.executable


def load_character(name: str = "mixamo_adult.glb", rename: str | None = None):
    """Import a bundled character; returns its armature (the importer's bone-shape Icosphere is removed)."""
    before = {o.name for o in bpy.data.objects}
    bpy.ops.import_scene.gltf(filepath=str(ASSETS / name))
    new = [bpy.data.objects[n] for n in {o.name for o in bpy.data.objects} - before]
    for o in new:
        if o.type == "MESH" and o.parent is None and not o.vertex_groups:
            bpy.data.objects.remove(o)
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o.name not in before)
    if rename:
        arm.name = rename
    bpy.context.view_layer.objects.active = arm
    arm.select_set(True)
    return arm


POSE_BONES = ("mixamorig:Hips", "mixamorig:Spine", "mixamorig:LeftArm", "mixamorig:RightArm", "mixamorig:LeftUpLeg",
              "mixamorig:RightLeg", "mixamorig:Head")


def key_poses(arm, frames=(1, 15, 30), bones=POSE_BONES, action_name="artist", euler_bones=()):
    """Key a few distinct poses the way an artist does (``keyframe_insert``): rotations of ``bones`` and the hips'
    location on each frame. Bones in ``euler_bones`` use XYZ Euler rotation."""
    rng = np.random.default_rng(7)
    for b in euler_bones:
        arm.pose.bones[b].rotation_mode = "XYZ"
    for k, f in enumerate(frames):
        for b in bones:
            pb = arm.pose.bones[b]
            axis = rng.normal(size=3)
            angle = 0.25 + 0.35 * k
            q = Quaternion(axis / np.linalg.norm(axis), angle)
            if pb.rotation_mode == "QUATERNION":
                pb.rotation_quaternion = q
                pb.keyframe_insert("rotation_quaternion", frame=f, group=b)
            else:
                pb.rotation_euler = q.to_euler(pb.rotation_mode)
                pb.keyframe_insert("rotation_euler", frame=f, group=b)
        hips = arm.pose.bones[bones[0]]
        hips.location = (0.0, 0.1 * k, 0.3 * k)
        hips.keyframe_insert("location", frame=f, group=bones[0])
    arm.animation_data.action.name = action_name
    return arm.animation_data.action


def activate(obj) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)


def select_all_keys(arm, select=True):
    from blender_addon import compat
    action, slot = compat.assigned(arm)
    for fc in compat.fcurves(action, slot):
        n = len(fc.keyframe_points)
        fc.keyframe_points.foreach_set("select_control_point", np.full(n, select))


def run_operator(op: str, timeout: float):
    """Run ``bpy.ops.motionloom.<op>`` and pump its job to the end (timers do not fire in the bpy module); the job
    must finish as done."""
    from blender_addon import jobs
    assert getattr(bpy.ops.motionloom, op)() == {"FINISHED"}
    job = jobs.run_until_idle(timeout)
    assert job.state == "done", job.message
    return job


def use_backend(url: str, token: str = "") -> None:
    """Point the add-on's preferences at a running backend."""
    from blender_addon import preferences
    prefs = preferences.get()
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    prefs.mode = "LOCAL"
    prefs.host, prefs.port, prefs.token = host, int(port), token


class Server:
    """A backend process (the fake, or the real ``python -m backend serve``) with its URL."""

    def __init__(self, cmd: list[str], cwd: Path = ROOT, timeout: float = 120.0):
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        t_end = time.monotonic() + timeout
        self.url = None
        self.output = []
        while time.monotonic() < t_end:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("MOTIONLOOM_SERVER "):
                self.url = line.split(" ", 1)[1].strip()
                break
        if self.url is None:
            self.stop()
            raise RuntimeError("backend did not start:\n" + "".join(self.output[-20:]))

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def fake_backend(*args: str):
    srv = Server([PY, str(FAKE), "--port", "0", *args])
    try:
        use_backend(srv.url)
        yield srv
    finally:
        srv.stop()


# the backend checkout the integration tests start (default: this repository; set MOTIONLOOM_BACKEND_DIR to test
# the add-on against another checkout of the backend)
BACKEND_DIR = Path(os.environ.get("MOTIONLOOM_BACKEND_DIR", ROOT))
# the Python that runs the backend (default: this one; set MOTIONLOOM_BACKEND_PYTHON when Blender's tests run in a
# venv without torch, e.g. a bpy 4.5 venv, against the project's backend venv)
BACKEND_PY = os.environ.get("MOTIONLOOM_BACKEND_PYTHON", PY)


def real_backend_cmd() -> list[str]:
    return [BACKEND_PY, "-m", "backend", "serve", "--port", "0", "--threads", "1"]


def dense_values(fc, frames):
    return np.array([fc.evaluate(f) for f in frames])


def euler_to_quat(e, mode="XYZ"):
    return np.array(Euler(e, mode).to_quaternion())
