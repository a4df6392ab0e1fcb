"""``python -m backend generate "a person walks forward" --frames 120 --out walk.bvh``: text-to-motion without a
server, through the same pipeline (``backend.pipelines.run_job``) the service uses."""
from __future__ import annotations

import sys


def register(subparsers):
    p = subparsers.add_parser("generate", help="text to motion, written as BVH or wire JSON",
                              description="Generate a motion from a prompt with the active text-to-motion model "
                                          "(see GET /v1/models) and write it as .bvh (canonical skeleton) or .json.")
    p.add_argument("prompt")
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variations", type=int, default=1, help="with a .bvh output, variation k > 0 is written as "
                                                             "NAME_k.bvh")
    p.add_argument("--trajectory", default=None, help="a .json file with a list of [x, y, z] points (metres, Z up)")
    p.add_argument("--untimed", action="store_true", help="the trajectory is a path, not one point per frame")
    p.add_argument("--model", default=None, help="a registered text-to-motion model by name (default: the active "
                                                 "one, the learned model when its weights are present; or "
                                                 "retrieval-baseline)")
    p.add_argument("--out", required=True, help="output .bvh or .json")
    p.add_argument("--up", default="Y", choices=["Y", "Z"], help="up axis of a written BVH (default Y)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    from pathlib import Path

    import numpy as np
    import torch
    from pydantic import ValidationError

    from ..pipelines import JobContext, RequestError, run_job
    from ..pipelines.convert import spec_to_canonical_motion
    from ..pipelines.files import print_progress, write_result
    from ..schema import Array, Text2MotionRequest

    torch.set_num_threads(2)
    try:
        traj = None
        if args.trajectory:
            traj = Array.from_numpy(np.asarray(json.loads(Path(args.trajectory).read_text()), np.float32))
        req = Text2MotionRequest(prompt=args.prompt, frames=args.frames, fps=args.fps, seed=args.seed,
                                 num_variations=args.variations, trajectory=traj, trajectory_timed=not args.untimed)
        result = run_job(req, JobContext(seed=args.seed, on_progress=print_progress()), model=args.model)
        out = Path(args.out)
        for k, spec in enumerate(result.motions):
            path = out if k == 0 else out.with_name(f"{out.stem}_{k}{out.suffix}")
            write_result(result, spec_to_canonical_motion(spec), path, up=args.up)
            if out.suffix.lower() == ".json":
                break
            print(f"wrote {path}", file=sys.stderr)
    except (ValidationError, RequestError, OSError, ValueError) as e:
        print(f"generate: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"model": result.model, **result.info}))
    return 0
