"""``python -m backend retarget SRC.bvh --to RIG.glb --out OUT.glb``: put a motion on another character through the
same retarget pipeline the service runs (bone maps found automatically; override with --map).

``--to`` takes anything :func:`backend.retarget.rig_files.load_rig` reads: ``.glb``/``.gltf``/``.vrm`` characters,
``.json`` rig dumps (what the add-on sends) and ``.bvh`` skeletons. ``--out``:

* ``.glb``/``.gltf`` (glTF targets): the target file with the retargeted animation added (a rotation channel on
  every joint node, translation on the hips and any bone moved by location), mesh, skin and materials kept;
* ``.bvh``: the target skeleton (a BVH target keeps its file's joint order) with the result, metres, ``--up`` up;
* ``.json``: the wire ``JobResult`` (rig channels, bone map with confidences, numbers).

``--reference`` (auto, rest, tpose or a frame) says in which pose a BVH source stands like a T-pose
(:mod:`backend.retarget.reference`), ``--source-up`` its up axis. The printed report names the reference used, the
source's unit scale and up axis and both characters' heights, and warns about heights outside 0.3-3 m.
"""
from __future__ import annotations

import sys


def register(subparsers):
    p = subparsers.add_parser("retarget", help="retarget a motion onto another rig",
                              description="Retarget SRC (.bvh or canonical .json) onto the rig of --to (.glb, .gltf, "
                                          ".vrm, .json rig dump or .bvh) and write --out (.glb/.gltf: the target "
                                          "character animated; .bvh: the target skeleton; .json: the wire result).")
    p.add_argument("source", help="source motion (.bvh, or canonical .json)")
    p.add_argument("--to", required=True, help="target rig: .glb/.gltf/.vrm, .json rig dump or .bvh")
    p.add_argument("--out", required=True, help="output .glb/.gltf (glTF targets), .bvh or .json")
    p.add_argument("--map", default=None, help="target bone map overrides as JSON: {\"left_knee\": \"Knee_L\"}")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the result (default: the source's)")
    p.add_argument("--no-cleanup", action="store_true", help="no foot-contact cleanup (transfer only)")
    p.add_argument("--up", default="Y", choices=["Y", "Z"], help="up axis of a written BVH (default Y)")
    p.add_argument("--reference", default="auto",
                   help="pose in which the source stands like a T-pose: auto (default: its rest pose if that is a "
                        "T/A-pose, else an estimate from its bones), rest, tpose (the estimate), or a frame number")
    p.add_argument("--source-up", default="auto", choices=["auto", "X", "Y", "Z", "-X", "-Y", "-Z"],
                   help="up axis of a BVH source (default auto: from its rest pose, checked against the motion's "
                        "floor)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    from pathlib import Path

    import torch
    from pydantic import ValidationError

    from ..pipelines import JobContext, RequestError, run_job
    from ..pipelines.convert import canonical_motion_to_spec
    from ..pipelines.files import (
        is_canonical,
        load_motion_file,
        load_target_rig,
        print_progress,
        reorder_onto,
        rig_spec_from_skeleton,
        world_aligned_channels,
        write_result,
    )
    from ..pipelines.rigs import RigBinding
    from ..retarget.rig import RigError
    from ..schema import Array, MotionSpec, RetargetRequest

    torch.set_num_threads(2)
    out_path = Path(args.out)
    gltf_out = out_path.suffix.lower() in (".glb", ".gltf")
    try:
        if gltf_out and Path(args.to).suffix.lower() not in (".glb", ".gltf", ".vrm"):
            raise RequestError(f"{out_path.name}: a glTF output needs a glTF target (.glb, .gltf or .vrm)")
        reference = _reference_arg(args.reference)
        m = load_motion_file(args.source, up=args.source_up)
        target, target_rig, target_sk = load_target_rig(args.to)
        if args.map:
            target = type(target).model_validate({**target.model_dump(), "bone_map": _map_arg(args.map)})
        if is_canonical(m.skeleton):
            source_rig, source = None, canonical_motion_to_spec(m, start_frame=0)
        else:  # a BVH: its skeleton is the source rig (world-aligned, floor z = 0), its motion that rig's channels
            source_rig = rig_spec_from_skeleton(m.skeleton, "source")
            rot, loc = world_aligned_channels(m)
            source = MotionSpec(space="rig", bones=list(source_rig.bones), parents=list(source_rig.parents),
                                fps=m.fps, start_frame=0, rotations=Array.from_numpy(rot),
                                root_translation=Array.from_numpy(loc), root_bone=m.skeleton.names[0])
        req = RetargetRequest(source=source, source_rig=source_rig, target_rig=target, fps=args.fps or m.fps,
                              contact_cleanup=not args.no_cleanup, source_reference=reference)
        result = run_job(req, JobContext(on_progress=print_progress()))
        binding = RigBinding(target)
        pose = binding.spec_to_pose(result.motions[0])
        frames = pose.num_frames
        if gltf_out:
            if binding.prepared.source is not binding.prepared.rig or binding.solve_rig is not binding.rig:
                raise RequestError("this target is a control rig (results go on its controls, which glTF files "
                                   "do not evaluate); write .json or .bvh")
            from ..retarget.gltf import write_animation
            names, g, p = binding.world(pose)
            order = [names.index(n) for n in target_rig.names]
            loc_bones = [result.motions[0].root_bone] + list(result.motions[0].location_bones or [])
            write_animation(args.to, out_path, target_rig, g[:, order], p[:, order], pose.fps, loc_bones,
                            name=f"motionloom_{Path(args.source).stem}")
        else:
            out = binding.world_motion(pose)
            if target_sk is not None:
                out = reorder_onto(out, target_sk)
            write_result(result, out, out_path, up=args.up)
    except ValidationError as e:
        from ..server.errors import summarize
        print(f"retarget: {summarize(e.errors())[0]}", file=sys.stderr)
        return 2
    except (RequestError, RigError, OSError, ValueError) as e:
        print(f"retarget: {e}", file=sys.stderr)
        return 2
    mapped = sum(1 for e in result.bone_map or [] if e.bone)
    sizes = {"source_unit_scale": m.meta.get("file_unit_scale"), "source_up_axis": m.meta.get("file_up_axis"),
             "source_height_m": round(_height(m.skeleton.rest_positions()), 3),
             "target_height_m": round(_height(target_rig.skeleton.rest_positions()), 3)}
    for who in ("source", "target"):
        h = sizes[f"{who}_height_m"]
        if not 0.3 <= h <= 3.0:
            print(f"retarget: the {who} stands {h:.2f} m tall as read (file units taken as "
                  f"{'metres' if who == 'target' else _units(sizes['source_unit_scale'])}); if it is meant to be "
                  f"another size, scale it in its file", file=sys.stderr)
    print(json.dumps({"model": result.model, "frames": frames, "mapped_joints": mapped, "out": str(out_path),
                      **{k: v for k, v in sizes.items() if v is not None}, **result.info}))
    return 0


def _height(rest) -> float:
    return float(rest[:, 2].max() - rest[:, 2].min())


def _units(scale) -> str:
    return {None: "metres", 1.0: "metres", 0.01: "centimetres"}.get(scale, f"1 unit = {scale:.4g} m, a 1.7 m adult")


def _reference_arg(text: str):
    from ..pipelines import RequestError
    if text in ("auto", "rest", "tpose"):
        return text
    if text.isdigit():
        return int(text)
    raise RequestError(f"--reference must be auto, rest, tpose or a frame number (0 = the first frame); got {text!r}")


def _map_arg(text: str) -> dict:
    """``--map`` JSON -> {canonical joint: bone name}, with a sentence for anything else."""
    import json

    from ..pipelines import RequestError
    try:
        overrides = json.loads(text)
    except ValueError:
        overrides = None
    if not isinstance(overrides, dict):
        raise RequestError(f"--map must be a JSON object, e.g. {{\"left_knee\": \"Knee_L\"}}; got {text!r}")
    bad = [k for k, v in overrides.items() if not isinstance(v, str) or not v]
    if bad:
        raise RequestError(f"--map: {bad[0]!r} must name a bone (a non-empty string), got "
                           f"{json.dumps(overrides[bad[0]])}; leave a joint out to let the automatic map choose")
    return overrides
