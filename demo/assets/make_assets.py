"""Rebuild the demo characters in this folder from the CC0 originals in ``../shared/data/anny_characters``.

The originals are 4 MB each (82k-vertex skins); the demo and the tests only need the rig and a recognisable body, so
the skin is welded at the importer's seams and decimated (collapse, ratio 0.12) and the glTF importer's bone-shape ``Icosphere`` dropped. Rigs, rest
poses, bone names and skin weights are unchanged. Run from the repository root:

    .venv/bin/python demo/assets/make_assets.py

Licence: CC0 (see LICENSE.md here); made with Blender's glTF importer/exporter from bpy 5.0.1.
"""
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="ml-assets-"))
import bpy

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data" / "anny_characters"
ASSETS = {"anny_mixamo_adult_m.glb": "mixamo_adult.glb", "anny_cmu_mb_heavy_f.glb": "cmu_heavy_f.glb"}
RATIO = 0.12


def convert(src: Path, dst: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(src))
    for o in list(bpy.data.objects):
        if o.type == "MESH" and o.parent is None and not o.vertex_groups:
            bpy.data.objects.remove(o)  # the importer's bone display shape
    for o in bpy.data.objects:
        if o.type != "MESH":
            continue
        bpy.context.view_layer.objects.active = o
        import bmesh
        bm = bmesh.new()
        bm.from_mesh(o.data)
        bmesh.ops.remove_doubles(bm, verts=bm.verts, dist=1e-5)  # the importer splits vertices at UV seams
        bm.to_mesh(o.data)
        bm.free()
        mod = o.modifiers.new("decimate", "DECIMATE")
        mod.ratio = RATIO
        bpy.ops.object.modifier_move_to_index(modifier=mod.name, index=0)
        bpy.ops.object.modifier_apply(modifier=mod.name)
        print(f"{src.name}: {o.name} -> {len(o.data.vertices)} vertices")
    bpy.ops.export_scene.gltf(filepath=str(dst), export_format="GLB", export_animations=False,
                              export_skins=True, export_apply=False, export_yup=True)
    print(f"wrote {dst} ({dst.stat().st_size / 1024:.0f} KiB)")


def main() -> int:
    if not SHARED.is_dir():
        print(f"originals not found at {SHARED}", file=sys.stderr)
        return 1
    for src, dst in ASSETS.items():
        convert(SHARED / src, HERE / dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
