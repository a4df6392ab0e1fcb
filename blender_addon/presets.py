"""Bone-map presets (a JSON file: save a rig's map, load it onto another rig of the same family) and the history
of takes (every action MotionLoom made for a rig, newest first, marked on the action itself)."""
from __future__ import annotations

import json
import os
import time

import bpy

from . import compat
from .channels import SceneError

FORMAT = "motionloom-bone-map"
TAKE = "motionloom_take"  # JSON on an action MotionLoom made: {"rig", "task", "what", "model", "time"}


# ------------------------------------------------------------------------------------------------ bone maps
def save_bone_map(obj, path: str) -> int:
    """Write the rig's bone map to ``path`` (JSON); returns the number of rows."""
    rows = [{"canonical": it.canonical, "bone": it.bone, "confidence": round(float(it.confidence), 3)}
            for it in obj.data.motionloom_bone_map]
    if not rows:
        raise SceneError(f"'{obj.name}' has no bone map to save: run Auto-Map Bones first")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "version": 1, "rig": obj.name, "map": rows}, f, indent=1)
    return len(rows)


def load_bone_map(obj, path: str) -> tuple[int, list]:
    """Replace the rig's bone map with the preset in ``path``. Rows whose bone this rig lacks are kept with no
    bone (so the artist sees which joints need a bone). Returns ``(rows, missing bone names)``; a broken file
    changes nothing."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise SceneError(f"the bone map preset '{path}' does not exist") from None
    except (OSError, ValueError) as e:
        raise SceneError(f"cannot read the bone map preset '{path}': {e}") from None
    rows = data.get("map") if isinstance(data, dict) and data.get("format") == FORMAT else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("canonical"), str)
                                             and isinstance(r.get("bone", ""), str) for r in rows):
        raise SceneError(f"'{path}' is not a MotionLoom bone map preset")
    bones = obj.data.bones
    missing = [r["bone"] for r in rows if r.get("bone") and r["bone"] not in bones]
    coll = obj.data.motionloom_bone_map
    coll.clear()
    for r in rows:
        it = coll.add()
        it.canonical = r["canonical"]
        it.bone = r["bone"] if r.get("bone") in bones else ""
        it.confidence = min(1.0, max(0.0, float(r.get("confidence", 1.0)))) if it.bone else 0.0
    return len(rows), missing


# ---------------------------------------------------------------------------------------------------- takes
def mark_take(action, rig_name: str, task: str, what: str, model: str) -> None:
    action[TAKE] = json.dumps({"rig": rig_name, "task": task, "what": what[:200], "model": model,
                               "time": time.strftime("%Y-%m-%d %H:%M")})


def takes(obj) -> list:
    """``[(action, info dict)]`` MotionLoom made for ``obj``, newest first."""
    out = []
    for act in bpy.data.actions:
        text = act.get(TAKE)
        if text is None:
            continue
        try:
            info = json.loads(text)
        except ValueError:
            continue
        if info.get("rig") == obj.name:
            out.append((act, info))
    return sorted(out, key=lambda x: (x[1].get("time", ""), x[0].name), reverse=True)


def use_take(obj, action) -> None:
    """Make a take the rig's active action (the current one goes to a muted NLA track, as a new result does)."""
    from .tasks import STASH_TRACK
    if TAKE not in action.keys():
        raise SceneError(f"'{action.name}' is not a MotionLoom take")
    current, current_slot = compat.assigned(obj)
    if current is not None and current != action:
        compat.push_to_nla(obj, current, current_slot, STASH_TRACK, current.name, current.frame_range[0], mute=True)
    slot = action.slots[0] if compat.HAS_SLOTS and len(action.slots) else None
    compat.assign(obj, action, slot)
