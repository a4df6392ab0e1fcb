"""MotionLoom for Blender: text-to-motion, in-betweening and retargeting through a local MotionLoom backend.

Modules, one responsibility each: ``wire`` (the request/response schema, stdlib + numpy), ``client`` (HTTP + Server-
Sent Events in worker threads), ``backend_process`` (start/stop a local backend), ``jobs`` (the main-thread pump),
``channels`` (bpy-free rotation-mode and quaternion maths), ``rig_read`` and ``key_read`` (rigs, keys, source actions
in), ``action_write`` and ``inbetween_write`` (actions out), ``trajectories``, ``importers`` (BVH/FBX/glTF), ``compat`` (Blender 4.2 to 5.x action API), ``tasks`` (what each
button does), ``operators``, ``ui``, ``properties``, ``preferences``.
"""
from __future__ import annotations

import bpy
from bpy.app.handlers import persistent

from . import backend_process, jobs, operators, preferences, properties, tasks, ui

_classes = preferences.classes + properties.classes + operators.classes + ui.classes


@persistent
def _on_load_pre(*_args):
    """Opening another file: drop the running job (its objects are about to disappear); nothing is written."""
    jobs.shutdown()


def register():
    for cls in _classes:
        bpy.utils.register_class(cls)
    properties.register_props()
    bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister():
    jobs.shutdown()
    backend_process.stop()
    tasks.CONNECTION.update(state="unknown", url="", version="", device="", models=[], error="")
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    properties.unregister_props()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
