"""Rotation transfer between two skeletons through world-space rest offsets.

Each side has a *reference pose* (its rest pose, or a T-pose frame such as the one Character Creator BVH files
prepend). For a mapped pair (source bone s, target bone d) the target's world rotation is::

    W_d(t) = C  G_s(t) G_s,ref^-1  C^-1  A_sd  G_d,ref

``G_s(t) G_s,ref^-1`` is how far the source bone has turned from its reference pose (world space); ``C`` turns the
source world onto the target's (heading; both sides are Z-up already); ``A_sd`` is the per-bone rest offset: the
rotation that takes the target bone's reference frame onto the source bone's, built from the bone direction
(towards the next mapped joint) and a body axis (forward, across or up, whichever is least parallel). So a T-pose
source drives an A-pose target with the same world-space limb directions, and bone rolls do not matter.

Unmapped target joints keep their reference-pose local rotation. The target's root follows the source's mapped hips,
scaled by the ratio of leg lengths.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.kinematics import fk, global_to_local
from ..motion.motion import Motion
from ..motion.rotations import np_matrix_to_quat, np_quat_apply, np_quat_inv, np_quat_mul
from ..motion.skeleton import Skeleton


class RetargetError(ValueError):
    """Retargeting cannot proceed (no legs, unmapped hips, bad pose data)."""


LEG_CHAINS = (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle"))


@dataclass
class BodyFrame:
    """Body axes of a skeleton in its reference pose (world space): up (+Z), across (right -> left), forward."""
    up: np.ndarray
    across: np.ndarray
    forward: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        return np.stack([self.across, -self.forward, self.up], axis=1)  # columns: +X = left, +Y = back, +Z = up


def body_frame(ref_pos: np.ndarray, left: int, right: int) -> BodyFrame:
    up = np.array([0.0, 0.0, 1.0])
    across = ref_pos[left] - ref_pos[right]
    across = across - up * across.dot(up)
    n = np.linalg.norm(across)
    if n < 1e-8:
        raise RetargetError("cannot tell left from right: the left and right hips coincide in the reference pose")
    across /= n
    forward = np.cross(across, up)
    return BodyFrame(up, across, forward)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    p = primary / np.linalg.norm(primary)
    s = secondary - p * secondary.dot(p)
    s /= np.linalg.norm(s)
    return np.stack([p, s, np.cross(p, s)], axis=1)


def _far_point(sk: Skeleton, pos: np.ndarray, start: int, target: int, eps: float = 0.01) -> np.ndarray:
    """``pos[target]``, or, when it sits on ``start`` (zero-length bones, e.g. a neck joint placed where the chest
    joint is), the first descendant of ``target`` at least ``eps`` metres away (breadth first)."""
    if np.linalg.norm(pos[target] - pos[start]) > eps:
        return pos[target]
    frontier = sk.children(target)
    while frontier:
        for c in frontier:
            if np.linalg.norm(pos[c] - pos[start]) > eps:
                return pos[c]
        frontier = [g for c in frontier for g in sk.children(c)]
    return pos[target]


@dataclass
class Alignment:
    """Everything :func:`transfer` needs, computed once per (source, target, map, reference poses)."""
    src: Skeleton
    dst: Skeleton
    pairs: list[tuple[int, int]]  # (source joint, target joint)
    src_ref_global: np.ndarray  # (Js,4)
    dst_ref_local: np.ndarray  # (Jd,4)
    dst_ref_global: np.ndarray  # (Jd,4)
    offsets: np.ndarray  # (len(pairs),4): A_sd G_d,ref
    heading: np.ndarray  # (4,) C
    scale: float  # target leg length / source leg length
    src_hips: int
    dst_hips: int


def _leg_length(sk: Skeleton, ref_pos: np.ndarray, chain: list[int]) -> float:
    return float(sum(np.linalg.norm(ref_pos[a] - ref_pos[b]) for a, b in zip(chain[:-1], chain[1:])))


def align(src: Skeleton, dst: Skeleton, joint_map: dict[str, str], src_ref_local: np.ndarray | None = None,
          dst_ref_local: np.ndarray | None = None, dst_semantics: dict[str, str] | None = None) -> Alignment:
    """Prepare a transfer. ``joint_map`` maps target joint names to source joint names.

    ``dst_semantics`` names, for the target, which joints are the canonical ``left_hip``, ``right_hip``,
    ``left_knee``, ... (identity when the target is the canonical skeleton); the source side is found through the map.
    """
    sem = dict(dst_semantics or {n: n for n in dst.names})
    for d, s in joint_map.items():
        if d not in dst.index_of:
            raise RetargetError(f"bone map names target joint {d!r}, which the target skeleton does not have")
        if s not in src.index_of:
            raise RetargetError(f"bone map names source joint {s!r}, which the source skeleton does not have")
    ident = lambda sk: np.tile([0, 0, 0, 1.0], (len(sk), 1))
    src_ref_local = ident(src) if src_ref_local is None else np.asarray(src_ref_local, np.float64)
    dst_ref_local = ident(dst) if dst_ref_local is None else np.asarray(dst_ref_local, np.float64)
    sg, sp = fk(src_ref_local, src.offsets[0], src.offsets, src.parents)
    dg, dp = fk(dst_ref_local, dst.offsets[0], dst.offsets, dst.parents)

    def need(name):
        d = sem.get(name)
        if d is None or d not in joint_map:
            raise RetargetError(f"the bone map has no {name.replace('_', ' ')}: retargeting needs hips and legs "
                                f"(left/right hip, knee, ankle) on both rigs")
        return dst.index(d), src.index(joint_map[d])

    (dlh, slh), (drh, srh), (dhips, ships) = need("left_hip"), need("right_hip"), need("pelvis")
    fs, fd = body_frame(sp, slh, srh), body_frame(dp, dlh, drh)
    heading = np_matrix_to_quat(fd.matrix @ fs.matrix.T)
    C = fd.matrix @ fs.matrix.T

    # leg length ratio (averaged over both legs)
    ratios = []
    for chain in LEG_CHAINS:
        pairs_c = [need(n) for n in chain]
        ld = _leg_length(dst, dp, [d for d, _ in pairs_c])
        ls = _leg_length(src, sp, [s for _, s in pairs_c])
        if ls > 1e-6 and ld > 1e-6:
            ratios.append(ld / ls)
    if not ratios:
        raise RetargetError("leg chains have zero length in the reference pose")
    scale = float(np.mean(ratios))

    mapped_dst = {dst.index(d): src.index(s) for d, s in joint_map.items()}
    pairs = sorted(mapped_dst.items())

    def mapped_descendant(j: int) -> int | None:
        """Nearest mapped descendant of target joint j (breadth first)."""
        frontier = dst.children(j)
        while frontier:
            for c in frontier:
                if c in mapped_dst:
                    return c
            frontier = [g for c in frontier for g in dst.children(c)]
        return None

    def tip_direction(sk: Skeleton, pos: np.ndarray, grot: np.ndarray, j: int):
        kids = sk.children(j)
        if kids:
            v = np.mean([pos[c] for c in kids], axis=0) - pos[j]
        elif j in sk.end_sites:
            v = np_quat_apply(grot[j], np.asarray(sk.end_sites[j], np.float64))
        else:
            return None
        return v if np.linalg.norm(v) > 1e-4 * max(1.0, np.abs(pos).max()) else None

    body_axes_s = [fs.forward, fs.across, fs.up]
    body_axes_d = [fd.forward, fd.across, fd.up]
    offsets = np.zeros((len(pairs), 4))
    a_by_dst: dict[int, np.ndarray] = {}
    for k, (d, s) in enumerate(pairs):
        c = mapped_descendant(d)
        vd = vs = None
        if c is not None:
            vd = _far_point(dst, dp, d, c) - dp[d]
            vs = _far_point(src, sp, s, mapped_dst[c]) - sp[s]
        else:
            vd, vs = tip_direction(dst, dp, dg, d), tip_direction(src, sp, sg, s)
        if vd is None or vs is None or np.linalg.norm(vd) < 1e-6 or np.linalg.norm(vs) < 1e-6:
            # no usable direction: inherit the parent's rest offset (or none at the root)
            p = dst.parents[d]
            while p >= 0 and p not in a_by_dst:
                p = dst.parents[p]
            A = a_by_dst.get(p, C)
        else:
            vs_w = C @ vs
            pd = vd / np.linalg.norm(vd)
            for ax_d, ax_s in zip(body_axes_d, body_axes_s):
                if abs(pd.dot(ax_d)) < 0.7:
                    break
            Fd = _frame(vd, ax_d)
            Fs = _frame(vs_w, C @ ax_s)
            A = Fs @ Fd.T
        a_by_dst[d] = A
        # offsets[k] = C^-1-free form: W_d(t) = C Gs(t) Gs_ref^-1 C^-1 A Gd_ref
        offsets[k] = np_quat_mul(np_matrix_to_quat(C.T @ A), dg[d])
    return Alignment(src, dst, pairs, sg, dst_ref_local, dg, offsets, heading, scale, ships, dhips)


def transfer(motion: Motion, al: Alignment) -> Motion:
    """Retarget ``motion`` (on ``al.src``) onto ``al.dst`` (see module docstring for the formula)."""
    if not motion.skeleton.same_as(al.src):
        if motion.skeleton.names != al.src.names:
            raise RetargetError("motion is not on the alignment's source skeleton")
    T = motion.num_frames
    g_src, p_src = fk(motion.rotations, motion.root_pos, al.src.offsets, al.src.parents)
    dst = al.dst
    Jd = len(dst)
    # start from the reference pose everywhere, then set mapped joints' world rotations
    world = np.empty((T, Jd, 4))
    local_ref = np.broadcast_to(al.dst_ref_local, (T, Jd, 4))
    mapped = {d: k for k, (d, _) in enumerate(al.pairs)}
    C = al.heading
    for j in range(Jd):
        p = dst.parents[j]
        if j in mapped:
            k = mapped[j]
            s = al.pairs[k][1]
            delta = np_quat_mul(g_src[:, s], np_quat_inv(al.src_ref_global[s]))
            world[:, j] = np_quat_mul(np_quat_mul(C, delta), al.offsets[k])
        else:
            world[:, j] = local_ref[:, j] if p < 0 else np_quat_mul(world[:, p], local_ref[:, j])
    local = global_to_local(world, dst.parents)
    # root: place the target hips where the scaled source hips are
    hips_target = np_quat_apply(C, p_src[:, al.src_hips]) * al.scale
    root0 = np.tile(dst.offsets[0], (T, 1))
    _, p_dst = fk(local, root0, dst.offsets, dst.parents)
    root = root0 + (hips_target - p_dst[:, al.dst_hips])
    out = Motion(dst, motion.fps, root, local, meta=dict(motion.meta))
    return out

