"""The ``inbetween`` task: fill every frame between sparse keys; keys come back exactly as sent.

The runner is split so a learned model can replace the classical baseline without touching the wire or the rig
handling: it turns the request's keys into :class:`~backend.models.inbetween.keys.CanonicalKeys` (converting rig keys through
:class:`~backend.pipelines.rigs.RigBinding`), asks the active in-betweener to ``fill`` them, converts back to the
rig's channels and then puts the exact key values back.

The maths lives in :mod:`backend.models.inbetween` (the networks, the baseline, the per-channel
interpolation and warp); this module wires the request to it. Models: the learned in-betweener (``inbetween-delta-transformer``, :mod:`backend.models.inbetween`) is active when its
weights are present; the baseline stays available by name (``run_job(..., model="slerp-baseline")``,
``python -m backend inbetween --model slerp-baseline``). Baseline (``slerp-baseline``, classical, no training): per
bone, slerp between that bone's keyed frames and hold before the first / after the last; the root translation is
interpolated linearly between frames where it is keyed. A model whose ``unmapped_fill`` is ``"bezier"`` (the learned
one) has the rig bones that map to no canonical joint filled as Blender's default F-curves would fill them.

Rig space: the bones the retargeting solves (mapped bones and the bones sharing a chain's bend, see
:mod:`backend.retarget.api`) go rig -> canonical -> in-betweener -> rig, with no contact cleanup. Because that round
trip is not exactly the identity (a rig has twist and helper bones the canonical body lacks), the result is *warped*
onto the keys: at each key the rotation offset between the round-tripped pose and the sent key is computed per bone,
and that offset is slerped across the in-betweens (Witkin & Popovic's motion warping), so the curve passes through
every key without a jump. Locations (the root bone's, and ``keys.location_bones`` such as feet parented to the root)
come from the same solve, warped by offsets interpolated linearly. Bones the solve does not drive are interpolated
directly in their own channels. Finally the sent key values are written back bit for bit.
"""
from __future__ import annotations

import numpy as np

from ..models.inbetween.baseline import SlerpInbetweener
from ..models.inbetween.interpolation import lerp_points, slerp_channels, warp_rotations
from ..models.inbetween.keys import CanonicalKeys
from ..motion.skeleton import CANONICAL, CANONICAL_JOINTS
from ..retarget.api import RigPose
from ..schema import Array, InbetweenRequest, JobResult, MotionSpec
from .context import JobContext, RequestError
from .convert import (
    canonical_motion_to_spec,
    check_canonical_bones,
    identity_quats,
    key_masks,
    subset_parents,
    write_keys_exactly,
)
from .rigs import RigBinding

_UNCHECKED = object()


def check(request: InbetweenRequest) -> RigBinding | None:
    """Checks that need the project's knowledge (canonical joint names, the rig's bone map). Returns the rig's
    binding (None for canonical keys), which :func:`run` then uses instead of binding the rig again."""
    binding = None
    if request.rig is None:
        check_canonical_bones(request.keys.bones, "keys")
    else:
        rb = request.keys.root_bone
        if rb is not None and rb not in request.rig.bones:
            raise RequestError(f"keys.root_bone {rb!r} is not a bone of rig {request.rig.name!r}")
        binding = RigBinding(request.rig)  # raises RequestError for unusable rigs
        root = rb or binding.translation_bone
        if root in (request.keys.location_bones or []):
            raise RequestError(f"keys.location_bones lists {root!r}, whose location root_translation holds "
                               f"(keys.root_bone, default: the bone that carries the hips' translation)")
    if request.context is not None and request.context.space != ("rig" if request.rig is not None else "canonical"):
        raise RequestError("the context motion must be in the same space as the keys")
    return binding


def run(request: InbetweenRequest, ctx: JobContext, model=None, binding=_UNCHECKED) -> JobResult:
    """Fill the frame range of ``request`` with ``model`` (default: the slerp baseline). ``binding``: what
    :func:`check` returned for this request (checked here when not given)."""
    if binding is _UNCHECKED:
        binding = check(request)
    model = model or SlerpInbetweener()
    k = request.keys
    frames = np.asarray(k.frames)
    q = k.rotations.numpy().astype(np.float64)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    mask, root_mask = key_masks(k)
    root32 = k.root_translation.numpy()
    lo, hi = request.frame_range or (k.frames[0], k.frames[-1])
    out_frames = np.arange(lo, hi + 1)
    info = {"frames": len(out_frames), "keys": len(frames), "context_used": 0}
    ctx.progress(0, 3, "reading keys")

    if binding is None:
        index = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
        cols = [index[b] for b in k.bones]
        J = CANONICAL.num_joints
        ck = CanonicalKeys(frames, np.broadcast_to(identity_quats(1, J), (len(frames), J, 4)).copy(),
                           root32.astype(np.float64), np.zeros((len(frames), J), bool), root_mask)
        ck.rotations[:, cols] = q
        ck.mask[:, cols] = mask
        ctx.progress(1, 3, "in-betweening")
        motion = model.fill(ck, out_frames, request.fps, ctx)
        ctx.progress(2, 3, "writing result")
        spec = write_keys_exactly(canonical_motion_to_spec(motion, start_frame=lo), k)
        ctx.progress(3, 3)
        return JobResult(motions=[spec], model=model.name, info=info)

    root_bone = k.root_bone or binding.translation_bone
    key_loc_bones = list(k.location_bones or [])
    loc_bones = [root_bone] + key_loc_bones  # location channels: the root bone's, then the keys' other ones
    out_bones = list(k.bones) + [b for b in loc_bones if b not in k.bones]
    key_cols = list(range(len(k.bones)))  # keys' bones are the first columns of the output
    out_q = np.empty((len(out_frames), len(out_bones), 4))
    via_canonical = binding.has_body
    info["via_canonical"] = int(via_canonical)
    written = set(binding.written) if via_canonical else set()
    solve = set(binding.solve_bones) if via_canonical else set()

    # key channels for every output bone (a bone keyed only by location holds its rest rotation)
    key_out_q = identity_quats(len(frames), len(out_bones))
    key_out_q[:, key_cols] = q
    key_out_mask = np.zeros((len(frames), len(out_bones)), bool)
    key_out_mask[:, key_cols] = mask
    key_loc32 = root32[:, None] if not key_loc_bones else \
        np.concatenate([root32[:, None], k.locations.numpy()], axis=1)  # (K, L, 3) as sent
    loc_mask = np.stack([root_mask] + [mask[:, k.bones.index(b)] if b in k.bones else np.ones(len(frames), bool)
                                       for b in key_loc_bones], axis=1)
    direct = [i for i, b in enumerate(out_bones) if b not in written]
    through = [i for i, b in enumerate(out_bones) if b in written]
    loc_through = [i for i, b in enumerate(loc_bones) if b in solve]
    loc_direct = [i for i, b in enumerate(loc_bones) if b not in solve]
    info["bones_direct"] = len(direct)
    info["bones_via_canonical"] = len(through)

    ctx.progress(1, 3, "in-betweening")
    loc = np.empty((len(out_frames), len(loc_bones), 3))
    if through or loc_through:
        key_pose = RigPose(tuple(k.bones), q, {b: key_loc32[:, i].astype(np.float64) for i, b in enumerate(loc_bones)},
                           request.fps)
        canon_keys_motion = binding.to_canonical(key_pose)
        ctx.check_cancelled()
        ck = CanonicalKeys(frames, canon_keys_motion.rotations, canon_keys_motion.root_pos,
                           binding.canonical_key_mask(k.bones, mask), root_mask)
        canon = model.fill(ck, out_frames, request.fps, ctx)
        ctx.check_cancelled()
        # no contact cleanup: the keys are the artist's, and the warp below must only bend the curves onto them
        through_locs = [loc_bones[i] for i in loc_through]
        pose = binding.to_rig(canon, contact_cleanup=False, location_bones=through_locs,
                              check=ctx.check_cancelled).pose
        if root_bone in pose.locations:  # a preview on the artist's rig (before the warp onto the keys)
            ctx.partial(binding.pose_to_spec(pose, lo, root_bone))
        col = {b: i for i, b in enumerate(pose.bones)}
        if through:
            out_q[:, through] = pose.rotations[:, [col[out_bones[i]] for i in through]]
            warped = [i for i in through if i < len(k.bones)]  # a bone keyed only by location keeps the solve's
            if warped:
                out_q[:, warped] = warp_rotations(out_q[:, warped], frames, out_frames, key_out_q[:, warped],
                                                  key_out_mask[:, warped])
        ctx.check_cancelled()
        if loc_through:
            key_pose_back = binding.to_rig(canon_keys_motion, contact_cleanup=False, location_bones=through_locs).pose
            for i in loc_through:
                b = loc_bones[i]
                offset = key_loc32[:, i].astype(np.float64) - key_pose_back.locations[b]
                loc[:, i] = pose.locations[b] + lerp_points(frames, offset, loc_mask[:, i], out_frames)
    for i in loc_direct:
        if getattr(model, "unmapped_fill", "slerp") == "bezier":  # as Blender's default F-curves would
            from ..models.inbetween.bezier import bezier_channels
            loc[:, i] = bezier_channels(frames, key_loc32[:, i].astype(np.float64),
                                        np.repeat(loc_mask[:, i, None], 3, 1), out_frames)
        else:
            loc[:, i] = lerp_points(frames, key_loc32[:, i].astype(np.float64), loc_mask[:, i], out_frames)
    if direct:
        if getattr(model, "unmapped_fill", "slerp") == "bezier":  # as Blender's default F-curves would
            from ..models.inbetween.bezier import bezier_quaternions
            out_q[:, direct] = bezier_quaternions(frames, key_out_q[:, direct], key_out_mask[:, direct], out_frames)
        else:
            out_q[:, direct] = slerp_channels(frames, key_out_q[:, direct], key_out_mask[:, direct], out_frames)

    ctx.progress(2, 3, "writing result")
    spec = write_keys_exactly(_rig_spec(binding, out_bones, out_q, loc, loc_bones, request.fps, lo), k)
    ctx.progress(3, 3)
    return JobResult(motions=[spec], bone_map=binding.bone_map_entries(), model=model.name, info=info)


def _rig_spec(binding, bones, rot, loc, loc_bones, fps, start_frame) -> MotionSpec:
    """Rig channels -> ``MotionSpec(space="rig")``: ``loc[:, 0]`` is the root bone's location, the rest go to
    ``location_bones``."""
    parents = subset_parents(list(bones), list(binding.spec.bones), list(binding.spec.parents))
    return MotionSpec(space="rig", bones=list(bones), parents=parents, fps=float(fps), start_frame=int(start_frame),
                      rotations=Array.from_numpy(rot), root_translation=Array.from_numpy(loc[:, 0]),
                      root_bone=loc_bones[0], location_bones=loc_bones[1:] or None,
                      locations=Array.from_numpy(loc[:, 1:]) if len(loc_bones) > 1 else None)
