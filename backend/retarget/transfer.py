"""Rotation transfer between two skeletons through world-space rest offsets.

Each side has a *reference pose* (its rest pose, or a T-pose frame such as the one Character Creator BVH files
prepend). For a mapped pair (source bone s, target bone d) the target's world rotation is::

    W_d(t) = C  G_s(t) G_s,ref^-1  C^-1  A_sd  G_d,ref

``G_s(t) G_s,ref^-1`` is how far the source bone has turned from its reference pose (world space); ``C`` turns the
source world onto the target's (heading; both sides are Z-up already); ``A_sd`` is the per-bone rest offset: the
rotation that takes the target bone's reference frame onto the source bone's, built from the bone direction
(towards the next mapped joint) and a body axis (forward, across or up, whichever is least parallel). So a T-pose
source drives an A-pose target with the same world-space limb directions, and bone rolls do not matter.

Unmapped target joints that sit between two mapped ones on the axial chain (a 5-bone spine driven by a 3-joint one,
a 2-bone neck) share the bend: their world delta is slerped between their mapped ancestor's and descendant's. Other
unmapped joints (fingers, twist bones, props, CMU's hip connectors) keep their reference-pose local rotation.

Root: the target's hip centre (mid-point of its mapped left and right hips) follows the source's, scaled by the
ratio of leg lengths about each side's ground point::

    anchor_d(t) = (0, 0, ground_d) + scale * C (anchor_s(t) - (0, 0, ground_s))

so the hips' translation is never dropped, a child-sized character takes child-sized steps, and feet that touch the
source's floor touch the target's. ``ground`` is the world height of each side's floor (0 for the canonical world and
BVH files; a rig's rest-pose floor otherwise, see :mod:`backend.retarget.api`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..motion.kinematics import depth_levels, fk, fk_positions, fk_rotations, global_to_local
from ..motion.motion import Motion
from ..motion.rotations import np_matrix_to_quat, np_quat_apply, np_quat_inv, np_quat_mul, np_quat_slerp
from ..motion.skeleton import Skeleton


class RetargetError(ValueError):
    """Retargeting cannot proceed (no legs, unmapped hips, bad pose data)."""


LEG_CHAINS = (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle"))
_UP_CHAIN = (3, 6, 9, 12, 15)  # canonical indices of spine1, spine2, spine3, neck, head
_AXIAL = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")


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
    src_anchor: tuple[int, int] = (0, 0)  # (left hip, right hip) joints whose mid-point is the root anchor
    dst_anchor: tuple[int, int] = (0, 0)
    src_ground: float = 0.0
    dst_ground: float = 0.0
    fill: list = None  # [(target joint, mapped ancestor or -1, mapped descendant, fraction)] in-chain blends


def _drop(sk: Skeleton, ref_pos: np.ndarray, ref_rot: np.ndarray, j: int) -> float:
    """Height of joint j over the lowest point (head or leaf tail) of its subtree in the reference pose."""
    low, stack = ref_pos[j, 2], [j]
    while stack:
        k = stack.pop()
        low = min(low, ref_pos[k, 2])
        kids = sk.children(k)
        if not kids and k in sk.end_sites:
            low = min(low, (ref_pos[k] + np_quat_apply(ref_rot[k], np.asarray(sk.end_sites[k], np.float64)))[2])
        stack.extend(kids)
    return float(ref_pos[j, 2] - low)


def _leg_length(sk: Skeleton, ref_pos: np.ndarray, chain: list[int]) -> float:
    return float(sum(np.linalg.norm(ref_pos[a] - ref_pos[b]) for a, b in itertools.pairwise(chain)))


def align(src: Skeleton, dst: Skeleton, joint_map: dict[str, str], src_ref_local: np.ndarray | None = None,
          dst_ref_local: np.ndarray | None = None, dst_semantics: dict[str, str] | None = None,
          src_ground: float = 0.0, dst_ground: float = 0.0) -> Alignment:
    """Prepare a transfer. ``joint_map`` maps target joint names to source joint names.

    ``dst_semantics`` names, for the target, which joints are the canonical ``left_hip``, ``right_hip``,
    ``left_knee``, ... (identity when the target is the canonical skeleton); the source side is found through the map.
    ``src_ground`` / ``dst_ground``: world height of each side's floor (see module docstring).
    """
    if len(set(joint_map.values())) != len(joint_map):
        dup = next(s for s in joint_map.values() if list(joint_map.values()).count(s) > 1)
        raise RetargetError(f"bone map sends source joint {dup!r} to more than one target joint")
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

    # leg length ratio (averaged over both legs); a leg mapped by its hip alone (a single-bone leg) compares the
    # hips' heights over the lowest point below them on each side
    ratios = []
    for chain in LEG_CHAINS:
        if all(sem.get(n) in joint_map for n in chain):
            pairs_c = [need(n) for n in chain]
            ld = _leg_length(dst, dp, [d for d, _ in pairs_c])
            ls = _leg_length(src, sp, [s for _, s in pairs_c])
        else:
            d, s_ = need(chain[0])
            ld, ls = _drop(dst, dp, dg, d), _drop(src, sp, sg, s_)
        if ls > 1e-6 and ld > 1e-6:
            ratios.append(ld / ls)
    if not ratios:
        raise RetargetError("leg chains have zero length in the reference pose")
    scale = float(np.mean(ratios))

    mapped_dst = {dst.index(d): src.index(s) for d, s in joint_map.items()}
    pairs = sorted(mapped_dst.items())

    from ..motion.skeleton import CANONICAL_JOINTS
    canon_rank = {dst.index(d): CANONICAL_JOINTS.index(c) for c, d in sem.items()
                  if c in CANONICAL_JOINTS and d in dst.index_of}

    def mapped_descendant(j: int) -> int | None:
        """The mapped child of target joint j in the mapped tree (mapped descendants with no mapped joint between):
        the next one up the spine if there is one, else the first in canonical order, so both directions of a
        retarget (rig -> canonical and back) build the same frames."""
        found, frontier = [], list(dst.children(j))
        while frontier:
            nxt = []
            for c in frontier:
                if c in mapped_dst:
                    found.append(c)
                else:
                    nxt.extend(dst.children(c))
            frontier = nxt
        if not found:
            return None
        # up the spine first (pelvis -> spine1, chest -> neck): every rig agrees on "up", while the hips' and collars'
        # offsets from their parent differ from rig to rig and would tilt the parent
        return min(found, key=lambda c: (canon_rank.get(c, 10_000) not in _UP_CHAIN, canon_rank.get(c, 10_000), c))

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
    offsets = np.zeros((0, 4))
    a_by_dst: dict[int, np.ndarray] = {}
    for d, s in pairs:
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
            ps = vs / np.linalg.norm(vs)
            # the body axis least parallel to the bone on both sides (forward, then across, then up on ties)
            k_ax = min(range(3), key=lambda i: (round(max(abs(pd.dot(body_axes_d[i])), abs(ps.dot(body_axes_s[i]))), 1), i))
            ax_d, ax_s = body_axes_d[k_ax], body_axes_s[k_ax]
            Fd = _frame(vd, ax_d)
            Fs = _frame(vs_w, C @ ax_s)
            A = Fs @ Fd.T
        a_by_dst[d] = A
    # offsets = C^-1-free form: W_d(t) = C Gs(t) Gs_ref^-1 C^-1 A Gd_ref (all pairs in one conversion)
    if pairs:
        offsets = np_quat_mul(np_matrix_to_quat(np.stack([C.T @ a_by_dst[d] for d, _ in pairs])),
                              dg[[d for d, _ in pairs]])
    axial = {dst.index(d) for c, d in sem.items() if c in _AXIAL and d in dst.index_of}
    return Alignment(src, dst, pairs, sg, dst_ref_local, dg, offsets, heading, scale, ships, dhips,
                     (slh, srh), (dlh, drh), float(src_ground), float(dst_ground), _chain_fill(dst, mapped_dst, axial))


def _chain_fill(dst: Skeleton, mapped: dict[int, int], axial: set[int]) -> list:
    """Unmapped target joints between a mapped ancestor and a single mapped descendant on the axial chain (pelvis,
    spine, neck, head: a 5-bone spine driven by a 3-joint one), with their fraction along it (by depth). Connector
    bones elsewhere (CMU's LHipJoint between hips and thigh) stay rigid with their parent."""
    out = []
    for j in range(len(dst)):
        if j in mapped:
            continue
        a, da = dst.parents[j], 1
        while a >= 0 and a not in mapped:
            a, da = dst.parents[a], da + 1
        if a < 0:
            continue
        # mapped descendants reached through chains of unmapped joints
        found, frontier = [], [(c, 1) for c in dst.children(j)]
        while frontier:
            nxt = []
            for c, d in frontier:
                if c in mapped:
                    found.append((c, d))
                else:
                    nxt.extend((g, d + 1) for g in dst.children(c))
            frontier = nxt
        if len(found) != 1:
            continue  # a leaf branch (fingers, props) or a fork: keep the reference pose
        c, dc = found[0]
        if a not in axial or c not in axial:
            continue
        out.append((j, a, c, da / (da + dc)))
    return out


def transfer(motion: Motion, al: Alignment) -> Motion:
    """Retarget ``motion`` (on ``al.src``) onto ``al.dst`` (see module docstring for the formula)."""
    if not motion.skeleton.same_as(al.src) and motion.skeleton.names != al.src.names:
        raise RetargetError("motion is not on the alignment's source skeleton")
    T = motion.num_frames
    g_src = fk_rotations(motion.rotations, al.src.parents)
    p_src = fk_positions(motion.rotations, motion.root_pos, al.src.offsets, al.src.parents, al.src_anchor)
    dst = al.dst
    Jd = len(dst)
    C = al.heading
    # mapped target joints, all at once: world = delta * G_d,ref with delta = C G_s(t) G_s,ref^-1 C^-1 A_sd (doc)
    d_idx = np.array([d for d, _ in al.pairs], np.intp)
    s_idx = np.array([s for _, s in al.pairs], np.intp)
    d_src = np_quat_mul(g_src[:, s_idx], np_quat_inv(al.src_ref_global[s_idx]))
    w = np_quat_mul(np_quat_mul(C, d_src), al.offsets)
    delta = np_quat_mul(w, np_quat_inv(al.dst_ref_global[d_idx]))  # (T, pairs, 4)
    world = np.empty((T, Jd, 4))
    world[:, d_idx] = np_quat_mul(delta, al.dst_ref_global[d_idx])
    done = np.zeros(Jd, bool)
    done[d_idx] = True
    if al.fill:  # in-chain joints share the bend: slerp between the mapped ancestor's and descendant's deltas
        col = {d: k for k, d in enumerate(d_idx)}
        j_f = np.array([j for j, _, _, _ in al.fill], np.intp)
        da = delta[:, [col[a] for _, a, _, _ in al.fill]]
        dc = delta[:, [col[c] for _, _, c, _ in al.fill]]
        frac = np.array([f for _, _, _, f in al.fill])
        d = np_quat_slerp(np_quat_fix_hemisphere_pair(da, dc), dc, np.broadcast_to(frac, da.shape[:2]))
        world[:, j_f] = np_quat_mul(d, al.dst_ref_global[j_f])
        done[j_f] = True
    # every other joint keeps its reference local rotation under its parent's world rotation, level by level
    for lv, (idx, par) in enumerate(depth_levels(tuple(int(p) for p in dst.parents))):
        keep = ~done[idx]
        idx, par = idx[keep], par[keep]
        if len(idx):
            ref = al.dst_ref_local[idx]
            world[:, idx] = np.broadcast_to(ref, (T,) + ref.shape) if lv == 0 else np_quat_mul(world[:, par], ref)
    local = global_to_local(world, dst.parents)
    # root: put the target's hip centre where the scaled source hip centre is (see module docstring)
    src_anchor = 0.5 * (p_src[:, 0] + p_src[:, 1])
    src_anchor = src_anchor - np.array([0.0, 0.0, al.src_ground])
    target = np_quat_apply(C, src_anchor) * al.scale + np.array([0.0, 0.0, al.dst_ground])
    root0 = np.tile(dst.offsets[0], (T, 1))
    p_dst = fk_positions(local, root0, dst.offsets, dst.parents, al.dst_anchor)
    root = root0 + (target - 0.5 * (p_dst[:, 0] + p_dst[:, 1]))
    return Motion.computed(dst, motion.fps, root, local, meta=motion.meta)


def np_quat_fix_hemisphere_pair(q: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """q with its sign flipped where it is in the other hemisphere from ref (so slerp takes the short way)."""
    return np.where((np.sum(q * ref, axis=-1, keepdims=True) < 0), -q, q)

