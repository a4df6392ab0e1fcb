"""Files <-> requests for the command line (``generate``, ``inbetween``, ``retarget``): the CLI builds the same
wire requests the add-on sends and runs them through :func:`backend.pipelines.run_job`, so both paths share code.

A BVH skeleton becomes a :class:`RigSpec` whose bones are world-aligned at rest (identity rest rotations, heads at
the rest joint positions, metres, Z up after :func:`backend.motion.formats.bvh.load_bvh`); for such a rig the pose
channel of a bone is its local rotation and the root's location is its displacement from rest.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL_JOINTS, Skeleton
from ..schema import Array, JobResult, MotionSpec, RigSpec
from .context import RequestError


def rig_spec_from_skeleton(skeleton: Skeleton, name: str = "bvh") -> RigSpec:
    """A world-aligned skeleton (e.g. a loaded BVH) as a rig: identity rest rotations, heads at rest positions."""
    J = len(skeleton)
    rest = np.tile(np.eye(4), (J, 1, 1))
    pos = skeleton.rest_positions()
    rest[:, :3, 3] = pos
    tails = pos.copy()
    for j in range(J):
        kids = [c for c in skeleton.children(j) if np.linalg.norm(pos[c] - pos[j]) > 1e-4]
        site = np.asarray(skeleton.end_sites.get(j, np.zeros(3)), np.float64)
        if kids:
            tails[j] = pos[kids[0]]
        elif np.linalg.norm(site) > 1e-4:
            tails[j] = pos[j] + site
        else:  # a leaf without a usable end site (common in CMU files): carry on along the limb
            k, d = j, np.zeros(3)
            while k >= 0 and skeleton.parents[k] >= 0 and np.linalg.norm(d) < 1e-4:
                d = pos[k] - pos[skeleton.parents[k]]
                k = skeleton.parents[k]
            tails[j] = pos[j] + (0.5 * d if np.linalg.norm(d) > 1e-4 else np.array([0.0, 0.0, 0.05]))
    return RigSpec(name=name, bones=list(skeleton.names), parents=[int(p) for p in skeleton.parents],
                   rest_matrices=Array.from_numpy(rest), tails=Array.from_numpy(tails))


def onto_rig(binding, motion: Motion) -> Motion:
    """A motion on the skeleton a rig spec was made from (joints in the spec's bone order) -> the same motion on
    ``binding.rig.skeleton`` (topological order, which may differ)."""
    return Motion(binding.rig.skeleton, motion.fps, motion.root_pos, binding.rig.from_caller_order(motion.rotations))


def off_rig(binding, motion: Motion, skeleton: Skeleton) -> Motion:
    """Inverse of :func:`onto_rig`: a motion on ``binding.rig.skeleton`` -> on ``skeleton`` (spec bone order)."""
    return Motion(skeleton, motion.fps, motion.root_pos, binding.rig.reorder_to_caller(motion.rotations))


def is_canonical(skeleton: Skeleton) -> bool:
    return tuple(skeleton.names) == CANONICAL_JOINTS


def load_motion_file(path: str | Path) -> Motion:
    """A motion from ``.bvh`` (Z up, metres after conversion) or a wire ``MotionSpec`` ``.json`` (canonical)."""
    path = Path(path)
    if path.suffix.lower() == ".bvh":
        from ..motion.formats.bvh import load_bvh
        return load_bvh(path)
    if path.suffix.lower() == ".json":
        from .convert import spec_to_canonical_motion
        return spec_to_canonical_motion(MotionSpec.model_validate_json(path.read_text()))
    raise RequestError(f"{path.name}: expected a .bvh or .json motion file")


def load_target_skeleton(path: str | Path) -> tuple[RigSpec, Skeleton | None]:
    """A retarget target: ``.bvh`` (its skeleton) or ``.glb``/``.gltf`` (a skin, via ``backend.retarget.gltf``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        from ..motion.formats.bvh import load_bvh
        sk = load_bvh(path).skeleton
        return rig_spec_from_skeleton(sk, path.stem), sk
    if suffix in (".glb", ".gltf"):
        try:
            from ..retarget import gltf  # written by the retargeting work; reads a skin into a rig
        except ImportError:
            raise RequestError("glTF targets need backend.retarget.gltf, which this build does not have yet; "
                               "use a .bvh target") from None
        return gltf.read_rig_spec(path), None
    raise RequestError(f"{path.name}: expected a .bvh, .glb or .gltf target")


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
        raise RequestError(f"{out.name}: the output must end in .bvh or .json")
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
