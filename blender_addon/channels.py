"""Channel maths without bpy: rotation modes <-> quaternions, quaternion hemispheres, XYZW <-> WXYZ, frame timing.

This is the only place that converts between the wire's XYZW quaternions and Blender's WXYZ channels, and between
the artist's rotation modes (quaternion, Euler, axis-angle) and quaternions. Values are only moved, converted
between rotation representations and kept on the artist's quaternion hemisphere / Euler branch (``mathutils``
does the Euler branch work; no ``bpy`` here).
"""
from __future__ import annotations

import numpy as np
from mathutils import Euler, Quaternion


class SceneError(ValueError):
    """Something in the scene stops the job (no armature, no keys, NaN keys, unknown bones); for the artist."""


# ---------------------------------------------------------------------------------------- rotation modes
def channels_to_quat_wxyz(values: np.ndarray, mode: str) -> np.ndarray:
    """(N,C) channel values in ``mode`` -> (N,4) unit quaternions, WXYZ."""
    values = np.asarray(values, np.float64)
    if mode == "QUATERNION":
        q = values.copy()
    elif mode == "AXIS_ANGLE":
        q = np.array([Quaternion(v[1:4], v[0]) if np.linalg.norm(v[1:4]) > 1e-12 else Quaternion()
                      for v in values], np.float64).reshape(-1, 4)
    else:
        q = np.array([Euler(v, mode).to_quaternion() for v in values], np.float64).reshape(-1, 4)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < 1e-9):
        raise SceneError("a rotation key is a zero quaternion")
    return q / n


def quat_wxyz_to_channels(q: np.ndarray, mode: str, reference: np.ndarray | None = None,
                          anchors: dict | None = None) -> np.ndarray:
    """(N,4) WXYZ -> (N,C) channels in ``mode``, continuous in time.

    Quaternions keep the hemisphere of the previous frame; Euler angles the branch of the previous frame
    (``to_euler(mode, compat)``). ``anchors`` maps a row index to the artist's own channel values at that row:
    the sequence restarts from them, so written values join the artist's curves without a flip.
    """
    q = np.asarray(q, np.float64)
    anchors = anchors or {}
    if mode == "QUATERNION":
        return _continuous_signs(q, reference, anchors)
    if mode == "AXIS_ANGLE":
        out = np.empty((len(q), 4))
        for i, v in enumerate(q):
            axis, angle = Quaternion(v).to_axis_angle()
            out[i] = (angle, *axis)
        return out
    out = np.empty((len(q), 3))
    prev = None if reference is None else Euler(reference, mode)
    for i, v in enumerate(q):
        if i in anchors:
            prev = Euler(anchors[i], mode)
        e = Quaternion(v).to_euler(mode, prev) if prev is not None else Quaternion(v).to_euler(mode)
        out[i] = e
        prev = e
    return out


def _continuous_signs(q: np.ndarray, reference, anchors: dict) -> np.ndarray:
    """Flip rows of (N,4) ``q`` so each row is on the hemisphere of the previous one, restarting at anchor rows
    (sign chosen towards the anchor's value) and at row 0 (towards ``reference`` if given). Vectorised."""
    n = len(q)
    if n == 0:
        return q.copy()
    rel = np.ones(n)
    rel[1:] = np.where(np.sum(q[1:] * q[:-1], axis=1) < 0, -1.0, 1.0)
    chain = np.cumprod(rel)  # sign of row i relative to row 0 along the chain (+-1, so its own inverse)
    restart = {0: 1.0 if reference is None or float(np.dot(q[0], reference)) >= 0 else -1.0}
    for i, ref in anchors.items():
        if 0 <= i < n:
            restart[i] = 1.0 if float(np.dot(q[i], ref)) >= 0 else -1.0
    idx = np.zeros(n, int)
    idx[list(restart)] = list(restart)
    start = np.maximum.accumulate(idx)  # the restart row each row's chain begins at
    sign_at = np.zeros(n)
    sign_at[list(restart)] = list(restart.values())
    return q * (sign_at[start] * chain * chain[start])[:, None]


def hemisphere_continuous(q: np.ndarray) -> np.ndarray:
    """(T,...,4): flip signs so consecutive frames have a non-negative dot product (no long-way spins)."""
    q = np.array(q, np.float64)
    if len(q) < 2:
        return q
    d = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(d < 0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    return q


def xyzw_to_wxyz(q):
    return np.asarray(q)[..., [3, 0, 1, 2]]


def wxyz_to_xyzw(q):
    return np.asarray(q)[..., [1, 2, 3, 0]]


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def motion_frames(motion, fps: float) -> np.ndarray:
    """Scene frame numbers of a motion's samples (fractional when the motion's fps differs from the scene's)."""
    return motion.start_frame + np.arange(motion.num_frames) * (fps / motion.fps)


# ------------------------------------------------------------------------------------------ forward kinematics
def quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    """(...,4) unit WXYZ quaternions -> (...,3,3) rotation matrices."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1
                    ).reshape(q.shape[:-1] + (3, 3))


def pose_heads(rest: np.ndarray, parents, rot_wxyz: np.ndarray, locations: dict) -> np.ndarray:
    """(T,B,3) armature-space bone heads of a pose: ``rest`` (B,4,4) ``bone.matrix_local``, ``rot_wxyz`` (T,B,4)
    pose-bone rotations, ``locations`` {bone index: (T,3) pose-bone location} (others: zero). Pose-bone scale is
    taken as 1 (what retargeting sources carry). Bones are visited parents first, whatever their order."""
    rest = np.asarray(rest, np.float64)
    T, B = rot_wxyz.shape[:2]
    Rq = quat_wxyz_to_matrix(rot_wxyz)  # (T,B,3,3)
    PR = np.empty((T, B, 3, 3))
    Pt = np.empty((T, B, 3))
    done = np.zeros(B, bool)
    inv_rest = np.linalg.inv(rest)
    while not done.all():
        progressed = False
        for j in np.nonzero(~done)[0]:
            p = parents[j]
            if p >= 0 and not done[p]:
                continue
            rel = rest[j] if p < 0 else inv_rest[p] @ rest[j]
            loc = locations.get(int(j))
            t_local = rel[:3, 3] + (0.0 if loc is None else np.asarray(loc, np.float64) @ rel[:3, :3].T)
            R_local = rel[:3, :3] @ Rq[:, j]
            if p < 0:
                PR[:, j], Pt[:, j] = R_local, np.broadcast_to(t_local, (T, 3))
            else:
                PR[:, j] = PR[:, p] @ R_local
                Pt[:, j] = np.einsum("tij,tj->ti", PR[:, p], np.broadcast_to(t_local, (T, 3))) + Pt[:, p]
            done[j] = progressed = True
        if not progressed:
            raise SceneError("the armature's bone parents form a loop")
    return Pt


def lowest_height(rest, parents, rot_wxyz, locations: dict, matrix_world, max_frames: int = 240) -> float:
    """The lowest world height any bone head reaches over a motion (at most ``max_frames`` evenly spread frames):
    where the feet meet the ground the motion was made on."""
    T = len(rot_wxyz)
    idx = np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int))
    heads = pose_heads(rest, parents, np.asarray(rot_wxyz)[idx], {j: np.asarray(v)[idx] for j, v in locations.items()})
    mw = np.asarray(matrix_world, np.float64)
    return float((heads @ mw[2, :3] + mw[2, 3]).min())


# ------------------------------------------------------------------------------------------------ root motion
def in_place(root_location: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """(T,3) root-bone locations with the horizontal travel removed: ``turn`` (3,3) takes a location into world
    axes (the armature's world rotation times the root bone's rest rotation); the world x/y displacement is held
    at the first frame's, the height and every rotation stay."""
    turn = np.asarray(turn, np.float64)
    world = np.asarray(root_location, np.float64) @ turn.T
    world[:, :2] = world[:1, :2]
    return (world @ np.linalg.inv(turn).T).astype(np.float32)


def crop_motion(motion, first: int, last: int, scene_fps: float | None = None):
    """A wire motion cut to the scene frames ``first..last`` (inclusive). Its samples sit at
    ``start_frame + i * scene_fps / motion.fps`` (``scene_fps`` None: the motion's own rate)."""
    import dataclasses
    step = (scene_fps or motion.fps) / motion.fps  # scene frames per sample
    lo = max(0, int(np.ceil((first - motion.start_frame) / step - 1e-6)))
    hi = min(motion.num_frames, int(np.floor((last - motion.start_frame) / step + 1e-6)) + 1)
    if lo == 0 and hi == motion.num_frames:
        return motion
    cut = {"rotations_xyzw": motion.rotations_xyzw[lo:hi], "root_translation": motion.root_translation[lo:hi],
           "start_frame": round(motion.start_frame + lo * step)}
    if getattr(motion, "locations", None) is not None:
        cut["locations"] = motion.locations[lo:hi]
    return dataclasses.replace(motion, **cut)


def compose_with_pose(motion, current: dict):
    """A result solved against "the current pose as the rest" back on the real rest: each channel becomes the
    current pose-bone channel followed by the result's (``basis = current @ result``; rotation ``q_cur * q``,
    location ``t_cur + R_cur t``). ``current``: ``{bone: (rotation WXYZ, location)}``; scale 1."""
    import dataclasses
    q = np.array(motion.rotations_xyzw, np.float64)[..., [3, 0, 1, 2]]
    out_q = np.empty_like(q)
    for j, b in enumerate(motion.bones):
        qc = current[b][0]
        out_q[:, j] = _quat_mul(np.broadcast_to(qc, q[:, j].shape), q[:, j])

    def moved(bone, loc):
        qc, tc = current[bone]
        return (tc + np.asarray(loc, np.float64) @ quat_wxyz_to_matrix(qc).T).astype(np.float32)

    root = motion.root_bone or motion.bones[0]
    cut = {"rotations_xyzw": out_q[..., [1, 2, 3, 0]].astype(np.float32),
           "root_translation": moved(root, motion.root_translation)}
    if getattr(motion, "locations", None) is not None:
        cut["locations"] = np.stack([moved(b, motion.locations[:, i]) for i, b in enumerate(motion.location_bones)], 1)
    return dataclasses.replace(motion, **cut)


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (...,4) WXYZ quaternions."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)
