"""``python -m backend bench blender [--json]``: the Blender add-on's write speed and main-thread stalls.

Runs ``tests/bench/blender_bench.py`` in a child process with the same Python (the backend never imports bpy):
300 frames x 65 bones written into an action by the bulk path vs ``keyframe_insert`` per key, the longest pump
tick while a job streams vs the blocking main-thread call, and the longest main-thread step before a retarget starts
(source armature, BVH, FBX and glTF files) vs reading the source in one step (the files with Blender's importers in
the same Blender); every baseline measured in the same run.
"""
from __future__ import annotations

import subprocess
import sys

from ..paths import REPO as ROOT

SCRIPT = ROOT / "tests" / "bench" / "blender_bench.py"


def register(subparsers):
    p = subparsers.add_parser("blender", help="add-on action-write speed and main-thread stalls (needs bpy)",
                              description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5, help="repeats of the bulk write (median reported)")
    p.add_argument("--partials", type=int, default=10, help="partial results streamed by the generation job")
    p.add_argument("--real", choices=["auto", "yes", "no"], default="auto",
                   help="also stream an in-between from the real backend (auto: when the service is present)")
    p.add_argument("--backend-dir", default=str(ROOT), help="checkout whose backend serves the real run")
    p.set_defaults(func=run)


def run(args) -> int:
    cmd = [sys.executable, str(SCRIPT), "--frames", str(args.frames), "--repeats", str(args.repeats),
           "--partials", str(args.partials), "--real", args.real, "--backend-dir", args.backend_dir]
    if args.json:
        cmd.append("--json")
    return subprocess.call(cmd, cwd=ROOT)
