"""BVH read/write for any skeleton, any rotation channel order, any unit.

Reading gives the file's own skeleton and motion; :func:`load_bvh` also converts to the project's world (Z up,
metres). Errors name the line: a malformed file raises :class:`BVHError` ("line 57: expected OFFSET ...").

A BVH joint's rotation channels, read left to right, compose as intrinsic rotations: ``Zrotation Xrotation
Yrotation`` is R = Rz @ Rx @ Ry. Position channels on the root give its translation; position channels on other
joints (rare) replace that joint's offset and are kept in ``BVHFile.joint_translations``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..motion import Motion
from ..rotations import (
    np_euler_to_quat,
    np_quat_apply,
    np_quat_fix_hemisphere,
    np_quat_inv,
    np_quat_mul,
    np_quat_to_euler,
)
from ..skeleton import Skeleton, SkeletonError


class BVHError(ValueError):
    """A BVH file that cannot be read; the message names the line."""


_ROT = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}


@dataclass
class BVHFile:
    """A BVH file as written: file units and axes, joint channel layout preserved for round trips."""
    skeleton: Skeleton
    channels: list[list[str]]  # per joint
    frame_time: float
    rotations: np.ndarray  # (T,J,4) XYZW, file axes
    root_pos: np.ndarray  # (T,3) file units and axes
    joint_translations: dict = field(default_factory=dict)  # joint -> (T,3) for non-root position channels
    path: str = ""

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def motion(self) -> Motion:
        return Motion(self.skeleton, self.fps, self.root_pos, self.rotations, meta={"source_file": self.path})


# ------------------------------------------------------------------------------------------------------ reading
class _Tokens:
    def __init__(self, text: str):
        self.items: list[tuple[str, int]] = []
        self.motion_line = None
        lines = text.splitlines()
        for ln, line in enumerate(lines, 1):
            if line.strip().upper().startswith("MOTION"):
                self.motion_line = ln
                self.rest = lines[ln:]
                break
            for tok in re.findall(r"\{|\}|[^\s{}]+", line):
                self.items.append((tok, ln))
        if self.motion_line is None:
            self.rest = []
        self.i = 0

    def peek(self):
        return self.items[self.i] if self.i < len(self.items) else (None, self.last_line)

    @property
    def last_line(self):
        return self.items[-1][1] if self.items else 1

    def next(self, what: str):
        if self.i >= len(self.items):
            raise BVHError(f"line {self.last_line}: file ends early, expected {what}")
        tok = self.items[self.i]
        self.i += 1
        return tok

    def expect(self, word: str):
        tok, ln = self.next(word)
        if tok.upper() != word.upper():
            raise BVHError(f"line {ln}: expected {word!r}, found {tok!r}")
        return ln

    def number(self, what: str) -> float:
        tok, ln = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise BVHError(f"line {ln}: expected a number for {what}, found {tok!r}") from None
        if not np.isfinite(v):
            raise BVHError(f"line {ln}: {what} is not finite ({tok})")
        return v


def parse_bvh(text: str, path: str = "") -> BVHFile:
    tk = _Tokens(text)
    names, parents, offsets, channels, end_sites = [], [], [], [], {}

    tk.expect("HIERARCHY")

    def parse_joint(parent: int, kind_line: int):
        name_tok, ln = tk.next("joint name")
        if name_tok == "{":
            raise BVHError(f"line {ln}: joint has no name")
        if name_tok in names:
            raise BVHError(f"line {ln}: duplicate joint name {name_tok!r}")
        j = len(names)
        names.append(name_tok)
        parents.append(parent)
        tk.expect("{")
        tk.expect("OFFSET")
        offsets.append([tk.number(f"OFFSET of {name_tok}") for _ in range(3)])
        tk.expect("CHANNELS")
        n_tok, ln = tk.next("channel count")
        if not n_tok.isdigit():
            raise BVHError(f"line {ln}: expected a channel count after CHANNELS, found {n_tok!r}")
        chans = []
        for _ in range(int(n_tok)):
            c, ln = tk.next("channel name")
            if c not in _ROT and c not in _POS:
                raise BVHError(f"line {ln}: unknown channel {c!r} for joint {name_tok!r}")
            chans.append(c)
        channels.append(chans)
        while True:
            tok, ln = tk.next("JOINT, End Site or '}'")
            up = tok.upper()
            if up == "JOINT":
                parse_joint(j, ln)
            elif up == "END":
                site, ln2 = tk.next("Site")
                if site.upper() != "SITE":
                    raise BVHError(f"line {ln2}: expected 'Site' after 'End', found {site!r}")
                tk.expect("{")
                tk.expect("OFFSET")
                end_sites[j] = np.array([tk.number("End Site OFFSET") for _ in range(3)])
                tk.expect("}")
            elif tok == "}":
                return
            else:
                raise BVHError(f"line {ln}: expected JOINT, End Site or '}}' inside {name_tok!r}, found {tok!r}")

    tok, ln = tk.next("ROOT")
    if tok.upper() != "ROOT":
        raise BVHError(f"line {ln}: expected ROOT, found {tok!r}")
    parse_joint(-1, ln)
    extra, ln = tk.peek()
    if extra is not None:
        raise BVHError(f"line {ln}: unexpected {extra!r} after the hierarchy (only one ROOT is supported)")
    if tk.motion_line is None:
        raise BVHError(f"line {tk.last_line}: no MOTION section")

    rest = tk.rest
    ml = tk.motion_line

    def header(idx: int, key: str) -> str:
        if idx >= len(rest):
            raise BVHError(f"line {ml + idx + 1}: file ends early, expected '{key}'")
        line = rest[idx]
        if not line.strip().lower().startswith(key.lower()):
            raise BVHError(f"line {ml + idx + 1}: expected '{key} ...', found {line.strip()[:40]!r}")
        return line.split(":", 1)[1].strip()

    try:
        n_frames = int(header(0, "Frames:"))
    except ValueError:
        raise BVHError(f"line {ml + 1}: frame count is not an integer") from None
    try:
        frame_time = float(header(1, "Frame Time:"))
    except ValueError:
        raise BVHError(f"line {ml + 2}: frame time is not a number") from None
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise BVHError(f"line {ml + 2}: frame time must be positive, got {frame_time}")
    if n_frames < 0:
        raise BVHError(f"line {ml + 1}: negative frame count")
    n_ch = sum(len(c) for c in channels)
    data_lines = [l for l in rest[2:]]
    # Trim trailing blank lines only
    while data_lines and not data_lines[-1].strip():
        data_lines.pop()
    if len(data_lines) < n_frames:
        raise BVHError(f"line {ml + 2 + len(data_lines)}: file ends after {len(data_lines)} of {n_frames} frames "
                       f"(truncated file?)")
    data_lines = data_lines[:n_frames]
    try:
        flat = np.array(" ".join(data_lines).split(), dtype=np.float64)
    except ValueError:
        for k, line in enumerate(data_lines):
            for tok in line.split():
                try:
                    float(tok)
                except ValueError:
                    raise BVHError(f"line {ml + 3 + k}: {tok!r} is not a number") from None
        raise
    if flat.size != n_frames * n_ch:
        for k, line in enumerate(data_lines):
            cnt = len(line.split())
            if cnt != n_ch:
                raise BVHError(f"line {ml + 3 + k}: frame {k} has {cnt} values, the hierarchy declares {n_ch} "
                               f"channels")
    if not np.all(np.isfinite(flat)):
        k = int(np.argwhere(~np.isfinite(flat))[0, 0]) // max(n_ch, 1)
        raise BVHError(f"line {ml + 3 + k}: frame {k} contains NaN or infinity")
    data = flat.reshape(n_frames, n_ch)

    try:
        skeleton = Skeleton(tuple(names), np.array(parents), np.array(offsets), end_sites)
    except SkeletonError as e:
        raise BVHError(f"invalid hierarchy: {e}") from None
    J = len(names)
    rot = np.zeros((n_frames, J, 4))
    rot[..., 3] = 1.0
    root_pos = np.tile(skeleton.offsets[0], (n_frames, 1))
    joint_translations = {}
    col = 0
    for j, chans in enumerate(channels):
        rot_order = "".join(_ROT[c] for c in chans if c in _ROT)
        rot_cols = [col + k for k, c in enumerate(chans) if c in _ROT]
        pos_cols = {_POS[c]: col + k for k, c in enumerate(chans) if c in _POS}
        if rot_order:
            rot[:, j] = np_euler_to_quat(rot_order, data[:, rot_cols], degrees=True)
        if pos_cols:
            tr = np.tile(skeleton.offsets[j], (n_frames, 1))
            for axis, c in pos_cols.items():
                tr[:, axis] = data[:, c]
            if j == 0:
                root_pos = tr
            else:
                joint_translations[names[j]] = tr
        col += len(chans)
    return BVHFile(skeleton, channels, frame_time, rot, root_pos, joint_translations, path)


def read_bvh(path: str | Path) -> BVHFile:
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise BVHError(f"cannot read {path}: {e.strerror}") from None
    try:
        return parse_bvh(text, str(path))
    except BVHError as e:
        raise BVHError(f"{path.name}: {e}") from None


# ------------------------------------------------------------------------------------------ units and up axis
def guess_up_axis(skeleton: Skeleton) -> str:
    """'Y' or 'Z' (or '-Y', ...): the axis from the feet to the head in the rest pose."""
    pos = skeleton.rest_positions()
    low = [i for i, n in enumerate(skeleton.names) if re.search(r"foot|toe|ankle", n, re.IGNORECASE)]
    high = [i for i, n in enumerate(skeleton.names) if re.search(r"head|neck", n, re.IGNORECASE)]
    if low and high:
        v = pos[high].mean(0) - pos[low].mean(0)
    else:
        v = pos.max(0) - pos.min(0)
        v = v * np.sign(pos.mean(0) - pos[0] + 1e-9)
    a = int(np.argmax(np.abs(v)))
    return ("" if v[a] > 0 else "-") + "XYZ"[a]


def floor_steadiness(skeleton: Skeleton, rotations: np.ndarray, root_pos: np.ndarray,
                     max_frames: int = 400) -> dict[str, tuple[float, float]] | None:
    """For each signed axis ('X', '-X', ... '-Z'): (spread of the per-frame lowest joint along it, the body's median
    extent along it), both over the skeleton's size. Along the real up axis the lowest joint keeps coming back to
    the floor (contacts), so its spread is small (median minus 5th percentile: airborne frames aside), and the
    floor side is steadier than the ceiling side. None for clips under 30 frames."""
    from ..kinematics import fk
    T = len(rotations)
    size = float(np.linalg.norm(np.ptp(skeleton.rest_positions(), 0)))
    if T < 30 or not size > 0:
        return None
    idx = np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int))
    pos = fk(rotations[idx], root_pos[idx], skeleton.offsets, skeleton.parents)[1]
    out = {}
    for a in range(3):
        ext = float(np.median(np.ptp(pos[..., a], 1))) / size
        for sign in (1.0, -1.0):
            floor = (sign * pos[..., a]).min(1)
            out[("" if sign > 0 else "-") + "XYZ"[a]] = (float(np.percentile(floor, 50) -
                                                              np.percentile(floor, 5)) / size, ext)
    return out


def guess_up_axis_for(f: BVHFile) -> str:
    """The up axis of a file: from its rest pose (:func:`guess_up_axis`), unless the motion clearly says otherwise
    (:func:`floor_steadiness`), as for clips whose rest pose lies on its side (a breakdance, LaFAN1's rest along X)
    or stands on its head (Character Creator BVH read as -Y). The motion wins when its steadiest floor is steady
    (under 5% of the body's size) and, for the same axis flipped, twice as steady as the rest guess's; for another
    axis, three times as steady (holding at least half the body's extent along the rest guess), or as steady with
    the body at least twice as tall along it (a walk along Z has a steady floor across X too)."""
    rest = guess_up_axis(f.skeleton)
    st = floor_steadiness(f.skeleton, f.rotations, f.root_pos)
    if st is None:
        return rest
    best = min(st, key=lambda k: st[k][0])
    spread, ext = st[best]
    r_spread, r_ext = st[rest]
    if best == rest or spread >= 0.05:
        return rest
    if best[-1] == rest[-1]:
        return best if spread < 0.5 * r_spread else rest
    clearly_steadier = spread < r_spread / 3.0 and r_spread > 0.1 and ext >= 0.5 * r_ext
    clearly_taller = ext >= 2.0 * r_ext and spread <= r_spread  # upright along it, the rest guess across the body
    return best if clearly_steadier or clearly_taller else rest


def guess_unit_scale(skeleton: Skeleton, up: str) -> float:
    """Factor from file units to metres, from the rest height (along the rest pose's feet-to-head axis, which is
    ``up`` unless the rest lies down): metres, centimetres, else an adult about 1.7 m tall."""
    # the rest pose's own feet-to-head axis: the up axis, or, for a rest lying across it (the motion stands up),
    # the axis the body lies along
    axis = "XYZ".index(guess_up_axis(skeleton)[-1])
    pos = skeleton.rest_positions()
    h = float(pos[:, axis].max() - pos[:, axis].min())
    if 0.4 < h < 3.0:
        return 1.0
    if 40 < h < 300:
        return 0.01
    if h > 0:
        return 1.7 / h  # unknown units: assume an adult about 1.7 m tall
    return 1.0


def axis_change_quat(up: str) -> np.ndarray:
    """Quaternion that rotates a file's up axis onto +Z (keeping the BVH convention's facing: +Z -> -Y for Y-up)."""
    table = {
        "Z": [0, 0, 0, 1], "Y": [np.sin(np.pi / 4), 0, 0, np.cos(np.pi / 4)],  # +90 deg about X: Y->Z, Z->-Y
        "-Y": [-np.sin(np.pi / 4), 0, 0, np.cos(np.pi / 4)], "-Z": [1, 0, 0, 0],
        "X": [0, -np.sin(np.pi / 4), 0, np.cos(np.pi / 4)], "-X": [0, np.sin(np.pi / 4), 0, np.cos(np.pi / 4)],
    }
    return np.array(table[up], np.float64)


def change_basis(motion: Motion, q: np.ndarray, scale: float) -> Motion:
    """Re-express a motion in a rotated (by q) and scaled world: offsets/root rotated and scaled, every local
    rotation conjugated (joint frames are world-aligned at rest, so they all rotate with the world)."""
    sk = motion.skeleton
    new_sk = Skeleton(sk.names, sk.parents, np_quat_apply(q, sk.offsets) * scale,
                      {k: np_quat_apply(q, v) * scale for k, v in sk.end_sites.items()})
    rot = np_quat_mul(np_quat_mul(q, motion.rotations), np_quat_inv(q))
    root = np_quat_apply(q, motion.root_pos) * scale
    return motion.copy(skeleton=new_sk, root_pos=root, rotations=rot)


def load_bvh(path: str | Path, up: str = "auto", scale: float | str = "auto") -> Motion:
    """Read a BVH into the project's world: Z up, metres. ``up``: 'auto' (rest pose, checked against the motion's
    floor: :func:`guess_up_axis_for`), 'Y', 'Z', '-Y'...; ``scale``: 'auto' or a factor from file units to metres.
    ``meta`` records both (``file_up_axis``, ``file_unit_scale``)."""
    f = read_bvh(path)
    up = guess_up_axis_for(f) if up == "auto" else up
    if up not in ("X", "Y", "Z", "-X", "-Y", "-Z"):
        raise BVHError(f"up axis must be 'auto', 'X', 'Y', 'Z', '-X', '-Y' or '-Z', got {up!r}")
    s = guess_unit_scale(f.skeleton, up) if scale == "auto" else float(scale)
    m = change_basis(f.motion(), axis_change_quat(up), s)
    m.meta.update({"source_file": str(path), "file_up_axis": up, "file_unit_scale": s})
    return m


# ------------------------------------------------------------------------------------------------------ writing
def write_bvh(motion: Motion, path: str | Path, *, rotation_order: str = "ZXY", unit_scale: float = 1.0,
              up: str = "Z", channels: list[list[str]] | None = None, precision: int = 6) -> None:
    """Write a motion as BVH.

    ``unit_scale`` multiplies lengths (100 writes centimetres from metres); ``up`` re-expresses the world with that
    axis up ('Y' for tools that expect Y-up BVH). ``channels`` may give each joint's channel list (e.g. from the
    file that was read), else the root gets XYZ position + ``rotation_order`` and other joints ``rotation_order``.
    """
    m = motion
    if up != "Z":
        m = change_basis(m, np_quat_inv(axis_change_quat(up)), 1.0)
    sk = m.skeleton
    if channels is None:
        rot_ch = [f"{a}rotation" for a in rotation_order.upper()]
        channels = [(["Xposition", "Yposition", "Zposition"] if j == 0 else []) + rot_ch for j in range(len(sk))]
    fmt = f"%.{precision}f"
    lines = ["HIERARCHY"]

    emitted = []  # the MOTION columns follow the hierarchy's order, which is not the skeleton's if it is not DFS

    def emit(j: int, depth: int):
        emitted.append(j)
        ind = "\t" * depth
        kind = "ROOT" if j == 0 else "JOINT"
        lines.append(f"{ind}{kind} {sk.names[j]}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET " + " ".join(fmt % v for v in sk.offsets[j] * unit_scale))
        lines.append(f"{ind}\tCHANNELS {len(channels[j])} " + " ".join(channels[j]))
        kids = sk.children(j)
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            site = sk.end_sites.get(j, np.zeros(3))
            lines.extend([f"{ind}\tEnd Site", f"{ind}\t{{",
                          f"{ind}\t\tOFFSET " + " ".join(fmt % v for v in np.asarray(site) * unit_scale),
                          f"{ind}\t}}"])
        lines.append(f"{ind}}}")

    if sk.roots != [0]:
        raise ValueError("BVH needs a single root joint")
    emit(0, 0)
    T = m.num_frames
    cols = []
    q = np_quat_fix_hemisphere(m.rotations)
    for j in emitted:
        chans = channels[j]
        rot_order = "".join(_ROT[c] for c in chans if c in _ROT)
        euler = np_quat_to_euler(rot_order, q[:, j], degrees=True) if rot_order else None
        k_rot = 0
        for c in chans:
            if c in _POS:
                src = m.root_pos if j == 0 else np.tile(sk.offsets[j], (T, 1))
                cols.append(src[:, _POS[c]] * unit_scale)
            else:
                cols.append(euler[:, k_rot])
                k_rot += 1
    data = np.stack(cols, axis=1) if cols else np.zeros((T, 0))
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / m.fps:.8f}"]
    lines += [" ".join(fmt % v for v in row) for row in data]
    Path(path).write_text("\n".join(lines) + "\n")
