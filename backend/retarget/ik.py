"""Analytic two-bone IK (numpy, batched over frames) on world-aligned motions.

A limb is three joints ``a`` (hip / shoulder), ``b`` (knee / elbow), ``c`` (ankle / wrist). To put ``c`` on a target
``t`` with the bone lengths kept, the law of cosines places the new knee on the circle around the line a -> t::

    x = (|ab|^2 - |bc|^2 + |at|^2) / (2 |at|),   h = sqrt(|ab|^2 - x^2),   b' = a + x d + h v

with ``d`` the unit direction a -> t and ``v`` the pole direction made perpendicular to ``d``. The pole is where the
knee points now when the limb is clearly bent (the animation's own knee direction is kept), and the front of the
limb's rest hinge axis carried by a's rotation when it is nearly straight (blended in between, so it never jumps).
``a`` turns by the shortest arc taking b to b', ``b`` by the shortest arc taking the shin onto t; the end joint keeps
its world rotation (a planted foot keeps its orientation), so its local rotation is recomputed. Targets out of reach
are clamped to the limb's full length.
"""
from __future__ import annotations

import numpy as np

from ..motion.motion import Motion
from ..motion.rotations import np_quat_apply, np_quat_between, np_quat_inv, np_quat_mul


def _norm(v, eps=1e-12):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps), n[..., 0]


def _axis_angle(axis, angle):
    axis, _ = _norm(axis)
    h = 0.5 * angle[..., None]
    return np.concatenate([axis * np.sin(h), np.cos(h)], -1)


def two_bone_ik_rotations(a, b, c, t, g_a, g_b, rest_bend_axis, eps=1e-4):
    """World rotations (XYZW) of joints a and b that put c on t. Shapes: positions (N,3), rotations (N,4);
    ``rest_bend_axis`` (3,) is the limb's hinge axis at rest (world-aligned rest frame of a; e.g. -X for a left
    knee, so that the knee goes forward)."""
    lab = np.linalg.norm(b - a, axis=-1)
    lcb = np.linalg.norm(c - b, axis=-1)
    d, lat = _norm(t - a)
    lat = np.clip(lat, np.abs(lab - lcb) + eps, lab + lcb - eps)
    t = a + d * lat[:, None]
    # pole: where the knee points now, or (limb nearly straight) forward of the hinge carried by a's rotation
    u, _ = _norm(c - a)
    off = (b - a) - u * np.sum((b - a) * u, -1, keepdims=True)
    hinge = np_quat_apply(g_a, np.broadcast_to(np.asarray(rest_bend_axis, np.float64), a.shape))
    fwd = np.cross(hinge, u)
    off_n, off_len = _norm(off)
    fwd_n, _ = _norm(fwd)
    w = np.clip((off_len / np.maximum(lab, 1e-9) - 0.05) / 0.15, 0.0, 1.0)[:, None]
    pole = w * off_n + (1 - w) * fwd_n
    v = pole - d * np.sum(pole * d, -1, keepdims=True)
    v, v_len = _norm(v)
    # degenerate pole (pointing along the limb): any perpendicular
    alt = np.cross(d, np.where(np.abs(d[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    v = np.where((v_len < 1e-9)[:, None], _norm(alt)[0], v)
    x = (lab ** 2 - lcb ** 2 + lat ** 2) / (2 * lat)
    h = np.sqrt(np.clip(lab ** 2 - x ** 2, 0.0, None))
    b_new = a + d * x[:, None] + v * h[:, None]
    r_a = np_quat_between(b - a, b_new - a)
    shin = np_quat_apply(r_a, c - b)
    r_b = np_quat_between(shin, t - b_new)
    return np_quat_mul(r_a, g_a), np_quat_mul(np_quat_mul(r_b, r_a), g_b)


def fk_subset(motion: Motion, joints, rotations: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics for ``joints`` and their ancestors only (a leg of a 65-bone rig is 6 joints, not 65).
    Returns full-size (T,J,4) / (T,J,3) arrays (views of joint-major ones) in which only those joints are filled (the
    others hold arbitrary values: read only the joints asked for and their ancestors). ``rotations``: use these local
    rotations instead of the motion's (a solve in progress)."""
    sk = motion.skeleton
    rotations = motion.rotations if rotations is None else rotations
    need = set()
    for j in joints:
        k = int(j)
        while k >= 0 and k not in need:
            need.add(k)
            k = int(sk.parents[k])
    T, J = motion.num_frames, len(sk)
    # joint-major storage, returned as (T, J, .) views: only the walked joints' memory is ever touched
    g = np.empty((J, T, 4))
    p = np.empty((J, T, 3))
    for j in sorted(need):
        par = int(sk.parents[j])
        if par < 0:
            g[j] = rotations[:, j]
            p[j] = motion.root_pos + (sk.offsets[j] if j > 0 else 0.0)
        else:
            g[j] = np_quat_mul(g[par], rotations[:, j])
            p[j] = p[par] + np_quat_apply(g[par], sk.offsets[j])
    return g.transpose(1, 0, 2), p.transpose(1, 0, 2)


def solve_limb(motion: Motion, chain: tuple[int, int, int], targets: np.ndarray, weights: np.ndarray,
               rest_bend_axis: np.ndarray) -> Motion:
    """Move ``chain = (a, b, c)`` of ``motion`` so that c reaches ``targets`` (T,3) on frames with weight > 0
    (the target itself is already blended by the caller: weight only marks frames to touch). c keeps its world
    rotation. Returns a new motion; frames with weight 0 are untouched."""
    return motion.copy(rotations=solve_limb_rotations(motion, chain, targets, weights, rest_bend_axis))


def solve_limb_rotations(motion: Motion, chain: tuple[int, int, int], targets: np.ndarray, weights: np.ndarray,
                         rest_bend_axis: np.ndarray, rotations: np.ndarray | None = None, fk=None,
                         copy: bool = True) -> np.ndarray:
    """:func:`solve_limb` on local rotation arrays: the new (T,J,4) rotations (``rotations``, default the motion's,
    are not changed). Chained solves pass arrays along and make one motion at the end. ``fk``: the caller's
    :func:`fk_subset` of ``rotations`` covering the chain (not computed again); ``copy=False``: write into
    ``rotations`` (an array the caller owns) and return it."""
    a, b, c = chain
    sk = motion.skeleton
    rotations = motion.rotations if rotations is None else rotations
    on = np.asarray(weights) > 0
    if not on.any():
        return rotations.copy() if copy else rotations
    g, p = fk_subset(motion, chain, rotations) if fk is None else fk
    ga_new, gb_new = two_bone_ik_rotations(p[on, a], p[on, b], p[on, c], np.asarray(targets)[on], g[on, a], g[on, b],
                                           rest_bend_axis)
    rot = rotations.copy() if copy else rotations
    pa, pb = sk.parents[a], sk.parents[b]
    g_pa = g[on, pa] if pa >= 0 else np.tile([0, 0, 0, 1.0], (on.sum(), 1))
    rot[on, a] = np_quat_mul(np_quat_inv(g_pa), ga_new)
    # joints between a and b (rare: unmapped in-chain bones) keep their locals; b's local makes its world = gb_new
    chain_ab = []
    k = pb
    while k != a and k >= 0:
        chain_ab.append(k)
        k = sk.parents[k]
    g_parent_b = ga_new
    for k in reversed(chain_ab):
        g_parent_b = np_quat_mul(g_parent_b, rot[on, k])
    rot[on, b] = np_quat_mul(np_quat_inv(g_parent_b), gb_new)
    # c keeps its world rotation: recompute the local of c relative to its (new) parent
    chain_bc = []
    k = sk.parents[c]
    while k != b and k >= 0:
        chain_bc.append(k)
        k = sk.parents[k]
    g_parent_c = gb_new
    for k in reversed(chain_bc):
        g_parent_c = np_quat_mul(g_parent_c, rot[on, k])
    rot[on, c] = np_quat_mul(np_quat_inv(g_parent_c), g[on, c])
    return rot
