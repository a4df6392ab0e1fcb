"""Files <-> requests for the command line (``generate``, ``inbetween``, ``retarget``): the CLI builds the same
wire requests the add-on sends and runs them through :func:`backend.pipelines.run_job`, so both paths share code.

A BVH skeleton becomes a :class:`RigSpec` whose bones are world-aligned at rest (identity rest rotations, heads at
the rest joint positions, metres, Z up after :func:`backend.motion.formats.bvh.load_bvh`, floor at z = 0); for such a
rig the pose channel of a bone is its local rotation and the root's location is its displacement from rest. Other
rigs (glTF/GLB/VRM characters, JSON rig dumps) are read by :func:`backend.retarget.rig_files.load_rig` and sent as
the same :class:`RigSpec` the add-on sends.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL_JOINTS, Skeleton
from ..schema import Array, JobResult, MotionSpec, RigSpec
from .context import RequestError


def rig_spec_from_skeleton(skeleton: Skeleton, name: str = "bvh", floor: float | None = 0.0) -> RigSpec:
    """A world-aligned skeleton (e.g. a loaded BVH) as a rig: identity rest rotations, heads at rest positions,
    standing on ``floor`` (BVH files: z = 0; their rest poses hang around the origin)."""
    J = len(skeleton)
    rest = np.tile(np.eye(4), (J, 1, 1))
    rest[:, :3, 3] = skeleton.rest_positions()
    return RigSpec(name=name, bones=list(skeleton.names), parents=[int(p) for p in skeleton.parents],
                   rest_matrices=Array.from_numpy(rest), tails=Array.from_numpy(leaf_tails(skeleton)), floor=floor)


def leaf_tails(skeleton: Skeleton) -> np.ndarray:
    """Rest tails of a world-aligned skeleton: the first child's head, else the end site, else (CMU files often
    have no usable end site) half the parent bone's length further along the limb."""
    pos = skeleton.rest_positions()
    tails = pos.copy()
    for j in range(len(skeleton)):
        kids = [c for c in skeleton.children(j) if np.linalg.norm(pos[c] - pos[j]) > 1e-4]
        site = np.asarray(skeleton.end_sites.get(j, np.zeros(3)), np.float64)
        if kids:
            tails[j] = pos[kids[0]]
        elif np.linalg.norm(site) > 1e-4:
            tails[j] = pos[j] + site
        else:
            k, d = j, np.zeros(3)
            while k >= 0 and skeleton.parents[k] >= 0 and np.linalg.norm(d) < 1e-4:
                d = pos[k] - pos[skeleton.parents[k]]
                k = skeleton.parents[k]
            tails[j] = pos[j] + (0.5 * d if np.linalg.norm(d) > 1e-4 else np.array([0.0, 0.0, 0.05]))
    return tails


def rig_spec_from_rig(rig, tails: np.ndarray | None = None) -> RigSpec:
    """A :class:`backend.retarget.rig.Rig` as the :class:`RigSpec` the add-on would send (caller bone order,
    armature-space rest matrices and tails, the object's world matrix, the rig's floor if it has one).
    ``tails`` (caller order, world) replaces the rig's own (BVH rigs have none)."""
    names, parents = rig.caller_hierarchy()
    rest = rig.reorder_to_caller(rig.rest_local, axis=0)
    world_tails = None
    if tails is not None:
        world_tails = np.asarray(tails, np.float64)
    elif rig.tails is not None:
        world_tails = rig.reorder_to_caller(rig.tails, axis=0)
    arm_tails = None if world_tails is None else rig.to_armature_space(world_tails)
    deform = None if rig.deform is None else [bool(d) for d in rig.reorder_to_caller(rig.deform, axis=0)]
    return RigSpec(name=rig.name[:256], bones=names, parents=parents, rest_matrices=Array.from_numpy(rest),
                   tails=None if arm_tails is None else Array.from_numpy(arm_tails),
                   matrix_world=Array.from_numpy(rig.matrix_world), deform=deform, controls=list(rig.controls) or None, floor=rig.floor)


def load_target_rig(path: str | Path):
    """A retarget target through :func:`backend.retarget.rig_files.load_rig`: ``.glb``/``.gltf``/``.vrm``
    characters, ``.json`` rig dumps, ``.bvh`` skeletons. Returns (RigSpec, Rig, BVH skeleton or None); a BVH
    skeleton keeps its file's joint order and end sites for writing the result back as BVH."""
    from ..retarget.rig import RigError
    from ..retarget.rig_files import load_rig
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".bvh", ".glb", ".gltf", ".vrm", ".json"):
        raise RequestError(f"{path.name}: expected a .glb, .gltf, .vrm, .json (rig dump) or .bvh target")
    try:
        rig = load_rig(path)
        skeleton = None
        if suffix == ".bvh":
            from ..motion.formats.bvh import load_bvh
            skeleton = load_bvh(path).skeleton
            return rig_spec_from_rig(rig, tails=leaf_tails(skeleton)), rig, skeleton
        return rig_spec_from_rig(rig), rig, skeleton
    except RigError as e:
        raise RequestError(f"{path.name}: {e}") from None


def world_aligned_channels(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """A motion on a world-aligned skeleton (a BVH) as that rig's channels: rotations (T,J,4) are the local
    rotations (identity rest frames), and the root bone's location is its displacement from its rest head."""
    return motion.rotations, motion.root_pos - motion.skeleton.offsets[0]


def world_aligned_motion(spec: MotionSpec, skeleton: Skeleton) -> Motion:
    """Inverse of :func:`world_aligned_channels`: ``MotionSpec(space="rig")`` of a world-aligned rig made from
    ``skeleton`` (root translation on the skeleton's root) -> :class:`Motion`. Bones the spec omits are at rest."""
    if spec.root_bone not in (None, skeleton.names[0]):
        raise RequestError(f"the result moves {spec.root_bone!r}, not the skeleton's root {skeleton.names[0]!r}")
    index = {n: i for i, n in enumerate(spec.bones)}
    q = spec.rotations.numpy().astype(np.float64)
    rot = np.zeros((spec.num_frames, len(skeleton), 4))
    rot[..., 3] = 1.0
    for j, n in enumerate(skeleton.names):
        if n in index:
            rot[:, j] = q[:, index[n]]
    rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
    root = spec.root_translation.numpy().astype(np.float64) + skeleton.offsets[0]
    return Motion(skeleton, spec.fps, root, rot)


def reorder_onto(motion: Motion, skeleton: Skeleton) -> Motion:
    """The same motion on ``skeleton`` when it has the same joints and parents in another order (a rig's
    topological order vs a BVH file's order); the motion unchanged if the joints differ."""
    src = motion.skeleton
    if set(src.names) != set(skeleton.names) or len(src) != len(skeleton):
        return motion
    idx = [src.index(n) for n in skeleton.names]
    same_tree = all((skeleton.parents[j] < 0 and src.parents[i] < 0) or
                    (skeleton.parents[j] >= 0 and src.names[src.parents[i]] == skeleton.names[skeleton.parents[j]])
                    for j, i in enumerate(idx))
    if not same_tree or idx[0] != 0:
        return motion
    return Motion(skeleton, motion.fps, motion.root_pos, motion.rotations[:, idx])


def is_canonical(skeleton: Skeleton) -> bool:
    return tuple(skeleton.names) == CANONICAL_JOINTS


def load_motion_file(path: str | Path, up: str = "auto") -> Motion:
    """A motion from ``.bvh`` (Z up, metres after conversion; ``up``: the file's up axis, default guessed) or a wire
    ``MotionSpec`` ``.json`` (canonical)."""
    path = Path(path)
    if path.suffix.lower() == ".bvh":
        from ..motion.formats.bvh import load_bvh
        return load_bvh(path, up=up)
    if path.suffix.lower() == ".json":
        from .convert import spec_to_canonical_motion
        return spec_to_canonical_motion(MotionSpec.model_validate_json(path.read_text()))
    raise RequestError(f"{path.name}: expected a .bvh or .json motion file")


def write_result(result: JobResult, motion: Motion | None, out: str | Path, up: str = "Y") -> Path:
    """``.json``: the whole JobResult (wire format); ``.bvh``: ``motion`` (metres, ``up`` axis up)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(result.model_dump_json())
    elif out.suffix.lower() == ".bvh":
        from ..motion.formats.bvh import write_bvh
        if motion is None:
            raise RequestError("this result cannot be written as BVH; use a .json output")
        write_bvh(motion, out, up=up)
    else:
        raise RequestError(f"{out.name}: the output must end in .bvh or .json (or .glb/.gltf for a glTF target)")
    return out


def print_progress(prefix: str = ""):
    """A JobContext ``on_progress`` that prints one line per step to stderr."""
    import sys

    def on_progress(step, total, eta, message):
        eta_s = f", {eta:.1f} s left" if eta is not None and step < total else ""
        msg = f" {message}" if message else ""
        print(f"{prefix}[{step}/{total}]{msg}{eta_s}", file=sys.stderr, flush=True)
    return on_progress


def dump(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
