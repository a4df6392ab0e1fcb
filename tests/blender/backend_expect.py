"""Where the backend puts a rig's bones for a rig-space result: its own forward kinematics of the channels.

``world_heads(rig, motion)`` takes the wire dicts (a ``RigSpec`` as the add-on sends it, a rig-space ``MotionSpec``)
and returns ``{bone: (T, 3) world head positions in metres}`` from
:meth:`backend.pipelines.rigs.RigBinding.world`. The Blender tests compare these with the heads Blender evaluates.

It needs the backend's venv (torch); Blender tests that run in a ``bpy``-only venv call it as a script with
``MOTIONLOOM_BACKEND_PYTHON``:

    python backend_expect.py rig.json motion.json out.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def world_heads(rig: dict, motion: dict) -> dict:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from backend.pipelines.rigs import RigBinding
    from backend.schema import MotionSpec, RigSpec
    binding = RigBinding(RigSpec.model_validate(rig))
    names, _, P = binding.world(binding.spec_to_pose(MotionSpec.model_validate(motion)))
    return {n: P[:, i] for i, n in enumerate(names)}


if __name__ == "__main__":
    rig_path, motion_path, out_path = sys.argv[1:4]
    heads = world_heads(json.loads(Path(rig_path).read_text()), json.loads(Path(motion_path).read_text()))
    Path(out_path).write_text(json.dumps({b: np.asarray(v).tolist() for b, v in heads.items()}))
