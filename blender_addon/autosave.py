"""Blender's autosave is paused while a job runs, so no autosave file holds its preview.

An autosave writes Blender's undo memory, not the scene through the save handlers (:mod:`.preview` takes the
preview off before a normal save), so an undo step pushed while a job streamed would carry the preview into the
autosave file. There is no API to keep data out of it; instead the preference "Auto Save Temporary Files" is off
from the job's start to its end (done, failed, cancelled, or the add-on unregistered) and then put back. The
preferences are not marked changed by this (Blender would otherwise save them on quit with autosave off), and an
artist who switches autosave themselves during the job keeps their choice. A file that still holds a preview (from
an older version, or a crash's ``quit.blend``) is repaired on load (:func:`.preview.repair_orphans`).
"""
from __future__ import annotations

import bpy

_paused = False  # True while this module switched autosave off


def pause() -> None:
    """Switch autosave off for a job (a no-op when it is off already or paused)."""
    global _paused
    prefs = bpy.context.preferences
    fp = prefs.filepaths
    if _paused or not fp.use_auto_save_temporary_files:
        return
    dirty = prefs.is_dirty
    fp.use_auto_save_temporary_files = False
    prefs.is_dirty = dirty
    _paused = True


def resume() -> None:
    """Put autosave back after a job (only if this module switched it off and the artist has not switched it on)."""
    global _paused
    if not _paused:
        return
    _paused = False
    prefs = bpy.context.preferences
    if not prefs.filepaths.use_auto_save_temporary_files:
        dirty = prefs.is_dirty
        prefs.filepaths.use_auto_save_temporary_files = True
        prefs.is_dirty = dirty
