"""The sidebar panel (View3D > Sidebar > MotionLoom): job status on top, one sub-panel per task."""
from __future__ import annotations

import bpy

from . import backend_process, jobs, preferences, presets, tasks


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "MotionLoom"


def _armature(context):
    obj = context.active_object
    return obj if obj is not None and obj.type == "ARMATURE" else None


def draw_job_status(layout) -> None:
    """Progress bar + Cancel while a job runs; the last outcome (errors in words) afterwards."""
    job = jobs.last()
    if job is None:
        return
    box = layout.box()
    if job.running:
        row = box.row(align=True)
        row.progress(factor=job.progress, type="BAR", text=f"{job.label}: {job.message}")
        row.operator("motionloom.cancel", text="Cancel", icon="CANCEL")
        return
    icon = {"done": "CHECKMARK", "error": "ERROR", "cancelled": "CANCEL"}.get(job.state, "INFO")
    col = box.column(align=True)
    lines = _wrap(f"{job.label}: {job.message}", 48)
    col.label(text=lines[0], icon=icon)
    for line in lines[1:6]:
        col.label(text=line)


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return lines + [cur] if cur else lines or [""]


def draw_backend_log(layout, expanded: bool) -> None:
    """The local backend's log file and, when something is wrong, its last lines."""
    proc = backend_process.current()
    if proc is None:
        return
    box = layout.box()
    if proc.log_path:
        box.label(text=f"Log: {proc.log_path}", icon="TEXT")
    if expanded or not proc.running:
        for line in proc.tail(8).splitlines()[-8:]:
            box.label(text=line[:90] or " ")


def draw_model_chooser(layout, settings, task: str, attr: str, only_if_choice: bool = False) -> None:
    """The task's model dropdown (filled after Check Connection); with ``only_if_choice`` it shows only when the
    backend offers more than one model for the task, or one was chosen before."""
    from . import properties
    if only_if_choice and len(properties.model_choices(task, getattr(settings, attr))) <= 2:
        return
    layout.prop(settings, attr + "_choice", text="Model")


class MOTIONLOOM_PT_main(_Panel, bpy.types.Panel):
    bl_label = "MotionLoom"

    def draw(self, context):
        draw_job_status(self.layout)


class MOTIONLOOM_PT_backend(_Panel, bpy.types.Panel):
    bl_label = "Backend"
    bl_parent_id = "MOTIONLOOM_PT_main"

    def draw(self, context):
        layout = self.layout
        prefs = preferences.get(context)
        c = tasks.refresh_connection()
        col = layout.column(align=True)
        if c["state"] == "connected":
            col.label(text=f"Connected: {c['url']}", icon="LINKED")
            col.label(text=f"Version {c['version']} on {c['device']}")
            for m in c["models"][:8]:
                name = m.get("name", "?") if isinstance(m, dict) else str(m)
                kind = m.get("kind", "") if isinstance(m, dict) else ""
                task = m.get("task", "") if isinstance(m, dict) else ""
                col.label(text=f"{task}: {name} ({kind})", icon="DOT")
        elif c["state"] in ("checking", "starting"):
            col.label(text="Starting the backend..." if c["state"] == "starting" else "Checking...", icon="TIME")
        else:
            col.label(text="Not connected", icon="UNLINKED")
            for line in _wrap(c["error"], 48)[:4] if c["error"] else []:
                col.label(text=line)
        draw_backend_log(layout, c["state"] != "connected")
        layout.operator("motionloom.connect", icon="FILE_REFRESH")
        if prefs is not None and prefs.mode == "LOCAL":
            row = layout.row(align=True)
            proc = backend_process.current()
            if proc is not None and proc.running:
                row.operator("motionloom.backend_stop", icon="PAUSE")
            else:
                row.operator("motionloom.backend_start", icon="PLAY")
        if prefs is not None:
            box = layout.box()
            box.prop(prefs, "mode", expand=True)
            if prefs.mode == "REMOTE":
                box.prop(prefs, "remote_url", text="URL")
                box.prop(prefs, "remote_token", text="Token")
            else:
                box.prop(prefs, "python", text="Python")
                box.prop(prefs, "workdir", text="Folder")
                row = box.row(align=True)
                row.prop(prefs, "host", text="")
                row.prop(prefs, "port", text="Port")
                box.prop(prefs, "token", text="Token")


class MOTIONLOOM_UL_targets(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.prop(item, "joint_choice", text="")
        row.prop(item, "empty", text="")
        row.prop(item, "frame", text="")


class MOTIONLOOM_PT_generate(_Panel, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "MOTIONLOOM_PT_main"

    def draw(self, context):
        layout = self.layout
        s = context.scene.motionloom
        layout.prop(s, "prompt", text="")
        row = layout.row(align=True)
        row.prop(s, "duration_unit", text="")
        row.prop(s, "duration_seconds" if s.duration_unit == "SECONDS" else "duration_frames", text="")
        row = layout.row(align=True)
        row.prop(s, "seed")
        row.prop(s, "variations")
        row = layout.row(align=True)
        row.prop(s, "invention_custom", text="")
        sub = row.row(align=True)
        sub.enabled = s.invention_custom
        sub.prop(s, "invention", slider=True)
        layout.prop(s, "trajectory")
        layout.label(text="Joint Targets")
        row = layout.row()
        row.template_list("MOTIONLOOM_UL_targets", "", s, "targets", s, "targets_index", rows=2)
        col = row.column(align=True)
        col.operator("motionloom.target_add", text="", icon="ADD")
        col.operator("motionloom.target_remove", text="", icon="REMOVE")
        draw_model_chooser(layout, s, "text2motion", "generate_model")
        layout.prop(s, "apply_mode", expand=True)
        if _armature(context) is None:
            layout.label(text="Select an armature", icon="INFO")
        layout.operator("motionloom.generate", icon="PLAY")


class MOTIONLOOM_PT_inbetween(_Panel, bpy.types.Panel):
    bl_label = "In-between"
    bl_parent_id = "MOTIONLOOM_PT_main"

    def draw(self, context):
        layout = self.layout
        s = context.scene.motionloom
        layout.prop(s, "inbetween_bones", expand=True)
        layout.prop(s, "inbetween_range", expand=True)
        draw_model_chooser(layout, s, "inbetween", "inbetween_model")
        obj = _armature(context)
        if obj is None:
            layout.label(text="Select an armature", icon="INFO")
        elif obj.animation_data is None or obj.animation_data.action is None:
            layout.label(text="The armature has no action", icon="INFO")
        layout.operator("motionloom.inbetween", icon="IPO_BEZIER")


class MOTIONLOOM_UL_bone_map(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        split = row.split(factor=0.38)
        split.label(text=item.canonical)
        right = split.row(align=True)
        right.prop_search(item, "bone", data, "bones", text="")
        sub = right.row()
        sub.alert = bool(item.bone) and item.confidence < 0.5
        sub.label(text=f"{item.confidence:.2f}")


class MOTIONLOOM_PT_retarget(_Panel, bpy.types.Panel):
    bl_label = "Retarget"
    bl_parent_id = "MOTIONLOOM_PT_main"

    def draw(self, context):
        layout = self.layout
        s = context.scene.motionloom
        layout.prop(s, "source_type", expand=True)
        if s.source_type == "ARMATURE":
            layout.prop(s, "source_armature", text="Source")
        else:
            layout.prop(s, "source_file", text="File")
        row = layout.row(align=True)
        row.prop(s, "retarget_in_place")
        row.prop(s, "retarget_use_range")
        layout.prop(s, "retarget_pose_as_rest")
        if s.retarget_use_range:
            row = layout.row(align=True)
            row.prop(s, "retarget_frame_start")
            row.prop(s, "retarget_frame_end")
        row = layout.row(align=True)
        row.prop(s, "retarget_reference", text="Reference")
        if s.retarget_reference == "FRAME":
            row.prop(s, "retarget_reference_frame", text="")
        draw_model_chooser(layout, s, "retarget", "retarget_model", only_if_choice=True)
        layout.prop(s, "apply_mode", expand=True)
        obj = _armature(context)
        layout.label(text=f"Target: {obj.name}" if obj else "Target: select an armature", icon="ARMATURE_DATA")
        layout.operator("motionloom.retarget", icon="MOD_ARMATURE")
        if obj is None:
            return
        arm = obj.data
        box = layout.box()
        row = box.row()
        row.label(text="Bone Map")
        row.prop(arm, "motionloom_use_bone_map", text="Use")
        box.template_list("MOTIONLOOM_UL_bone_map", "", arm, "motionloom_bone_map", arm,
                          "motionloom_bone_map_index", rows=6)
        row = box.row(align=True)
        row.operator("motionloom.bone_map_auto", icon="AUTOMERGE_ON")
        row.operator("motionloom.bone_map_clear", text="", icon="X")
        box.prop(s, "preset_path", text="Preset")
        row = box.row(align=True)
        row.operator("motionloom.bone_map_save", icon="EXPORT")
        row.operator("motionloom.bone_map_load", icon="IMPORT")


class MOTIONLOOM_PT_takes(_Panel, bpy.types.Panel):
    bl_label = "Takes"
    bl_parent_id = "MOTIONLOOM_PT_main"

    def draw(self, context):
        layout = self.layout
        obj = _armature(context)
        if obj is None:
            layout.label(text="Select an armature", icon="INFO")
            return
        history = presets.takes(obj)
        if not history:
            layout.label(text="No takes yet: generated and retargeted actions appear here")
        active = obj.animation_data.action if obj.animation_data else None
        for act, info in history[:12]:
            row = layout.row(align=True)
            icon = "PLAY" if act == active else "ACTION"
            row.label(text=f"{info.get('time', '')} {info.get('task', '')}: {act.name}", icon=icon)
            op = row.operator("motionloom.take_use", text="", icon="CHECKMARK")
            op.action = act.name


classes = (MOTIONLOOM_PT_main, MOTIONLOOM_PT_backend, MOTIONLOOM_UL_targets, MOTIONLOOM_PT_generate,
           MOTIONLOOM_PT_inbetween, MOTIONLOOM_UL_bone_map, MOTIONLOOM_PT_retarget, MOTIONLOOM_PT_takes)
