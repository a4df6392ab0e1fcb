"""``python -m backend demo --out DIR``: the headless Blender demo (``demo/run_demo.py``).

The backend package never imports bpy, so the demo runs in a child process with the same Python (the project venv
holds both bpy and torch); that script starts this backend through the add-on, exactly as an artist would.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..paths import REPO as ROOT

SCRIPT = ROOT / "demo" / "run_demo.py"


def register(subparsers):
    p = subparsers.add_parser("demo", help="run the headless Blender demo (writes a .blend and previews)",
                              description="Load two bundled characters in headless Blender, start the backend, "
                                          "in-between three key poses, generate a motion from a prompt along a "
                                          "curve, retarget it onto the second character, save a .blend and render "
                                          "previews.")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--backend-url", default=None, help="use a running backend instead of starting one")
    p.add_argument("--no-render", action="store_true", help="skip the preview renders")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        import importlib.util
        if importlib.util.find_spec("bpy") is None:
            print("the demo needs the bpy module (pip install -r requirements-dev.txt)", file=sys.stderr)
            return 2
    except (ImportError, ValueError):
        pass
    cmd = [sys.executable, str(SCRIPT), "--out", str(Path(args.out).resolve()), "--backend-dir", str(ROOT)]
    if args.backend_url:
        cmd += ["--backend-url", args.backend_url]
    if args.no_render:
        cmd.append("--no-render")
    return subprocess.call(cmd, cwd=ROOT)
