"""Motion files (BVH, FBX, glTF) read without a long step on Blender's main thread.

BVH files are parsed in a worker thread (:func:`read_bvh_steps`). FBX and glTF files need Blender's own importers,
which only run on a main thread, so :func:`read_import_steps` runs them in a Blender process of its own (the
artist's Blender only polls it once per tick): the child imports the file with :func:`import_motion_file`, reads
it with the add-on's own reading code and hands ``(RigInfo, wire.Motion, name)`` back in a ``.npz`` file."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import bpy
import numpy as np

from . import compat
from .channels import SceneError
from .key_read import rig_motion

_IMPORT_KINDS = ("objects", "armatures", "meshes", "actions", "materials", "images", "textures", "collections",
                 "cameras", "lights", "curves", "node_groups", "worlds")
MOTION_FILES = (".bvh", ".fbx", ".glb", ".gltf")
READ_TIMEOUT_S = 120.0  # a file Blender's importer has not read by then is given up, its reading process killed


def check_motion_file(path: str) -> None:
    """Refuse a path that does not exist or is not a motion file, at once (on the main thread)."""
    if not os.path.isfile(path):
        raise SceneError(f"the source file '{path}' does not exist")
    if os.path.splitext(path)[1].lower() not in MOTION_FILES:
        raise SceneError(f"cannot read motion from '{os.path.basename(path)}': use a .bvh, .fbx, .glb or .gltf "
                         "file")


def import_motion_file(path: str):
    """Import a BVH/FBX/glTF file with Blender's own importers, read its first animated armature as a rig-space
    motion, and remove everything the import created. Returns ``(RigInfo, wire.Motion, source name)``.

    One long main-thread step: the add-on runs it in a Blender process of its own (:func:`read_import_steps`)."""
    check_motion_file(path)
    ext = os.path.splitext(path)[1].lower()
    before = {k: {x.session_uid for x in getattr(bpy.data, k)} for k in _IMPORT_KINDS}
    selected = {o.name for o in bpy.context.view_layer.objects if o is not None and o.select_get()}
    scene = bpy.context.scene
    saved_range = (scene.frame_start, scene.frame_end, scene.frame_current)
    active = bpy.context.view_layer.objects.active
    try:
        _run_importer(path, ext)
        new_objs = [o for o in bpy.data.objects if o.session_uid not in before["objects"]]
        arms = [o for o in new_objs if o.type == "ARMATURE" and o.animation_data and o.animation_data.action]
        if not arms:
            raise SceneError(f"'{os.path.basename(path)}' holds no animated armature")
        arm = arms[0]
        action, slot = compat.assigned(arm)
        if compat.HAS_SLOTS and slot is None and len(action.slots):
            slot = action.slots[0]
        f0, f1 = (round(x) for x in action.frame_range)
        rig, motion = rig_motion(arm, action, slot, f0, f1)
        rig.name = os.path.splitext(os.path.basename(path))[0]
        return rig, motion, rig.name
    finally:
        new = [x for k in _IMPORT_KINDS for x in getattr(bpy.data, k) if x.session_uid not in before[k]]
        if new:
            bpy.data.batch_remove(new)
        # list first: on 4.2, select_set after a removal re-syncs the view layer under a running iterator (crash)
        for o in [o for o in bpy.context.view_layer.objects if o is not None]:
            o.select_set(o.name in selected)
        scene.frame_start, scene.frame_end = saved_range[:2]
        scene.frame_set(saved_range[2])
        if active is not None and active.name in bpy.data.objects:
            bpy.context.view_layer.objects.active = active


def _run_importer(path: str, ext: str) -> None:
    """Blender's importer for ``ext`` on ``path``; a file it refuses becomes a sentence naming the file."""
    try:
        if ext == ".bvh":
            _ensure_importer("IMPORT_ANIM_OT_bvh", "io_anim_bvh")
            bpy.ops.import_anim.bvh(filepath=path, rotate_mode="QUATERNION", update_scene_fps=False,
                                    update_scene_duration=False, use_fps_scale=True)
        elif ext == ".fbx":
            _ensure_importer("IMPORT_SCENE_OT_fbx", "io_scene_fbx")
            bpy.ops.import_scene.fbx(filepath=path)
        else:
            _ensure_importer("IMPORT_SCENE_OT_gltf", "io_scene_gltf2")
            bpy.ops.import_scene.gltf(filepath=path)
    except RuntimeError as e:  # the operator's report, e.g. "Error: Bad glTF: json error: ..."
        reason = str(e).strip().removeprefix("Error:").strip()
        raise SceneError(f"Blender's importer could not read '{os.path.basename(path)}': {reason}") from None


def _ensure_importer(op_type: str, module: str) -> None:
    if not hasattr(bpy.types, op_type):
        import addon_utils
        addon_utils.enable(module, default_set=False)
    if not hasattr(bpy.types, op_type):
        raise SceneError(f"Blender's importer '{module}' is not available; enable it in Preferences > Add-ons")


# ---------------------------------------------------------------------------------------------------- BVH
# BVH axes (Y up, facing +Z) into Blender's (Z up, facing -Y): what Blender's importer applies by default
_BVH_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def bvh_motion(path: str, start_frame: int = 1):
    """A BVH file as ``(RigInfo, wire.Motion, name)`` without creating any Blender data: parsed with Blender's own
    BVH parser (``io_anim_bvh.import_bvh.read_bvh``: plain Python and ``mathutils``, so this runs in a worker
    thread), on a world-aligned rig (identity rest rotations, heads at the rest joints, the way the backend reads
    BVH files), at the file's own frame rate. Same joints, axes and units as Blender's importer gives."""
    from io_anim_bvh import import_bvh
    from mathutils import Euler, Matrix

    from . import wire
    from .channels import lowest_height
    from .rig_read import RigInfo
    try:
        nodes, frame_time, _count = import_bvh.read_bvh(None, path, rotate_mode="QUATERNION", global_scale=1.0)
    except (OSError, ValueError, IndexError, KeyError) as e:
        raise SceneError(f"cannot read the BVH file '{os.path.basename(path)}': {e}") from None
    order = sorted(nodes.values(), key=lambda n: n.index)
    if not order:
        raise SceneError(f"the BVH file '{os.path.basename(path)}' has no joints")
    names = [n.name for n in order]
    index = {n: i for i, n in enumerate(names)}
    parents = [index[n.parent.name] if n.parent is not None else -1 for n in order]
    T = len(order[0].anim_data) - 1  # the parser's first row is a placeholder
    if T < 2:
        raise SceneError(f"the BVH file '{os.path.basename(path)}' holds fewer than two frames")
    if T > wire.MAX_FRAMES:
        raise SceneError(f"the BVH file '{os.path.basename(path)}' is {T} frames long; the limit is {wire.MAX_FRAMES}")
    C = _BVH_TO_BLENDER
    Cm = Matrix(C.tolist())
    rest = np.tile(np.eye(4), (len(order), 1, 1))
    rest[:, :3, 3] = [C @ np.array(n.rest_head_world) for n in order]
    tails = np.array([C @ np.array(n.rest_tail_world) for n in order])
    rot = np.empty((T, len(order), 4))
    located = []
    for j, n in enumerate(order):
        data = np.array(n.anim_data[1:], np.float64)  # (T,6): location, Euler angles (radians)
        euler_order = n.rot_order_str[::-1]
        for t in range(T):
            m = Cm @ Euler(data[t, 3:], euler_order).to_matrix() @ Cm.transposed()
            rot[t, j] = m.to_quaternion()
        if n.has_loc:
            located.append((j, (data[:, :3] - np.array(n.rest_head_local)) @ C.T))
    if not located or located[0][0] != 0:
        located.insert(0, (0, np.zeros((T, 3))))  # a root without position channels stays where it rests
    rot = rot[..., [1, 2, 3, 0]]  # WXYZ -> XYZW
    name = os.path.splitext(os.path.basename(path))[0]
    root = names[0]
    rig = RigInfo(name, names, parents, rest.astype(np.float32), tails.astype(np.float32), np.eye(4, dtype=np.float32),
                  [True] * len(names), root)
    loc = {j: v for j, v in located}
    rig.floor = lowest_height(rest, parents, rot[..., [3, 0, 1, 2]], loc, np.eye(4))
    fps = 1.0 / frame_time if frame_time else 30.0
    others = [(names[j], v) for j, v in located[1:]]
    motion = wire.Motion(names, parents, fps, int(start_frame), rot.astype(np.float32),
                         loc[0].astype(np.float32), "rig", root, [b for b, _ in others],
                         np.stack([v for _, v in others], 1).astype(np.float32) if others else None)
    if not np.all(np.isfinite(motion.rotations_xyzw)) or not np.all(np.isfinite(motion.root_translation)):
        raise SceneError(f"the BVH file '{os.path.basename(path)}' holds values that are not numbers")
    return rig, motion, name


class Background:
    """Run a bpy-free function in a daemon thread; the main thread polls ``done`` and takes ``result()``."""

    def __init__(self, fn, *args):
        import threading
        self._value, self._error = None, None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="motionloom-read", daemon=True)
        self._thread.start()

    def _run(self, fn, args):
        try:
            self._value = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread, raised there
            self._error = e

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self):
        if self._error is not None:
            if isinstance(self._error, SceneError):
                raise self._error
            raise SceneError(f"reading the file failed: {self._error!r}")
        return self._value


def read_bvh_steps(path: str, start_frame: int = 1):
    """Generator: :func:`bvh_motion` in a worker thread, the main thread only polling (one yield per tick)."""
    if not os.path.isfile(path):
        raise SceneError(f"the source file '{path}' does not exist")
    _ensure_importer("IMPORT_ANIM_OT_bvh", "io_anim_bvh")
    import io_anim_bvh.import_bvh  # noqa: F401  (imported here, on the main thread, before the worker uses it)
    job = Background(bvh_motion, path, start_frame)
    while not job.done:
        yield
    return job.result()


# ------------------------------------------------------------------------------------- FBX / glTF: a child Blender
_RESULT, _ERROR, _LOG = "motion.npz", "error.json", "blender.log"  # what the child leaves in its folder
# Run by the child: as the bpy module (``python -c``) the ``import bpy`` starts Blender, inside a Blender executable
# (``--python-expr``) bpy is already there. The add-on's folder is loaded as a package of its own without running
# its ``__init__`` (nothing is registered); the arguments after ``--`` are: that folder, the file, the output
# folder and the scene settings with the parent's process id (JSON).
_CHILD_CODE = """\
import importlib, sys, types
import bpy
args = sys.argv[sys.argv.index("--") + 1:]
pkg = types.ModuleType("motionloom_reader")
pkg.__path__ = [args[0]]
sys.modules[pkg.__name__] = pkg
importlib.import_module(pkg.__name__ + ".importers").child_main(args[1:])
"""


def read_import_steps(path: str, scene):
    """Generator (one yield per tick): :func:`import_motion_file` in a Blender process of its own, started on
    ``path`` with ``scene``'s frame rate, units and frame range, so it reads exactly what an import into ``scene``
    would, and nothing is made in this Blender. The main thread only polls the process; the result is loaded in a
    worker thread. Closing the generator (the job cancelled) kills the process; so does :data:`READ_TIMEOUT_S`.
    Returns ``(RigInfo, wire.Motion, name)``; the child's errors come back as the same ``SceneError``."""
    import shutil
    import tempfile
    import time
    check_motion_file(path)
    path, name = os.path.abspath(path), os.path.basename(path)  # the child runs in a folder of its own
    folder = tempfile.mkdtemp(prefix="motionloom-read-")
    proc = None
    try:
        proc = _start_child(path, folder, scene_settings(scene))
        t_end = time.monotonic() + READ_TIMEOUT_S
        while proc.poll() is None:
            if time.monotonic() > t_end:
                _stop(proc)
                raise SceneError(f"Blender's importer did not read '{name}' within {READ_TIMEOUT_S:g} s; reading "
                                 "it was stopped")
            yield
        job = Background(child_result, folder, name, proc.returncode)
        while not job.done:
            yield
        return job.result()
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


def scene_settings(scene) -> dict:
    """What of the artist's scene Blender's importers read: frame rate (glTF times become frames at it), unit scale
    (FBX and glTF), frame range (glTF's NLA strips)."""
    r, u = scene.render, scene.unit_settings
    return {"fps": r.fps, "fps_base": r.fps_base, "unit_system": u.system, "scale_length": u.scale_length,
            "frame_start": scene.frame_start, "frame_end": scene.frame_end, "frame_current": scene.frame_current}


def child_command(path: str, folder: str, settings: dict) -> list:
    """The reading process's command line: this Blender's executable in the background with factory settings, or,
    where this is the ``bpy`` module (no Blender executable: ``bpy.app.binary_path`` is empty), this Python."""
    here = os.path.dirname(os.path.abspath(__file__))
    args = ["--", here, path, folder, json.dumps({**settings, "parent_pid": os.getpid()})]
    if _as_module():
        return [sys.executable, "-c", _CHILD_CODE, *args]
    return [bpy.app.binary_path, "--background", "--factory-startup", "--python-exit-code", "1",
            "--python-expr", _CHILD_CODE, *args]


def _as_module() -> bool:
    """True inside the ``bpy`` module (``bpy.app.module`` where Blender has it; its ``binary_path`` is empty)."""
    return bool(getattr(bpy.app, "module", False)) or not bpy.app.binary_path


def _start_child(path: str, folder: str, settings: dict) -> subprocess.Popen:
    with open(os.path.join(folder, _LOG), "wb") as log:
        return subprocess.Popen(child_command(path, folder, settings), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=folder,
                                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def child_main(argv: list) -> None:
    """The reading process: the scene set up like the artist's, the file imported and read, the outcome saved in
    the output folder (``motion.npz``, or ``error.json`` with the sentence to show)."""
    path, folder, settings = argv[0], argv[1], json.loads(argv[2])
    _end_with_parent(settings["parent_pid"], folder)
    try:
        if _as_module():  # what --factory-startup gives a Blender executable
            bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = settings["fps"], settings["fps_base"]
        scene.unit_settings.system = settings["unit_system"]
        scene.unit_settings.scale_length = settings["scale_length"]
        scene.frame_start, scene.frame_end = settings["frame_start"], settings["frame_end"]
        scene.frame_set(settings["frame_current"])
        save_motion(os.path.join(folder, _RESULT), *import_motion_file(path))
    except SceneError as e:
        _write_error(folder, str(e))
    except Exception as e:  # noqa: BLE001 - every failure becomes the parent's sentence
        _write_error(folder, f"reading the file failed: {e!r}")


def _end_with_parent(parent: int, folder: str) -> None:
    """The reading process ends (and removes its folder) when the Blender that started it is gone: on POSIX an
    orphan is handed to another parent. Blender's importers are Python, so this thread gets its turns."""
    import shutil
    import threading
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(3)
    threading.Thread(target=watch, name="motionloom-parent-watch", daemon=True).start()


def _write_error(folder: str, message: str) -> None:
    with open(os.path.join(folder, _ERROR), "w", encoding="utf-8") as f:
        json.dump({"error": message}, f)


def child_result(folder: str, name: str, returncode: int):
    """The reading process's outcome (bpy-free: runs in a worker thread)."""
    err = os.path.join(folder, _ERROR)
    if os.path.isfile(err):
        with open(err, encoding="utf-8") as f:
            raise SceneError(json.load(f)["error"])
    result = os.path.join(folder, _RESULT)
    if returncode == 0 and os.path.isfile(result):
        return load_motion(result)
    try:
        with open(os.path.join(folder, _LOG), encoding="utf-8", errors="replace") as f:
            tail = [ln.strip() for ln in f.read().splitlines()[-200:] if ln.strip()][-3:]
    except OSError:
        tail = []
    raise SceneError(f"Blender could not read '{name}': its reading process ended with code {returncode}"
                     + (f" ({' | '.join(tail)})" if tail else ""))


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if dataclasses.is_dataclass(v):
        return {k: _plain(x) for k, x in dataclasses.asdict(v).items()}
    return v


def save_motion(path: str, rig, motion, name: str) -> None:
    """``(RigInfo, wire.Motion, name)`` into one ``.npz``: arrays as they are, everything else as JSON."""
    meta, arrays = {"name": name}, {}
    for part, obj in (("rig", rig), ("motion", motion)):
        meta[part] = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if isinstance(v, np.ndarray):
                arrays[f"{part}.{f.name}"] = v
            else:
                meta[part][f.name] = _plain(v)
    tmp = path + ".part.npz"
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load_motion(path: str):
    """:func:`save_motion`'s file back as ``(RigInfo, wire.Motion, name)``."""
    from . import wire
    from .rig_read import RigInfo
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        parts = {"rig": dict(meta["rig"]), "motion": dict(meta["motion"])}
        for key in z.files:
            if key != "meta":
                part, field = key.split(".", 1)
                parts[part][field] = z[key]
    parts["motion"]["properties"] = [wire.PoseBoneProperty(**p) for p in parts["motion"].get("properties", [])]
    return RigInfo(**parts["rig"]), wire.Motion(**parts["motion"]), meta["name"]
