"""``python -m backend inbetween IN.bvh --keys 0,30,60 --out OUT.bvh``: keep the listed frames of a motion as keys
and fill the frames between them with the active in-betweener (the service's code path, without a server).

Because the input has real frames between the keys, the command also prints how far the fill is from them (mean
joint rotation error in degrees and mean joint position error in centimetres over the filled frames).
"""
from __future__ import annotations

import sys


def register(subparsers):
    p = subparsers.add_parser("inbetween", help="fill the frames between chosen keys of a motion",
                              description="Keep frames --keys of IN as keys, in-between the rest, write OUT "
                                          "(.bvh on IN's skeleton, or .json).")
    p.add_argument("input", help="input .bvh (any skeleton) or canonical .json")
    p.add_argument("--keys", required=True, help="comma-separated 0-based frame numbers, e.g. 0,30,60")
    p.add_argument("--out", required=True, help="output .bvh or .json")
    p.add_argument("--up", default="Y", choices=["Y", "Z"], help="up axis of a written BVH (default Y)")
    p.add_argument("--model", default=None, help="a registered in-betweener by name (default: the active one, the "
                                                 "learned model when its weights are present; or slerp-baseline)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    import numpy as np
    import torch
    from pydantic import ValidationError

    from ..motion.rotations import np_quat_angle
    from ..pipelines import JobContext, RequestError, run_job
    from ..pipelines.convert import spec_to_canonical_motion
    from ..pipelines.files import (
        is_canonical,
        load_motion_file,
        print_progress,
        rig_spec_from_skeleton,
        world_aligned_channels,
        world_aligned_motion,
        write_result,
    )
    from ..schema import Array, InbetweenRequest, KeySpec

    torch.set_num_threads(2)
    try:
        try:
            frames = sorted({int(k) for k in args.keys.split(",") if k.strip()})
        except ValueError:
            raise RequestError(f"--keys must be comma-separated frame numbers, got {args.keys!r}") from None
        m = load_motion_file(args.input)
        if not frames or frames[0] < 0 or frames[-1] >= m.num_frames:
            raise RequestError(f"--keys must lie in 0..{m.num_frames - 1} (the input has {m.num_frames} frames)")
        bones = list(m.skeleton.names)
        if is_canonical(m.skeleton):
            rig, root_bone = None, None
            rot, loc = m.rotations, m.root_pos
        else:  # a BVH: its skeleton is the rig (world-aligned), its motion that rig's channels
            rig, root_bone = rig_spec_from_skeleton(m.skeleton, "input"), bones[0]
            rot, loc = world_aligned_channels(m)
        keys = KeySpec(frames=frames, bones=bones, rotations=Array.from_numpy(rot[frames]),
                       root_translation=Array.from_numpy(loc[frames]), root_bone=root_bone)
        req = InbetweenRequest(keys=keys, rig=rig, fps=m.fps, start_frame=frames[0])
        result = run_job(req, JobContext(on_progress=print_progress()), model=args.model)
        spec = result.motions[0]
        out = spec_to_canonical_motion(spec) if rig is None else world_aligned_motion(spec, m.skeleton)
        write_result(result, out, args.out, up=args.up)
    except (ValidationError, RequestError, OSError, ValueError, KeyError) as e:
        print(f"inbetween: {e}", file=sys.stderr)
        return 2
    truth = m.slice(frames[0], frames[-1] + 1)
    filled = np.setdiff1d(np.arange(frames[0], frames[-1] + 1), frames) - frames[0]
    report = {"model": result.model, "frames": out.num_frames, "keys": frames, "filled_frames": len(filled)}
    if len(filled):
        ang = np.degrees(np_quat_angle(out.rotations[filled], truth.rotations[filled]))
        pos = np.linalg.norm(out.positions()[filled] - truth.positions()[filled], axis=-1)
        report.update(rotation_error_deg=round(float(ang.mean()), 3), position_error_cm=round(100 * float(pos.mean()), 3))
    print(json.dumps(report))
    return 0
