"""MotionLoom for Blender: text-to-motion, in-betweening and retargeting through a local MotionLoom backend.

Modules, one responsibility each: ``wire`` (the request/response schema, stdlib + numpy), ``client`` (HTTP + Server-
Sent Events in worker threads), ``backend_process`` (start/stop a local backend), ``jobs`` (the main-thread pump),
``channels`` (bpy-free rotation-mode and quaternion maths, FK), ``rig_read`` and ``key_read`` (rigs, keys, source
actions in), ``action_write`` and ``inbetween_write`` (actions out), ``preview`` (partial results and the exact way
back), ``trajectories``, ``importers`` (BVH/FBX/glTF), ``presets`` (bone-map files), ``compat`` (Blender 4.2 to 5.x
action API), ``tasks`` (what each button does), ``operators``, ``ui``, ``properties``, ``preferences``.
"""
from __future__ import annotations

import bpy
from bpy.app.handlers import persistent

from . import backend_process, jobs, operators, preferences, preview, properties, tasks, ui

_classes = preferences.classes + properties.classes + operators.classes + ui.classes


@persistent
def _on_load_pre(*_args):
    """Opening another file: drop the running job (its objects are about to disappear); nothing is written."""
    jobs.shutdown()


@persistent
def _after_undo(*_args):
    """An undo step pushed while a job streamed holds its preview: undo it from its own record, then show the
    running job's last partial again (if a job still runs)."""
    preview.repair_orphans()
    jobs.show_preview_again()


@persistent
def _on_load_post(*_args):
    """A file saved by an autosave during a job (or by an older version) may hold a preview: undo it."""
    preview.repair_orphans()


@persistent
def _on_save_pre(*_args):
    """Nothing of a running job goes into the file: the armature gets its own action and pose back first."""
    jobs.take_preview_off()
    preview.repair_orphans()


@persistent
def _on_save_post(*_args):
    jobs.show_preview_again()


HANDLERS = (("load_pre", _on_load_pre), ("load_post", _on_load_post), ("undo_post", _after_undo),
            ("redo_post", _after_undo), ("save_pre", _on_save_pre), ("save_post", _on_save_post))


def register():
    for cls in _classes:
        bpy.utils.register_class(cls)
    properties.register_props()
    for name, fn in HANDLERS:
        getattr(bpy.app.handlers, name).append(fn)


def unregister():
    jobs.shutdown()
    backend_process.stop()
    tasks.CONNECTION.update(state="unknown", url="", version="", device="", models=[], error="")
    for name, fn in HANDLERS:
        if fn in getattr(bpy.app.handlers, name):
            getattr(bpy.app.handlers, name).remove(fn)
    properties.unregister_props()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
