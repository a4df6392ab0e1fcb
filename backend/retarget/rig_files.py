"""Load rigs from files: JSON rig dumps (what the add-on sends, see ``tests/fixtures/rigs``), glTF/GLB/VRM, BVH.

``load_rig(path)`` picks the reader from the extension. A BVH file gives its skeleton as a rig whose bones are
world-aligned at rest (BVH has no bone orientations); its reference pose may be a T-pose frame (see
:func:`reference_from_frame`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .rig import Rig, RigError


def rig_from_dict(d: dict, name: str | None = None) -> Rig:
    """Build a rig from a JSON dump (keys: bones, parents, rest_matrices, optional tails, matrix_world, deform,
    controls)."""
    for key in ("bones", "parents", "rest_matrices"):
        if key not in d:
            raise RigError(f"rig description has no {key!r}")
    if len(set(d["bones"])) != len(d["bones"]):
        dup = next(b for b in d["bones"] if d["bones"].count(b) > 1)
        raise RigError(f"duplicate bone name {dup!r}")
    return Rig.from_matrices(d["bones"], d["parents"], np.asarray(d["rest_matrices"], np.float64),
                             matrix_world=d.get("matrix_world"), tails=d.get("tails"), deform=d.get("deform"),
                             controls=d.get("controls") or (), name=name or d.get("name", "rig"))


def load_rig(path, **kwargs) -> Rig:
    """Read a rig from .json (rig dump), .glb/.gltf/.vrm, or .bvh (skeleton only)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".json":
        try:
            d = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RigError(f"cannot read rig file {path}: {e}") from None
        return rig_from_dict(d, kwargs.get("name"))
    if ext in (".glb", ".gltf", ".vrm"):
        from .gltf import rig_from_gltf
        return rig_from_gltf(path, **kwargs)
    if ext == ".bvh":
        from ..motion.formats.bvh import load_bvh
        m = load_bvh(path)
        rig = Rig.from_skeleton(m.skeleton, name=kwargs.get("name", path.stem))
        rig.floor = 0.0  # BVH rest poses hang around the origin; the motion's floor is z = 0
        return rig
    raise RigError(f"unknown rig file type {ext!r} (use .json, .glb, .gltf, .vrm or .bvh)")


def bvh_rig_and_pose(path, fps: float | None = None):
    """A BVH file as (rig, pose channels): the skeleton as a rig standing where the file has it (floor z = 0) and its
    motion as pose channels (BVH rest frames are world-aligned, so the channels are the local rotations and the
    root's displacement from its rest position). ``fps`` resamples first."""
    from ..motion.formats.bvh import load_bvh
    from .api import RigPose
    m = load_bvh(path)
    if fps is not None:
        m = m.resample(fps)
    rig = Rig.from_skeleton(m.skeleton, name=Path(path).stem)
    rig.floor = 0.0
    sk = m.skeleton
    pose = RigPose(sk.names, m.rotations, {sk.names[0]: m.root_pos - sk.offsets[0]}, m.fps)
    return rig, pose
