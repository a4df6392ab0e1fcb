"""Convert every action of every armature in an FBX file to BVH with Blender (bpy module), for the corpus build.

Run as a separate process: ``python backend/data/blender_fbx_to_bvh.py IN.fbx OUT_DIR`` (by :func:`backend.data.sources.fbx_to_bvh`; never imported: the backend does not import bpy); prints one JSON line per written
file ({"armature", "action", "bvh", "frames", "fps"}). The backend never imports bpy; ``backend/data/sources.py``
calls this script in a subprocess and caches its output.
"""
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="ml_bl_user_"))
import bpy


def main(src: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=src, automatic_bone_orientation=False)
    scene = bpy.context.scene
    arms = [o for o in scene.objects if o.type == "ARMATURE"]
    actions = list(bpy.data.actions)
    for arm in arms:
        ad = arm.animation_data or arm.animation_data_create()
        for act in actions:
            ad.action = act
            if getattr(act, "slots", None) and len(act.slots):
                ad.action_slot = act.slots[0]
            f0, f1 = (round(v) for v in act.frame_range)
            if f1 <= f0:
                continue
            bpy.context.view_layer.objects.active = arm
            for o in scene.objects:
                o.select_set(o == arm)
            name = act.name.split("|")[-1].replace(" ", "_")
            path = out / f"{Path(src).stem}__{arm.name}__{name}.bvh"
            bpy.ops.export_anim.bvh(filepath=str(path), frame_start=f0, frame_end=f1, rotate_mode="NATIVE",
                                    root_transform_only=False, global_scale=1.0)
            print(json.dumps({"armature": arm.name, "action": act.name, "bvh": str(path), "frames": f1 - f0 + 1,
                              "fps": scene.render.fps / scene.render.fps_base}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
