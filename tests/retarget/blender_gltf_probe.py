"""Run inside real Blender (the venv's bpy 5.0.1) in a subprocess: import a glTF character with Blender's own
importer and report where its bones' heads are, in the world, at some frames of its animation.

    python blender_gltf_probe.py request.json result.json

request: {"gltf": path, "fps": scene frame rate to import at, "frames": [scene frames], "bones": [names]}
result: {"armature": name, "actions": [names], "heads": {bone: (F,3)}, "frame_range": [start, end]}

This file only talks to Blender; what it checks (``backend.retarget.gltf.write_animation``) never imports bpy.
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


def main(req_path, out_path):
    req = json.loads(Path(req_path).read_text())
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = int(req["fps"])
    scene.render.fps_base = 1.0
    with contextlib.redirect_stdout(io.StringIO()):
        bpy.ops.import_scene.gltf(filepath=req["gltf"])
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    action = arm.animation_data.action if arm.animation_data else None
    heads = {b: [] for b in req["bones"]}
    for f in req["frames"]:
        scene.frame_set(f)
        for b in req["bones"]:
            heads[b].append(list(arm.matrix_world @ arm.pose.bones[b].head))
    out = {"armature": arm.name, "actions": [a.name for a in bpy.data.actions],
           "active_action": action.name if action else None,
           "frame_range": list(action.frame_range) if action else None, "heads": heads}
    Path(out_path).write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
