"""Acclaim ASF/AMC (the original CMU motion capture format) -> Skeleton and Motion.

ASF describes bones as segments: a bone starts where its parent ends, points along ``direction`` (world axes at
rest) for ``length``, and rotates in its own frame ``C`` (the ``axis`` Euler angles). An AMC frame gives each bone's
degrees of freedom; the bone's rotation relative to its parent, in world-aligned terms, is ``C M C^-1`` with
``M = Rz Ry Rx`` built from the bone's rx/ry/rz values (missing DOFs are zero). Each ASF bone becomes one joint
placed at the bone's start, so the joint's rotation turns its own segment.

Units: ASF lengths are inches divided by the ``length`` unit (CMU: 0.45); :func:`load_asf_amc` returns metres,
Z up (ASF is Y up).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion import Motion
from ..rotations import np_euler_to_quat, np_quat_inv, np_quat_mul
from ..skeleton import Skeleton
from .bvh import axis_change_quat, change_basis

INCH = 0.0254


class ASFError(ValueError):
    """An ASF or AMC file that cannot be read; the message names the file and line."""


def _euler_xyz_static(ang_deg: np.ndarray) -> np.ndarray:
    """Rz Ry Rx (static x, then y, then z), angles in degrees, as XYZW quaternions."""
    return np_euler_to_quat("ZYX", np.asarray(ang_deg, np.float64)[..., ::-1], degrees=True)


class ASF:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        lines = self.path.read_text(errors="replace").splitlines()
        self.length_unit = 1.0
        self.angle_deg = True
        self.bones: dict[str, dict] = {}
        self.order: list[str] = []
        self.root_order: list[str] = ["TX", "TY", "TZ", "RX", "RY", "RZ"]
        self.root_axis_order = "XYZ"
        self.root_position = np.zeros(3)
        self.root_orientation = np.zeros(3)
        self.hierarchy: dict[str, list[str]] = {}
        section, cur = None, None
        for ln, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                if line.startswith(":"):
                    parts = line.split()
                    section = parts[0][1:].lower()
                    continue
                toks = line.split()
                if section == "units":
                    if toks[0] == "length":
                        self.length_unit = float(toks[1])
                    elif toks[0] == "angle":
                        self.angle_deg = toks[1].lower().startswith("deg")
                elif section == "root":
                    if toks[0] == "order":
                        self.root_order = [t.upper() for t in toks[1:]]
                    elif toks[0] == "axis":
                        self.root_axis_order = toks[1].upper()
                    elif toks[0] == "position":
                        self.root_position = np.array([float(v) for v in toks[1:4]])
                    elif toks[0] == "orientation":
                        self.root_orientation = np.array([float(v) for v in toks[1:4]])
                elif section == "bonedata":
                    if toks[0] == "begin":
                        cur = {"dof": [], "axis": np.zeros(3), "axis_order": "XYZ", "direction": np.zeros(3),
                               "length": 0.0}
                    elif toks[0] == "end":
                        if cur is None or "name" not in cur:
                            raise ASFError(f"{self.path.name}: line {ln}: bone without a name")
                        self.bones[cur["name"]] = cur
                        self.order.append(cur["name"])
                        cur = None
                    elif cur is not None:
                        key = toks[0]
                        if key == "name":
                            cur["name"] = toks[1]
                        elif key == "direction":
                            cur["direction"] = np.array([float(v) for v in toks[1:4]])
                        elif key == "length":
                            cur["length"] = float(toks[1])
                        elif key == "axis":
                            cur["axis"] = np.array([float(v) for v in toks[1:4]])
                            cur["axis_order"] = toks[4].upper() if len(toks) > 4 else "XYZ"
                        elif key == "dof":
                            cur["dof"] = [t.lower() for t in toks[1:]]
                elif section == "hierarchy":
                    if toks[0] in ("begin", "end"):
                        continue
                    self.hierarchy.setdefault(toks[0], []).extend(toks[1:])
            except (ValueError, IndexError):
                raise ASFError(f"{self.path.name}: line {ln}: cannot parse {line[:60]!r}") from None
        if not self.bones:
            raise ASFError(f"{self.path.name}: no :bonedata section")
        for parent, kids in self.hierarchy.items():
            for k in [parent] + kids:
                if k != "root" and k not in self.bones:
                    raise ASFError(f"{self.path.name}: hierarchy names unknown bone {k!r}")

    def skeleton(self) -> tuple[Skeleton, dict]:
        """Joints in depth-first order from root, in ASF units and axes. Returns (skeleton, info) where info maps
        joint name -> (C quaternion, dof list)."""
        names, parents, offsets, end_sites = ["root"], [-1], [self.root_position], {}
        stack = [(c, 0) for c in reversed(self.hierarchy.get("root", []))]
        while stack:
            name, p = stack.pop()
            if name in names:
                raise ASFError(f"{self.path.name}: bone {name!r} appears twice in the hierarchy (cycle?)")
            parent_name = names[p]
            if parent_name == "root":
                off = np.zeros(3)
            else:
                pb = self.bones[parent_name]
                off = pb["direction"] * pb["length"]
            names.append(name)
            parents.append(p)
            offsets.append(off)
            j = len(names) - 1
            kids = self.hierarchy.get(name, [])
            if not kids:
                b = self.bones[name]
                end_sites[j] = b["direction"] * b["length"]
            for c in reversed(kids):
                stack.append((c, j))
        info = {}
        for n in names[1:]:
            b = self.bones[n]
            if b["axis_order"] != "XYZ":
                raise ASFError(f"{self.path.name}: bone {n!r} uses axis order {b['axis_order']}; only XYZ is supported")
            info[n] = (_euler_xyz_static(b["axis"]), b["dof"])
        info["root"] = (_euler_xyz_static(self.root_orientation), ["rx", "ry", "rz"])
        sk = Skeleton(tuple(names), np.array(parents), np.array(offsets), end_sites)
        return sk, info


def read_amc(path: str | Path, asf: ASF, fps: float = 120.0) -> Motion:
    """Read an AMC motion for ``asf`` (ASF units and axes)."""
    path = Path(path)
    sk, info = asf.skeleton()
    frames: list[dict[str, list[float]]] = []
    cur = None
    for ln, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ":")):
            continue
        toks = line.split()
        if len(toks) == 1 and toks[0].isdigit():
            cur = {}
            frames.append(cur)
            continue
        if cur is None:
            raise ASFError(f"{path.name}: line {ln}: data before the first frame number")
        try:
            cur[toks[0]] = [float(v) for v in toks[1:]]
        except ValueError:
            raise ASFError(f"{path.name}: line {ln}: non-numeric value in {line[:60]!r}") from None
        if toks[0] != "root" and toks[0] not in asf.bones:
            raise ASFError(f"{path.name}: line {ln}: unknown bone {toks[0]!r}")
    if not frames:
        raise ASFError(f"{path.name}: no frames")
    T, J = len(frames), len(sk)
    rot = np.zeros((T, J, 4))
    rot[..., 3] = 1.0
    root = np.zeros((T, 3))
    for j, name in enumerate(sk.names):
        c, dofs = info[name]
        ang = np.zeros((T, 3))
        if name == "root":
            order = asf.root_order
            for t, fr in enumerate(frames):
                vals = fr.get("root")
                if vals is None or len(vals) != len(order):
                    raise ASFError(f"{path.name}: frame {t + 1}: root needs {len(order)} values")
                for k, ch in enumerate(order):
                    if ch.startswith("T"):
                        root[t, "XYZ".index(ch[1])] = vals[k]
                    else:
                        ang[t, "XYZ".index(ch[1])] = vals[k]
        elif dofs:
            for t, fr in enumerate(frames):
                vals = fr.get(name)
                if vals is None:
                    continue
                if len(vals) != len(dofs):
                    raise ASFError(f"{path.name}: frame {t + 1}: bone {name!r} has {len(vals)} values for "
                                   f"{len(dofs)} DOFs")
                for k, d in enumerate(dofs):
                    if d.startswith("r"):
                        ang[t, "xyz".index(d[1])] = vals[k]
        else:
            continue
        m = _euler_xyz_static(ang)
        rot[:, j] = np_quat_mul(np_quat_mul(c, m), np_quat_inv(c))
    return Motion(sk, fps, root, rot, meta={"source_file": str(path)})


def load_asf_amc(asf_path: str | Path, amc_path: str | Path, fps: float = 120.0) -> Motion:
    """ASF + AMC -> Motion in metres, Z up."""
    asf = ASF(asf_path)
    m = read_amc(amc_path, asf, fps)
    scale = INCH / asf.length_unit
    out = change_basis(m, axis_change_quat("Y"), scale)
    out.meta.update({"source_file": str(amc_path), "skeleton_file": str(asf_path)})
    return out
