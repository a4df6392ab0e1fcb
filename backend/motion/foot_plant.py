"""Foot-contact cleanup after sampling: planted feet stay planted.

The model predicts four contact channels (left ankle, left toe, right ankle, right toe). A joint is pinned on the
frames where its contact is predicted *and* it is near the floor (within ``height_margin`` of its rest height).
During each contact span its ground position is held at the span's mean (heights are left alone); the pin eases in
and out over ``blend`` frames. Spans over which the foot travels more than 30 cm are not plants (pinning them would
drag a straight leg behind the body) and are left alone. Each leg then reaches its pinned ankle with analytic two-bone IK (hip and knee
swing in the leg's own bending plane, knee stays on its side), and the ankle turns so a pinned toe lands on its
pin. Foot orientation is otherwise kept; the root is never moved. Pure numpy on the canonical skeleton.
"""
from __future__ import annotations

import numpy as np

from .contacts import true_runs
from .edit import smoothstep
from .motion import Motion
from .rotations import np_quat_apply, np_quat_between, np_quat_inv, np_quat_mul
from .skeleton import CANONICAL, FOOT_JOINTS

LEGS = (("left_hip", "left_knee", "left_ankle", "left_foot"), ("right_hip", "right_knee", "right_ankle", "right_foot"))


def pin_targets(pos: np.ndarray, contact: np.ndarray, blend: int, max_travel: float = 0.3,
                max_step: float = 0.08, anchors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """pos (T, 3), contact (T,) -> (target positions (T, 3), weight (T,) in [0, 1]).

    Each contact span is pinned at its mean ground position, easing in and out over ``blend`` frames. A span over
    which the joint travels more than ``max_travel`` metres is not a plausible plant (the contact guess is wrong) and
    is left alone. Two plants less than ``2 * blend`` frames apart are joined directly: the target glides from one
    pin to the next across the gap (smoothstep), so the foot never jumps between two pins; if that glide would be
    faster than ``max_step`` metres per frame the later plant is dropped (pinning it could only make a pop).

    ``anchors`` (T,) bool marks frames where the joint must stay where it is (an artist's key). A plant that holds
    anchors is pinned where they put the joint (before the first anchor at the first's place, after the last at the
    last's, gliding between two anchors that disagree), so an anchor's target is its own position. Elsewhere an
    anchor gets weight 0, and the weight ramps back up over ``blend`` frames on each side of it."""
    T = len(pos)
    target = pos.copy()
    weight = np.zeros(T)
    anchors = np.zeros(T, bool) if anchors is None else np.asarray(anchors, bool)
    plants: list[tuple[int, int, np.ndarray]] = []  # (start, stop, (stop - start, 2) pinned ground track)
    for a, b in true_runs(contact):
        xy = pos[a:b, :2]
        if np.linalg.norm(xy.max(0) - xy.min(0)) > max_travel:
            continue
        keys = np.nonzero(anchors[a:b])[0]
        if len(keys):
            track = np.stack([np.interp(np.arange(b - a), keys, xy[keys, d]) for d in range(2)], -1)
        else:
            track = np.broadcast_to(xy.mean(0), xy.shape)
        if plants and a - plants[-1][1] < 2 * blend:
            gap = a - plants[-1][1]
            if np.linalg.norm(track[0] - plants[-1][2][-1]) / (gap + 1) > max_step:
                continue
        plants.append((a, b, track))

    def ease(t, lo, hi, rising):
        return 0.5 - 0.5 * np.cos(np.pi * ((t - lo + 1) / (hi - lo + 1) if rising else (hi - t) / (hi - lo + 1)))

    for i, (a, b, track) in enumerate(plants):
        target[a:b, :2] = track
        weight[a:b] = 1.0
        prev = plants[i - 1] if i > 0 else None
        nxt = plants[i + 1] if i + 1 < len(plants) else None
        if prev is None or a - prev[1] >= 2 * blend:  # ease in
            lo = max(0, a - blend)
            for t in range(lo, a):
                w = ease(t, lo, a, True)
                if w > weight[t]:
                    weight[t], target[t, :2] = w, track[0]
        if nxt is not None and nxt[0] - b < 2 * blend:  # glide to the next plant
            gap = nxt[0] - b
            for t in range(b, nxt[0]):
                u = (t - b + 1) / (gap + 1)
                target[t, :2] = track[-1] + (nxt[2][0] - track[-1]) * smoothstep(u)
                weight[t] = 1.0
        else:  # ease out
            hi = min(T, b + blend)
            for t in range(b, hi):
                w = ease(t, b, hi, False)
                if w > weight[t]:
                    weight[t], target[t, :2] = w, track[-1]
    moved = anchors & (weight > 0) & (np.abs(target[:, :2] - pos[:, :2]).max(-1) > 0)
    if moved.any():  # anchors off every plant stay put: the weight falls to 0 there, ramping over blend frames
        t = np.arange(T)
        dist = np.abs(t[:, None] - np.nonzero(moved)[0][None]).min(1)
        weight = np.minimum(weight, np.clip(dist / max(blend, 1), 0.0, 1.0))
    return target, weight


def two_bone_ik(a, b, c, t, eps: float = 1e-4):
    """Hip a, knee b, ankle c, ankle target t: (T, 3) each. Returns (new knee, new ankle), lengths preserved."""
    l1 = np.linalg.norm(b - a, axis=-1, keepdims=True)
    l2 = np.linalg.norm(c - b, axis=-1, keepdims=True)
    at = t - a
    d = np.linalg.norm(at, axis=-1, keepdims=True)
    u = at / np.maximum(d, 1e-9)
    d = np.clip(d, np.abs(l1 - l2) + eps, l1 + l2 - eps)
    cos_a = np.clip((l1 ** 2 + d ** 2 - l2 ** 2) / (2 * l1 * d), -1.0, 1.0)
    side = (b - a) - np.sum((b - a) * u, -1, keepdims=True) * u  # keep the knee on its current side
    n = np.linalg.norm(side, axis=-1, keepdims=True)
    fallback = np.cross(u, np.array([1.0, 0.0, 0.0]))
    side = np.where(n > 1e-6, side / np.maximum(n, 1e-9), fallback / np.maximum(
        np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-9))
    knee = a + l1 * (cos_a * u + np.sqrt(1 - cos_a ** 2) * side)
    ankle = a + d * u
    return knee, ankle


def cleanup_foot_contacts(m: Motion, contacts: np.ndarray | None = None, blend: int = 4,
                          height_margin: float = 0.06, keyed: np.ndarray | None = None) -> tuple[Motion, dict]:
    """Pin feet on contact frames (see module docstring). ``contacts`` (T, 4) in FOOT_JOINTS order; default: the
    motion's own contacts, detected if it has none. ``keyed`` (T, J) bool: joints an artist keyed on each frame;
    on a frame where any joint of a leg is keyed, that leg's ankle and toe are anchors (:func:`pin_targets`) and
    its rotations come back as they were. Returns (cleaned motion with re-detected contacts, info)."""
    sk = m.skeleton
    if sk.names != CANONICAL.names:
        raise ValueError("foot cleanup works on the canonical skeleton")
    if contacts is None:
        contacts = m.contacts if m.contacts is not None else m.with_contacts().contacts
    contacts = np.asarray(contacts, bool)
    g_rot, pos = m.global_rotations_and_positions()
    rest_z = sk.rest_positions()[:, 2]
    rot = m.rotations.copy()
    moved = 0.0
    pinned_frames = 0
    for leg_i, (hip, knee, ankle, toe) in enumerate(LEGS):
        ih, ik, ia, it = (sk.index(n) for n in (hip, knee, ankle, toe))
        ca = contacts[:, FOOT_JOINTS.index(ankle)] & (pos[:, ia, 2] <= rest_z[ia] + height_margin)
        ct = contacts[:, FOOT_JOINTS.index(toe)] & (pos[:, it, 2] <= rest_z[it] + height_margin)
        if not (ca.any() or ct.any()):
            continue
        anchors = None if keyed is None else np.asarray(keyed, bool)[:, [ih, ik, ia, it]].any(1)
        ta, wa = pin_targets(pos[:, ia], ca, blend, anchors=anchors)
        tt, wt = pin_targets(pos[:, it], ct, blend, anchors=anchors)
        # while only the toe is planted, drag the ankle along with it (the foot pivots about the toe below)
        toe_shift = (tt - pos[:, it]) * (wt * (1 - wa))[:, None]
        ankle_target = pos[:, ia] + (ta - pos[:, ia]) * wa[:, None] + toe_shift
        active = (wa > 0) | (wt > 0)
        if not active.any():  # every contact span was implausible (see pin_targets): nothing to pin
            continue
        pinned_frames += int(active.sum())
        f = np.nonzero(active)[0]
        a, b, c = pos[f, ih], pos[f, ik], pos[f, ia]
        nb, nc = two_bone_ik(a, b, c, ankle_target[f])
        q_hip = np_quat_between(b - a, nb - a)
        q_knee = np_quat_between(np_quat_apply(q_hip, c - b), nc - nb)
        g_hip = np_quat_mul(q_hip, g_rot[f, ih])
        g_knee = np_quat_mul(q_knee, np_quat_mul(q_hip, g_rot[f, ik]))
        g_ankle = g_rot[f, ia]
        # turn the foot so a planted toe lands on its pin
        toe_now = nc + np_quat_apply(g_ankle, np.broadcast_to(sk.offsets[it], nc.shape))
        toe_want = pos[f, it] + (tt[f] - pos[f, it]) * wt[f, None]
        q_toe = np_quat_between(toe_now - nc, toe_want - nc)
        w = wt[f, None]
        ident = np.zeros_like(q_toe)
        ident[:, 3] = 1.0
        q_toe = ident * (1 - w) + q_toe * w  # nlerp from identity by the toe weight
        q_toe /= np.linalg.norm(q_toe, axis=-1, keepdims=True)
        g_ankle = np_quat_mul(q_toe, g_ankle)
        parent_hip = g_rot[f, sk.parents[ih]]
        rot[f, ih] = np_quat_mul(np_quat_inv(parent_hip), g_hip)
        rot[f, ik] = np_quat_mul(np_quat_inv(g_hip), g_knee)
        rot[f, ia] = np_quat_mul(np_quat_inv(g_knee), g_ankle)
        moved = max(moved, float(np.linalg.norm(nc - c, axis=-1).max()))
    if keyed is not None:  # what the artist keyed comes back as it was
        keyed = np.asarray(keyed, bool)
        rot[keyed] = m.rotations[keyed]
    out = m.copy(rotations=rot, contacts=None, contact_joints=()).with_contacts()
    return out, {"pinned_frames": pinned_frames, "max_ankle_shift_m": round(moved, 4)}
