"""Blender tests run inside the real ``bpy`` module (5.0.1 from PyPI), in the same pytest process as the rest.

``bpy`` is imported once at collection, with Blender's user folders sandboxed in a temp dir (so nothing is written
to ~/.config/blender). Every test starts from factory settings; the ``addon`` fixture enables the add-on after the
reset (a reset disables add-ons).
"""
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="motionloom-bl-user-"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy
import pytest

ADDON = "blender_addon"


@pytest.fixture(autouse=True)
def clean_blender():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    if "blender_addon.jobs" in sys.modules:
        sys.modules["blender_addon.jobs"].shutdown()


@pytest.fixture
def addon():
    import addon_utils
    mod = addon_utils.enable(ADDON, default_set=True, handle_error=_raise)
    assert mod is not None and hasattr(bpy.types, "MOTIONLOOM_OT_generate")
    yield mod
    addon_utils.disable(ADDON, default_set=True, handle_error=_raise)


def _raise(ex):
    raise ex
