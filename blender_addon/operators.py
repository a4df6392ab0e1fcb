"""Operators: thin wrappers that start a task and report problems in plain words."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from . import channels, client, jobs, presets, tasks, wire

# errors that mean "the artist's input or setup needs fixing", shown as they are
EXPECTED = (channels.SceneError, wire.WireError, client.BackendError, RuntimeError)


def _armature(context):
    obj = context.active_object
    return obj if obj is not None and obj.type == "ARMATURE" else None


class _Starter:
    """Common execute: run ``self.start(context)``, turn expected errors into a report."""
    bl_options = {"REGISTER"}

    def execute(self, context):
        try:
            job = self.start(context)
        except EXPECTED as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"MotionLoom {job.label}: started")
        return {"FINISHED"}


class MOTIONLOOM_OT_generate(_Starter, bpy.types.Operator):
    """Generate a new action for the active armature from the prompt (the current action is kept)"""
    bl_idname = "motionloom.generate"
    bl_label = "Generate"

    @classmethod
    def poll(cls, context):
        return _armature(context) is not None and jobs.active() is None

    def start(self, context):
        return tasks.start_generate(context, _armature(context))


class MOTIONLOOM_OT_inbetween(_Starter, bpy.types.Operator):
    """Fill the frames between the keys of the active action (written when the job completes, one undo step)"""
    bl_idname = "motionloom.inbetween"
    bl_label = "In-between"

    @classmethod
    def poll(cls, context):
        obj = _armature(context)
        return obj is not None and obj.animation_data is not None and obj.animation_data.action is not None \
            and jobs.active() is None

    def start(self, context):
        return tasks.start_inbetween(context, _armature(context))


class MOTIONLOOM_OT_retarget(_Starter, bpy.types.Operator):
    """Transfer the source motion onto the selected armature as a new action"""
    bl_idname = "motionloom.retarget"
    bl_label = "Retarget"

    @classmethod
    def poll(cls, context):
        return _armature(context) is not None and jobs.active() is None

    def start(self, context):
        return tasks.start_retarget(context, _armature(context))


class MOTIONLOOM_OT_bone_map_auto(_Starter, bpy.types.Operator):
    """Ask the backend which bone of the active armature plays each canonical joint; the result is stored on the
    rig and can be edited"""
    bl_idname = "motionloom.bone_map_auto"
    bl_label = "Auto-Map Bones"

    @classmethod
    def poll(cls, context):
        return _armature(context) is not None and jobs.active() is None

    def start(self, context):
        return tasks.start_bone_map(context, _armature(context))


class MOTIONLOOM_OT_bone_map_clear(bpy.types.Operator):
    """Forget this rig's bone map (the backend then maps bones itself)"""
    bl_idname = "motionloom.bone_map_clear"
    bl_label = "Clear Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        obj = _armature(context)
        return obj is not None and len(obj.data.motionloom_bone_map) > 0

    def execute(self, context):
        _armature(context).data.motionloom_bone_map.clear()
        return {"FINISHED"}


class MOTIONLOOM_OT_connect(_Starter, bpy.types.Operator):
    """Check the backend: version, device and models"""
    bl_idname = "motionloom.connect"
    bl_label = "Check Connection"

    @classmethod
    def poll(cls, context):
        return jobs.active() is None

    def start(self, context):
        return tasks.start_connect(context)


class MOTIONLOOM_OT_backend_start(_Starter, bpy.types.Operator):
    """Start a local MotionLoom backend with the Python and folder set in the add-on preferences"""
    bl_idname = "motionloom.backend_start"
    bl_label = "Start Backend"

    @classmethod
    def poll(cls, context):
        return jobs.active() is None

    def start(self, context):
        return tasks.start_local_backend(context)


class MOTIONLOOM_OT_backend_stop(bpy.types.Operator):
    """Stop the local backend this add-on started"""
    bl_idname = "motionloom.backend_stop"
    bl_label = "Stop Backend"

    @classmethod
    def poll(cls, context):
        from . import backend_process
        return backend_process.current() is not None

    def execute(self, context):
        jobs.cancel()
        tasks.stop_local_backend()
        self.report({"INFO"}, "MotionLoom: local backend stopped")
        return {"FINISHED"}


class MOTIONLOOM_OT_cancel(bpy.types.Operator):
    """Cancel the running job; nothing is written"""
    bl_idname = "motionloom.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return jobs.active() is not None

    def execute(self, context):
        jobs.cancel()
        return {"FINISHED"}


class MOTIONLOOM_OT_target_add(bpy.types.Operator):
    """Add a joint target: the chosen joint reaches the active empty on the current frame"""
    bl_idname = "motionloom.target_add"
    bl_label = "Add Joint Target"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        s = context.scene.motionloom
        t = s.targets.add()
        obj = context.active_object
        if obj is not None and obj.type == "EMPTY":
            t.empty = obj
        t.frame = context.scene.frame_current
        s.targets_index = len(s.targets) - 1
        return {"FINISHED"}


class MOTIONLOOM_OT_target_remove(bpy.types.Operator):
    """Remove the selected joint target"""
    bl_idname = "motionloom.target_remove"
    bl_label = "Remove Joint Target"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return len(context.scene.motionloom.targets) > 0

    def execute(self, context):
        s = context.scene.motionloom
        s.targets.remove(s.targets_index)
        s.targets_index = max(0, min(s.targets_index, len(s.targets) - 1))
        return {"FINISHED"}


class MOTIONLOOM_OT_report(bpy.types.Operator):
    """Internal: puts a job's outcome into the Info log (timers cannot report themselves)"""
    bl_idname = "motionloom.report"
    bl_label = "MotionLoom Report"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[(x, x, "") for x in ("INFO", "WARNING", "ERROR")])
    message: StringProperty()

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


class MOTIONLOOM_OT_bone_map_save(bpy.types.Operator):
    """Save the active armature's bone map to a preset file (JSON)"""
    bl_idname = "motionloom.bone_map_save"
    bl_label = "Save Preset"
    filepath: StringProperty(subtype="FILE_PATH", default="", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        obj = _armature(context)
        return obj is not None and len(obj.data.motionloom_bone_map) > 0

    def execute(self, context):
        path = bpy.path.abspath(self.filepath or context.scene.motionloom.preset_path)
        try:
            n = presets.save_bone_map(_armature(context), path)
        except (channels.SceneError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"saved {n} bone map rows to {path}")
        return {"FINISHED"}


class MOTIONLOOM_OT_bone_map_load(bpy.types.Operator):
    """Load a bone map preset file onto the active armature (rows whose bone it lacks stay empty)"""
    bl_idname = "motionloom.bone_map_load"
    bl_label = "Load Preset"
    bl_options = {"REGISTER", "UNDO"}
    filepath: StringProperty(subtype="FILE_PATH", default="", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return _armature(context) is not None

    def execute(self, context):
        path = bpy.path.abspath(self.filepath or context.scene.motionloom.preset_path)
        try:
            n, missing = presets.load_bone_map(_armature(context), path)
        except channels.SceneError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        extra = f"; this rig has no bone {', '.join(map(repr, missing[:5]))}" if missing else ""
        self.report({"WARNING" if missing else "INFO"}, f"loaded {n} bone map rows from {path}{extra}")
        return {"FINISHED"}


class MOTIONLOOM_OT_take_use(bpy.types.Operator):
    """Make this take the armature's active action (the current action goes to a muted NLA track)"""
    bl_idname = "motionloom.take_use"
    bl_label = "Use Take"
    bl_options = {"REGISTER", "UNDO"}
    action: StringProperty(name="Action")

    @classmethod
    def poll(cls, context):
        return _armature(context) is not None and jobs.active() is None

    def execute(self, context):
        act = bpy.data.actions.get(self.action)
        try:
            if act is None:
                raise channels.SceneError(f"there is no action named '{self.action}'")
            presets.use_take(_armature(context), act)
        except channels.SceneError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


classes = (MOTIONLOOM_OT_bone_map_save, MOTIONLOOM_OT_bone_map_load, MOTIONLOOM_OT_take_use,
           MOTIONLOOM_OT_generate, MOTIONLOOM_OT_inbetween, MOTIONLOOM_OT_retarget, MOTIONLOOM_OT_bone_map_auto,
           MOTIONLOOM_OT_bone_map_clear, MOTIONLOOM_OT_connect, MOTIONLOOM_OT_backend_start,
           MOTIONLOOM_OT_backend_stop, MOTIONLOOM_OT_cancel, MOTIONLOOM_OT_target_add, MOTIONLOOM_OT_target_remove,
           MOTIONLOOM_OT_report)
