"""Add-on preferences: how to start a local backend, or which remote backend to use."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from . import backend_process, client


class MOTIONLOOM_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    mode: EnumProperty(
        name="Backend", default="LOCAL",
        items=[("LOCAL", "Local", ("Run the MotionLoom backend on this computer (started from the Backend panel or "
                                  "by hand)")),
               ("REMOTE", "Remote", "Use a MotionLoom backend on another machine, e.g. a GPU box")])
    python: StringProperty(name="Backend Python", subtype="FILE_PATH",
                           description="Python of the MotionLoom venv that has torch installed "
                                       "(e.g. /path/to/motionloom/.venv/bin/python)")
    workdir: StringProperty(name="Backend Folder", subtype="DIR_PATH",
                            description="Folder that contains the MotionLoom 'backend' package (the repository)")
    host: StringProperty(name="Host", default="127.0.0.1", description="Address the local backend listens on")
    port: IntProperty(name="Port", default=0, min=0, max=65535,
                      description="Port of the local backend; 0 picks a free port when the add-on starts it")
    token: StringProperty(name="Token", subtype="PASSWORD", description="Bearer token of the local backend (optional)")
    remote_url: StringProperty(name="Remote URL", default="http://gpu-box:8000",
                               description="Address of a remote MotionLoom backend")
    remote_token: StringProperty(name="Remote Token", subtype="PASSWORD",
                                 description="Bearer token the remote backend expects")
    stream_timeout: FloatProperty(name="Stream Timeout", default=600.0, min=5.0, max=36000.0, unit="TIME_ABSOLUTE",
                                  description="Give up on a job when the backend sends nothing for this long")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "mode", expand=True)
        col = layout.column()
        if self.mode == "LOCAL":
            col.prop(self, "python")
            col.prop(self, "workdir")
            row = col.row()
            row.prop(self, "host")
            row.prop(self, "port")
            col.prop(self, "token")
        else:
            col.prop(self, "remote_url")
            col.prop(self, "remote_token")
            if not bpy.app.online_access:
                col.label(text="Remote backends need Preferences > System > Network > Allow Online Access",
                          icon="ERROR")
        layout.prop(self, "stream_timeout")


def get(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def log_path() -> str:
    """Where the local backend's output is kept: the extension's user folder (``logs/backend.log``), or the
    temporary folder when the add-on runs as a legacy add-on (no extension folder)."""
    import os
    import tempfile
    try:
        folder = bpy.utils.extension_path_user(__package__, path="logs", create=True)
    except (ValueError, RuntimeError, TypeError):
        folder = os.path.join(tempfile.gettempdir(), "motionloom")
    return os.path.join(folder, "backend.log")


def backend_url(context=None) -> str:
    prefs = get(context)
    if prefs is None:
        raise client.BackendError("the MotionLoom add-on is not enabled")
    if prefs.mode == "REMOTE":
        return prefs.remote_url.strip()
    proc = backend_process.current()
    if proc is not None and proc.url and proc.running:
        return proc.url
    if prefs.port == 0:
        raise client.BackendError("no local backend is running: press Start in the Backend panel (or set the port "
                                  "of a backend you started yourself)")
    return f"http://{prefs.host}:{prefs.port}"


def backend(context=None) -> client.Backend:
    """A client for the configured backend; refuses non-loopback addresses while Blender is offline."""
    prefs = get(context)
    url = backend_url(context)
    token = prefs.remote_token if prefs.mode == "REMOTE" else prefs.token
    if not client.is_loopback(url) and not bpy.app.online_access:
        raise client.BackendError(f"{url} is not on this computer and Blender is in offline mode: allow it in "
                                  "Preferences > System > Network > Allow Online Access")
    return client.Backend(url, token, stream_timeout=prefs.stream_timeout)


classes = (MOTIONLOOM_AP_preferences,)
