"""Generate the rig Blender's bundled Rigify makes from its Basic Human metarig and save it to a .blend.

    python make_rigify_rig.py OUT.blend

Run in a subprocess by the Blender tests (so Rigify is never enabled in the test process; and ``bpy`` 4.5 hangs at
interpreter exit after a Rigify generation, so this script leaves with ``os._exit`` once the file is written).
"""
import contextlib
import io
import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="ml_bl_"))
import bpy


def main(out: str) -> None:
    import addon_utils
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_basic_human_metarig_add()
    with contextlib.redirect_stdout(io.StringIO()):
        bpy.ops.pose.rigify_generate()
    bpy.data.libraries.write(out, {bpy.data.objects["rig"]}, fake_user=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
        code = 0
    except Exception as e:  # noqa: BLE001 - a clear line for the test's assertion message
        print(f"rigify generation failed: {e!r}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
