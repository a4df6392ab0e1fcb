"""The extension installs, registers and unregisters cleanly; every panel draws against real RNA; the small
operators run."""
import sys

import bpy
import pytest
from bl_helpers import ROOT, load_character

CLASSES = ("MOTIONLOOM_OT_generate", "MOTIONLOOM_OT_inbetween", "MOTIONLOOM_OT_retarget", "MOTIONLOOM_OT_cancel",
           "MOTIONLOOM_OT_connect", "MOTIONLOOM_OT_backend_start", "MOTIONLOOM_OT_backend_stop",
           "MOTIONLOOM_OT_bone_map_auto", "MOTIONLOOM_OT_bone_map_clear", "MOTIONLOOM_PT_main",
           "MOTIONLOOM_PT_backend", "MOTIONLOOM_PT_generate", "MOTIONLOOM_PT_inbetween", "MOTIONLOOM_PT_retarget",
           "MOTIONLOOM_UL_bone_map")


def _registered():
    return {c for c in CLASSES if hasattr(bpy.types, c)}


def test_register_unregister_cycles_cleanly():
    import addon_utils

    from blender_addon import jobs
    for _ in range(2):
        mod = addon_utils.enable("blender_addon", default_set=True, handle_error=lambda e: (_ for _ in ()).throw(e))
        assert mod is not None
        assert _registered() == set(CLASSES)
        assert hasattr(bpy.types.Scene, "motionloom") and hasattr(bpy.types.Armature, "motionloom_bone_map")
        assert any(getattr(h, "__module__", "") == "blender_addon" for h in bpy.app.handlers.load_pre)
        assert bpy.context.scene.motionloom.prompt  # the settings exist on the scene
        addon_utils.disable("blender_addon", default_set=True)
        assert _registered() == set()
        assert not hasattr(bpy.types.Scene, "motionloom") and not hasattr(bpy.types.Armature, "motionloom_bone_map")
        assert not any(getattr(h, "__module__", "") == "blender_addon" for h in bpy.app.handlers.load_pre)
        assert not bpy.app.timers.is_registered(jobs.pump)


def test_built_zip_installs_as_an_extension(tmp_path):
    """The zip from build.py goes through Blender's own installer ("Install from Disk") and enables."""
    sys.path.insert(0, str(ROOT))
    import addon_utils

    import build
    zip_path = build.build(tmp_path, verbose=False)
    assert bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    name = "bl_ext.user_default.motionloom"
    try:
        assert name in bpy.context.preferences.addons
        assert _registered() == set(CLASSES)
        assert sys.modules[name].__file__.endswith("__init__.py")
        prefs = bpy.context.preferences.addons[name].preferences
        assert prefs.host == "127.0.0.1" and prefs.mode == "LOCAL"
    finally:
        addon_utils.disable(name, default_set=True)
    assert _registered() == set()


class _Layout:
    """Records what a panel draws; checks every property and operator against real RNA as it goes."""

    def __init__(self, log):
        self.log = log
        self.alert = False
        self.enabled = True

    def _child(self, *a, **k):
        return _Layout(self.log)

    row = column = box = split = column_flow = grid_flow = _child

    def prop(self, data, name, **k):
        assert name in data.bl_rna.properties, f"{data} has no property {name!r}"
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **k):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties
        self.log.append(("prop_search", name))

    def operator(self, idname, **k):
        mod, op = idname.split(".")
        assert hasattr(bpy.types, f"{mod.upper()}_OT_{op}"), idname
        self.log.append(("operator", idname))
        return type("OperatorProperties", (), {})()

    def label(self, text="", **k):
        self.log.append(("label", text))

    def progress(self, factor=0.0, type="BAR", text=""):
        assert 0.0 <= factor <= 1.0
        self.log.append(("progress", text))

    def template_list(self, listtype, list_id, data, prop, active_data, active_prop, **k):
        assert hasattr(bpy.types, listtype) and prop in data.bl_rna.properties
        assert active_prop in active_data.bl_rna.properties
        self.log.append(("list", prop))

    def separator(self, **k):
        pass


def _draw_all(context):
    from blender_addon import ui
    log = []
    for cls in (ui.MOTIONLOOM_PT_main, ui.MOTIONLOOM_PT_backend, ui.MOTIONLOOM_PT_generate,
                ui.MOTIONLOOM_PT_inbetween, ui.MOTIONLOOM_PT_retarget, ui.MOTIONLOOM_PT_takes):
        cls.draw(type("P", (), {"layout": _Layout(log)})(), context)
    return log


def test_panels_draw_with_and_without_a_job(addon):
    from blender_addon import jobs, ui
    arm = load_character()
    log = _draw_all(bpy.context)
    ops = {x[1] for x in log if x[0] == "operator"}
    assert {"motionloom.generate", "motionloom.inbetween", "motionloom.retarget", "motionloom.connect",
            "motionloom.bone_map_auto", "motionloom.backend_start"} <= ops
    assert ("list", "motionloom_bone_map") in log and ("prop", "prompt") in log
    # a running job shows a progress bar and a Cancel button; a failed one shows its message
    job = jobs.Job("generate", "Generate", progress=0.4, message="step 2 of 5")
    jobs._active = job
    try:
        log = _draw_all(bpy.context)
        assert ("progress", "Generate: step 2 of 5") in log and ("operator", "motionloom.cancel") in log
    finally:
        jobs._active = None
    job.state, job.message = "error", "cannot reach the MotionLoom backend at http://127.0.0.1:9: nothing is listening"
    jobs._last = job
    log = _draw_all(bpy.context)
    text = " ".join(x[1] for x in log if x[0] == "label")
    assert "cannot reach the MotionLoom backend" in text and "nothing is listening" in text
    # the bone map list row draws against the armature's bones
    it = arm.data.motionloom_bone_map.add()
    it.canonical, it.bone, it.confidence = "pelvis", "mixamorig:Hips", 0.9
    rlog = []
    ui.MOTIONLOOM_UL_bone_map.draw_item(None, bpy.context, _Layout(rlog), arm.data, it, 0, arm.data,
                                        "motionloom_bone_map_index")
    assert ("prop_search", "bone") in rlog and ("label", "0.90") in rlog


def test_small_operators_run(addon):
    arm = load_character()
    s = bpy.context.scene.motionloom
    empty = bpy.data.objects.new("hand target", None)
    bpy.context.scene.collection.objects.link(empty)
    bpy.context.view_layer.objects.active = empty
    bpy.context.scene.frame_current = 12
    assert bpy.ops.motionloom.target_add() == {"FINISHED"}
    assert len(s.targets) == 1 and s.targets[0].empty == empty and s.targets[0].frame == 12
    assert bpy.ops.motionloom.target_remove() == {"FINISHED"} and len(s.targets) == 0
    bpy.context.view_layer.objects.active = arm
    arm.data.motionloom_bone_map.add().canonical = "pelvis"
    assert bpy.ops.motionloom.bone_map_clear() == {"FINISHED"} and len(arm.data.motionloom_bone_map) == 0
    assert not bpy.ops.motionloom.cancel.poll()  # nothing runs
    assert bpy.ops.motionloom.report(level="INFO", message="hello") == {"FINISHED"}
    # Start Backend with no Python configured: refused with words, nothing started
    from blender_addon import backend_process, preferences
    preferences.get().python = ""
    with pytest.raises(RuntimeError, match="set the backend's Python"):
        bpy.ops.motionloom.backend_start()
    assert backend_process.current() is None
    # no backend running and no port: Check Connection says what to do
    preferences.get().port = 0
    with pytest.raises(RuntimeError, match="no local backend is running: press Start"):
        bpy.ops.motionloom.connect()
