"""Run inside real Blender (the venv's bpy 5.0.1) in a subprocess: build or import a character, key the pose
channels the backend computed, evaluate, and report where bones end up.

    python blender_pose_probe.py request.json result.json

request: {"setup": "rigify" | {"fbx": path} | {"gltf": path},
          "bones": [...], "rotations_wxyz": (T,B,4) nested lists (Blender order, converted by the caller),
          "locations": {bone: (T,3)}, "properties": {bone: {prop: value}}, "dump": [bone names]}
result: {"heads": {bone: (T,3)}, "tails": {...} world space, "rest": {"bones", "parents", "rest_matrices",
         "tails", "matrix_world"} of the armature as Blender has it, "armature": name}

This file only talks to Blender; the math under test lives in ``backend/retarget`` and never imports bpy.
"""
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="ml_bl_"))
import bpy


def build(setup):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    quiet = contextlib.redirect_stdout(io.StringIO())
    if setup == "rigify":
        import addon_utils
        addon_utils.enable("rigify", default_set=True)
        bpy.ops.object.armature_basic_human_metarig_add()
        with quiet:
            bpy.ops.pose.rigify_generate()
        return bpy.data.objects["rig"]
    with quiet:
        if "fbx" in setup:
            bpy.ops.import_scene.fbx(filepath=setup["fbx"])
        else:
            bpy.ops.import_scene.gltf(filepath=setup["gltf"])
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    if arm.animation_data is not None:  # imported clips would override our keys
        arm.animation_data.action = None
    return arm


def rest_of(obj):
    bones = list(obj.data.bones)
    idx = {b.name: i for i, b in enumerate(bones)}
    return {"bones": [b.name for b in bones], "parents": [idx[b.parent.name] if b.parent else -1 for b in bones],
            "rest_matrices": [[list(r) for r in b.matrix_local] for b in bones],
            "tails": [list(b.tail_local) for b in bones], "matrix_world": [list(r) for r in obj.matrix_world]}


def main(req_path, out_path):
    req = json.loads(Path(req_path).read_text())
    obj = build(req["setup"])
    bpy.context.view_layer.objects.active = obj
    pb = obj.pose.bones
    for bone, props in req.get("properties", {}).items():
        for k, v in props.items():
            pb[bone][k] = v
    bones = req.get("bones", [])
    rot = req.get("rotations_wxyz", [])
    locs = req.get("locations", {})
    for b in bones:
        pb[b].rotation_mode = "QUATERNION"
    T = len(rot)
    dump = req.get("dump", [])
    mw = obj.matrix_world
    heads = {b: [] for b in dump}
    tails = {b: [] for b in dump}
    for t in range(max(T, 1)):
        for k, b in enumerate(bones):
            pb[b].rotation_quaternion = rot[t][k]  # WXYZ: Blender's order
        for b, v in locs.items():
            pb[b].location = v[t]
        bpy.context.view_layer.update()
        for b in dump:
            heads[b].append(list(mw @ pb[b].head))
            tails[b].append(list(mw @ pb[b].tail))
    res = {"heads": heads, "tails": tails, "rest": rest_of(obj), "armature": obj.name}
    Path(out_path).write_text(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
