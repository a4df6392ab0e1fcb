"""Motion files (BVH, FBX, glTF) read with Blender's own importers; everything the import made is removed again."""
from __future__ import annotations

import bpy
import numpy as np

from . import compat
from .channels import SceneError
from .key_read import rig_motion

_IMPORT_KINDS = ("objects", "armatures", "meshes", "actions", "materials", "images", "textures", "collections",
                 "cameras", "lights", "curves", "node_groups", "worlds")


def import_motion_file(path: str):
    """Import a BVH/FBX/glTF file with Blender's own importers, read its first animated armature as a rig-space
    motion, and remove everything the import created. Returns ``(RigInfo, wire.Motion, source name)``."""
    import os
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise SceneError(f"the source file '{path}' does not exist")
    before = {k: {x.session_uid for x in getattr(bpy.data, k)} for k in _IMPORT_KINDS}
    selected = {o.name for o in bpy.context.view_layer.objects if o is not None and o.select_get()}
    scene = bpy.context.scene
    saved_range = (scene.frame_start, scene.frame_end, scene.frame_current)
    active = bpy.context.view_layer.objects.active
    try:
        if ext == ".bvh":
            _ensure_importer("IMPORT_ANIM_OT_bvh", "io_anim_bvh")
            bpy.ops.import_anim.bvh(filepath=path, rotate_mode="QUATERNION", update_scene_fps=False,
                                    update_scene_duration=False, use_fps_scale=True)
        elif ext == ".fbx":
            _ensure_importer("IMPORT_SCENE_OT_fbx", "io_scene_fbx")
            bpy.ops.import_scene.fbx(filepath=path)
        elif ext in (".glb", ".gltf"):
            _ensure_importer("IMPORT_SCENE_OT_gltf", "io_scene_gltf2")
            bpy.ops.import_scene.gltf(filepath=path)
        else:
            raise SceneError(f"cannot read motion from '{os.path.basename(path)}': use a .bvh, .fbx, .glb or .gltf "
                             "file")
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
    import os

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
    import os
    if not os.path.isfile(path):
        raise SceneError(f"the source file '{path}' does not exist")
    _ensure_importer("IMPORT_ANIM_OT_bvh", "io_anim_bvh")
    import io_anim_bvh.import_bvh  # noqa: F401  (imported here, on the main thread, before the worker uses it)
    job = Background(bvh_motion, path, start_frame)
    while not job.done:
        yield
    return job.result()
