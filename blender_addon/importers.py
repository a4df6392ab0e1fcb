"""Motion files (BVH, FBX, glTF) read with Blender's own importers; everything the import made is removed again."""
from __future__ import annotations

import bpy

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
        f0, f1 = (int(round(x)) for x in action.frame_range)
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
