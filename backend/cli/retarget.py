"""``python -m backend retarget SRC.bvh --to RIG.bvh --out OUT.bvh``: put a motion on another skeleton through the
same retarget pipeline the service runs (bone maps found automatically; override with --map)."""
from __future__ import annotations

import sys


def register(subparsers):
    p = subparsers.add_parser("retarget", help="retarget a motion onto another rig",
                              description="Retarget SRC (.bvh) onto the rig of --to (.bvh; .glb/.gltf once glTF "
                                          "rigs can be read) and write --out (.bvh on the target skeleton, or .json).")
    p.add_argument("source", help="source motion (.bvh, or canonical .json)")
    p.add_argument("--to", required=True, help="target rig: .bvh (its skeleton) or .glb/.gltf")
    p.add_argument("--out", required=True, help="output .bvh or .json")
    p.add_argument("--map", default=None, help="target bone map overrides as JSON: {\"left_knee\": \"Knee_L\"}")
    p.add_argument("--up", default="Y", choices=["Y", "Z"], help="up axis of a written BVH (default Y)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    import torch
    from pydantic import ValidationError

    from backend.pipelines import JobContext, RequestError, run_job
    from backend.pipelines.convert import canonical_motion_to_spec
    from backend.pipelines.files import is_canonical, load_motion_file, load_target_skeleton, off_rig, onto_rig, \
        print_progress, rig_spec_from_skeleton, write_result
    from backend.pipelines.rigs import RigBinding
    from backend.schema import RetargetRequest

    torch.set_num_threads(2)
    try:
        m = load_motion_file(args.source)
        target, target_sk = load_target_skeleton(args.to)
        if args.map:
            target = target.model_copy(update={"bone_map": json.loads(args.map)})
            target = type(target).model_validate(target.model_dump())
        if is_canonical(m.skeleton):
            source_rig, source = None, canonical_motion_to_spec(m, start_frame=0)
        else:
            source_rig = rig_spec_from_skeleton(m.skeleton, "source")
            sb = RigBinding(source_rig)
            source = sb.motion_to_spec(onto_rig(sb, m), 0, bones=list(source_rig.bones))
        req = RetargetRequest(source=source, source_rig=source_rig, target_rig=target, fps=m.fps)
        result = run_job(req, JobContext(on_progress=print_progress()))
        tb = RigBinding(target)
        out = tb.spec_to_motion(result.motions[0])
        if target_sk is not None:
            out = off_rig(tb, out, target_sk)
        write_result(result, out, args.out, up=args.up)
    except (ValidationError, RequestError, OSError, ValueError) as e:
        print(f"retarget: {e}", file=sys.stderr)
        return 2
    mapped = sum(1 for e in result.bone_map or [] if e.bone)
    print(json.dumps({"model": result.model, "frames": out.num_frames, "mapped_joints": mapped, **result.info}))
    return 0
