"""Batched torch helpers on feature windows: which channels are keyed, the interpolation baseline, and the
canonical frame a window is seen in.

A window is ``feats`` (B, T, 135) (:mod:`backend.models.features`: root position + 22 local 6D rotations) with
``joint_mask`` (B, T, 22) and ``root_mask`` (B, T) saying what the artist keyed. Channel *groups* are the root
(3 channels) and each joint (6 channels): 23 groups, keyed or not as a whole.

The interpolation baseline is what Blender's linear/slerp interpolation would give: per group, slerp (rotations)
or lerp (root) between that group's own keyed frames, holding the first/last key outside them. A group keyed
nowhere has no baseline (``has_base`` is False); the model fills it from scratch.

Windows are seen in a canonical frame: the root at a reference keyed frame sits above the origin and the pelvis
there faces -Y. The network is thus invariant to where the character stands and which way it faces.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...motion.rotations import quat_slerp
from ..features import FEATURE_DIM, NUM_JOINTS

NUM_GROUPS = NUM_JOINTS + 1  # root + joints


# ------------------------------------------------------------------------------------- fast rotation helpers
# Plain torch versions of the 6D / matrix / quaternion conversions (same conventions as backend.motion.rotations:
# 6D = first two matrix columns, quaternions XYZW). Training calls them on every frame of every window, where the
# generic library versions cost several times more.
def sixd_to_mat(d6: torch.Tensor) -> torch.Tensor:
    """(...,6) -> (...,3,3) by Gram-Schmidt on the two columns."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1, eps=1e-8)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=1e-8)
    return torch.stack([b1, b2, torch.cross(b1, b2, dim=-1)], dim=-1)


def mat_to_sixd(m: torch.Tensor) -> torch.Tensor:
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def mat_to_quat(m: torch.Tensor) -> torch.Tensor:
    """(...,3,3) rotation matrices -> (...,4) XYZW unit quaternions (best-conditioned of four formulas)."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    cand = torch.stack([
        torch.stack([m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22], -1),  # from w
        torch.stack([1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], -1),  # from x
        torch.stack([m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20], -1),  # from y
        torch.stack([m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01], -1),  # from z
    ], -2)  # (...,4,4): each row proportional to the quaternion
    diag = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(-1, keepdim=True)
    q = torch.gather(cand, -2, best.unsqueeze(-1).expand(*best.shape, 4)).squeeze(-2)
    return F.normalize(q, dim=-1)


def quat_to_mat(q: torch.Tensor) -> torch.Tensor:
    x, y, z, w = q.unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def fk_positions(d6: torch.Tensor, root: torch.Tensor, offsets: torch.Tensor, parents) -> torch.Tensor:
    """World joint positions (...,J,3) from local 6D rotations (...,J,6) and root positions (...,3)."""
    R = sixd_to_mat(d6)
    offsets = offsets.to(d6)
    g_rot, g_pos = [], []
    for j, p in enumerate(parents):
        if p < 0:
            g_rot.append(R[..., j, :, :])
            g_pos.append(root)
        else:
            g_rot.append(g_rot[p] @ R[..., j, :, :])
            g_pos.append(g_pos[p] + (g_rot[p] @ offsets[j]))
    return torch.stack(g_pos, dim=-2)


def group_of_channel() -> torch.Tensor:
    """(135,) long: channel -> group (0 = root, 1 + j = joint j)."""
    return torch.cat([torch.zeros(3, dtype=torch.long),
                      torch.arange(1, NUM_GROUPS).repeat_interleave(6)])


def group_mask(joint_mask: torch.Tensor, root_mask: torch.Tensor) -> torch.Tensor:
    """(B,T,22), (B,T) -> (B,T,23) bool, root first."""
    return torch.cat([root_mask.unsqueeze(-1), joint_mask], dim=-1).bool()


def channel_mask(joint_mask: torch.Tensor, root_mask: torch.Tensor) -> torch.Tensor:
    """(B,T,135) bool: True where the channel's group is keyed."""
    g = group_mask(joint_mask, root_mask)
    return g[..., group_of_channel().to(g.device)]


def neighbour_keys(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For a (B,T,G) key mask: index of the keyed frame at or before each frame (-1 if none) and at or after it
    (T if none), per group."""
    B, T, G = mask.shape
    idx = torch.arange(T, device=mask.device).view(1, T, 1).expand(B, T, G)
    prev = torch.where(mask, idx, torch.full_like(idx, -1)).cummax(dim=1).values
    nxt = torch.where(mask, idx, torch.full_like(idx, T)).flip(1).cummin(dim=1).values.flip(1)
    return prev, nxt


def key_distances(mask: torch.Tensor, pad: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames since the previous key and until the next key, per group (float; large where there is none)."""
    T = mask.shape[1]
    prev, nxt = neighbour_keys(mask)
    t = torch.arange(T, device=mask.device).view(1, T, 1)
    d_prev = torch.where(prev >= 0, t - prev, torch.full_like(prev, 10_000)).float()
    d_next = torch.where(nxt < T, nxt - t, torch.full_like(nxt, 10_000)).float()
    return d_prev, d_next


def _gather_t(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B,T,G,D), idx (B,T,G) -> x[b, idx[b,t,g], g] (B,T,G,D)."""
    D = x.shape[-1]
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(*idx.shape, D))


def interpolate(feats: torch.Tensor, joint_mask: torch.Tensor, root_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The interpolation baseline of a batch of windows: slerp per joint and lerp for the root between each
    group's keyed frames, holding outside them. Returns (base feats (B,T,135), has_base (B,T,23))."""
    B, T, _ = feats.shape
    gm = group_mask(joint_mask, root_mask)
    prev, nxt = neighbour_keys(gm)
    has = (prev >= 0) | (nxt < T)
    p = torch.where(prev >= 0, prev, nxt).clamp(0, T - 1)
    n = torch.where(nxt < T, nxt, prev).clamp(0, T - 1)
    t = torch.arange(T, device=feats.device).view(1, T, 1).to(feats.dtype)
    span = (n - p).to(feats.dtype)
    w = torch.where(span > 0, (t - p.to(feats.dtype)) / span.clamp(min=1), torch.zeros_like(span))
    # root: lerp
    root = feats[..., :3].unsqueeze(2)  # (B,T,1,3)
    r0, r1 = _gather_t(root, p[..., :1]), _gather_t(root, n[..., :1])
    root_base = (r0 + (r1 - r0) * w[..., :1].unsqueeze(-1)).squeeze(2)
    # joints: slerp of the keyed rotations
    q = mat_to_quat(sixd_to_mat(feats[..., 3:].reshape(B, T, NUM_JOINTS, 6)))
    q0, q1 = _gather_t(q, p[..., 1:]), _gather_t(q, n[..., 1:])
    qb = quat_slerp(q0, q1, w[..., 1:].unsqueeze(-1))
    rot_base = mat_to_sixd(quat_to_mat(qb)).reshape(B, T, NUM_JOINTS * 6)
    base = torch.cat([root_base, rot_base], dim=-1)
    return base, has


def boundary_velocities(feats: torch.Tensor, keyed: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per frame and channel, the velocity (per frame) at the previous and at the next key of its group, where the
    neighbouring frame of that key is keyed too (context frames); zero and flagged False elsewhere. These are the
    boundary conditions a good in-between continues (a runner keeps running), handed to every frame directly.
    Returns (v_prev (B,T,135), v_next (B,T,135), has_prev (B,T,23), has_next (B,T,23))."""
    _B, T, _D = feats.shape
    grp = group_of_channel().to(feats.device)
    prev, nxt = neighbour_keys(keyed)  # (B,T,23)
    # velocity into each key from the frame before it (needs both keyed), and out of it to the frame after
    k_prev = torch.zeros_like(keyed)
    k_prev[:, 1:] = keyed[:, 1:] & keyed[:, :-1]
    k_next = torch.zeros_like(keyed)
    k_next[:, :-1] = keyed[:, :-1] & keyed[:, 1:]
    v_in = torch.zeros_like(feats)
    v_in[:, 1:] = feats[:, 1:] - feats[:, :-1]
    v_out = torch.zeros_like(feats)
    v_out[:, :-1] = feats[:, 1:] - feats[:, :-1]
    p = prev.clamp(min=0)
    n = nxt.clamp(max=T - 1)
    has_p = (prev >= 0) & torch.gather(k_prev, 1, p)
    has_n = (nxt < T) & torch.gather(k_next, 1, n)
    vp = torch.gather(v_in, 1, p[..., grp]) * has_p[..., grp]
    vn = torch.gather(v_out, 1, n[..., grp]) * has_n[..., grp]
    return vp, vn, has_p, has_n


def continue_velocities(base: torch.Tensor, feats: torch.Tensor, keyed: torch.Tensor) -> torch.Tensor:
    """The model's starting point: the interpolation baseline bent, inside each gap, by cubic Hermite terms so it
    leaves the previous key with that key's velocity and reaches the next key with its velocity, wherever those are
    known (the key's neighbouring frame is keyed too, as with context frames); unknown velocities default to the
    chord, where the term vanishes. The terms are zero on keys, so keys stay exact; with no context it is the
    interpolation baseline itself. (On the benchmark windows this alone removes 10-17% of the joint-position error
    of SLERP at 30 frames; the network learns the rest.)"""
    _B, T, _D = feats.shape
    grp = group_of_channel().to(feats.device)
    prev, nxt = neighbour_keys(keyed)
    vp, vn, hp, hn = boundary_velocities(feats, keyed)
    inside = ((prev >= 0) & (nxt < T) & (nxt > prev))[..., grp]  # frames strictly inside a gap
    p = prev.clamp(0, T - 1)[..., grp]
    n = nxt.clamp(0, T - 1)[..., grp]
    gap = (n - p).clamp(min=1).to(feats.dtype)
    t = torch.arange(T, device=feats.device, dtype=feats.dtype).view(1, T, 1)
    u = ((t - p.to(feats.dtype)) / gap).clamp(0, 1)
    chord = (torch.gather(feats, 1, n) - torch.gather(feats, 1, p)) / gap  # per frame
    h10 = u ** 3 - 2 * u ** 2 + u
    h11 = u ** 3 - u ** 2
    bend = h10 * (vp - chord) * hp[..., grp] + h11 * (vn - chord) * hn[..., grp]
    return base + torch.where(inside, bend * gap, torch.zeros_like(bend))


# --------------------------------------------------------------------------------------------- canonical frame
def reference_frame(joint_mask: torch.Tensor, root_mask: torch.Tensor) -> torch.Tensor:
    """(B,) index of the frame a window is canonicalised on: the last frame of the first run of frames where the
    root and the pelvis are both keyed (frame 9 for the LaFAN1 layout of 10 context frames; the first key for
    sparse keys). Falls back to the first frame with a keyed root, then 0."""
    both = root_mask.bool() & joint_mask[..., 0].bool()
    T = both.shape[1]
    t = torch.arange(T, device=both.device).expand_as(both)
    first = torch.where(both, t, torch.full_like(t, T)).min(dim=1).values
    # end of the run starting at `first`: first unkeyed frame after it, minus one
    after = torch.where((~both) & (t > first.unsqueeze(1)), t, torch.full_like(t, T)).min(dim=1).values - 1
    ref = torch.where(first < T, after, first)
    root_first = torch.where(root_mask.bool(), t, torch.full_like(t, T)).min(dim=1).values
    ref = torch.where(first < T, ref, root_first)
    return torch.where(ref < T, ref, torch.zeros_like(ref))


def heading_transform(feats: torch.Tensor, ref: torch.Tensor, joint_mask: torch.Tensor, root_mask: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(yaw (B,), origin (B,3)) of the canonical frame: the pelvis heading and root ground position at ``ref``.
    The heading is the angle of the pelvis' left (+X) axis about Z, robust to rolls and flips about that axis.
    Where the pelvis (root) is not keyed on ``ref``, the yaw (origin) is zero."""
    B = feats.shape[0]
    ar = torch.arange(B, device=feats.device)
    f = feats[ar, ref]  # (B,135)
    across = f[:, 3:6]  # first column of the pelvis rotation = its +X axis
    yaw = torch.atan2(across[:, 1], across[:, 0])
    yaw = torch.where(joint_mask[ar, ref, 0].bool(), yaw, torch.zeros_like(yaw))
    origin = torch.zeros(B, 3, dtype=feats.dtype, device=feats.device)
    origin[:, :2] = f[:, :2]
    origin = torch.where(root_mask[ar, ref].bool().unsqueeze(-1), origin, torch.zeros_like(origin))
    return yaw, origin


def _rot_z(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1), torch.stack([z, z, o], -1)], -2)


def rotate_translate(feats: torch.Tensor, yaw: torch.Tensor, origin: torch.Tensor, inverse: bool = False
                     ) -> torch.Tensor:
    """Express windows in the frame (yaw, origin) (``inverse``: back to the world). Only the root position and
    the pelvis rotation change."""
    R = _rot_z(-yaw if not inverse else yaw).to(feats.dtype)  # (B,3,3)
    out = feats.clone()
    if not inverse:
        root = feats[..., :3] - origin.unsqueeze(1)
        out[..., :3] = torch.einsum("bij,btj->bti", R, root)
    else:
        out[..., :3] = torch.einsum("bij,btj->bti", R, feats[..., :3]) + origin.unsqueeze(1)
    out[..., 3:6] = torch.einsum("bij,btj->bti", R, feats[..., 3:6])
    out[..., 6:9] = torch.einsum("bij,btj->bti", R, feats[..., 6:9])
    return out


assert FEATURE_DIM == 3 + 6 * NUM_JOINTS
