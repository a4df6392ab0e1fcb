"""Forward kinematics, batched, in torch (differentiable, used inside models and losses) and numpy (data tools).

Local rotation ``R_j`` rotates joint j's frame relative to its parent's; at rest all are identity (see
:class:`~backend.motion.skeleton.Skeleton`). World rotation ``G_j = G_parent(j) R_j``; world position
``p_j = p_parent(j) + G_parent(j) offset_j``; the root's position is the motion's root translation.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .rotations import np_quat_apply, np_quat_inv, np_quat_mul, quat_to_matrix, sixd_to_matrix


def fk_matrices(local_rotmat: torch.Tensor, root_pos: torch.Tensor, offsets: torch.Tensor,
                parents) -> tuple[torch.Tensor, torch.Tensor]:
    """FK from rotation matrices.

    local_rotmat: (..., J, 3, 3); root_pos: (..., 3); offsets: (J, 3); parents: sequence of J ints (-1 root).
    Returns (global rotation matrices (..., J, 3, 3), world positions (..., J, 3)).
    Joints with parent -1 other than joint 0 are placed at ``root_pos + offset`` (multi-root rigs).
    """
    offsets = offsets.to(local_rotmat)
    parents = [int(p) for p in parents]
    g_rot, g_pos = [], []
    for j, p in enumerate(parents):
        if p < 0:
            g_rot.append(local_rotmat[..., j, :, :])
            g_pos.append(root_pos + (offsets[j] if j > 0 else 0.0))
        else:
            g_rot.append(g_rot[p] @ local_rotmat[..., j, :, :])
            g_pos.append(g_pos[p] + (g_rot[p] @ offsets[j].unsqueeze(-1)).squeeze(-1))
    return torch.stack(g_rot, dim=-3), torch.stack(g_pos, dim=-2)


def fk_quat_torch(local_quat: torch.Tensor, root_pos: torch.Tensor, offsets: torch.Tensor, parents):
    """FK from XYZW quaternions (..., J, 4). Returns (global rotmats, positions)."""
    return fk_matrices(quat_to_matrix(local_quat), root_pos, offsets, parents)


def fk_6d(local_6d: torch.Tensor, root_pos: torch.Tensor, offsets: torch.Tensor, parents):
    """FK from the 6D representation (..., J, 6). Returns (global rotmats, positions)."""
    return fk_matrices(sixd_to_matrix(local_6d), root_pos, offsets, parents)


@lru_cache(maxsize=256)
def depth_levels(parents: tuple) -> tuple:
    """Joints grouped by depth, parents first: ``((joints, their parents), ...)`` as index arrays; the first group
    holds the roots (parents -1). FK then takes one batched step per level instead of one per joint."""
    depth = [-1] * len(parents)

    def d(j):
        if depth[j] < 0:
            p = parents[j]
            depth[j] = 0 if p < 0 else d(p) + 1
        return depth[j]

    for j in range(len(parents)):
        d(j)
    out = []
    for lv in range(max(depth, default=-1) + 1):
        idx = np.array([j for j in range(len(parents)) if depth[j] == lv], np.intp)
        out.append((idx, np.array([parents[j] for j in idx], np.intp)))
    return tuple(out)


def _joints_first(local_quat: np.ndarray) -> np.ndarray:
    """(..., J, 4) -> a contiguous (J, ..., 4) copy: each depth level then gathers whole joints, not strided rows."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(local_quat, np.float64), -2, 0))


def fk(local_quat: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray, parents) -> tuple[np.ndarray, np.ndarray]:
    """numpy FK. local_quat (..., J, 4) XYZW; root_pos (..., 3). Returns (global quats, positions).
    Batched over the joints of each depth level (the same products as joint by joint), on joint-major arrays (a
    level gathers whole joints: about twice as fast as gathering strided rows); the results are (..., J, 4) and
    (..., J, 3) views of those."""
    lq = _joints_first(local_quat)
    root_pos = np.asarray(root_pos, np.float64)
    offsets = np.asarray(offsets, np.float64)
    lead = (slice(None),) + (None,) * (lq.ndim - 2)  # an offset (n, 3) broadcast over the batch dimensions
    g_rot = np.empty_like(lq)
    g_pos = np.empty(lq.shape[:-1] + (3,), np.float64)
    for lv, (idx, par) in enumerate(depth_levels(tuple(int(p) for p in parents))):
        if lv == 0:
            g_rot[idx] = lq[idx]
            g_pos[idx] = root_pos[None] + np.where((idx > 0)[:, None], offsets[idx], 0.0)[lead]
        else:
            gp = g_rot[par]
            g_rot[idx] = np_quat_mul(gp, lq[idx])
            g_pos[idx] = g_pos[par] + np_quat_apply(gp, offsets[idx][lead])
    return np.moveaxis(g_rot, 0, -2), np.moveaxis(g_pos, 0, -2)


def fk_rotations(local_quat: np.ndarray, parents) -> np.ndarray:
    """The world-rotation half of :func:`fk` (same products), for callers that need no positions."""
    lq = _joints_first(local_quat)
    g_rot = np.empty_like(lq)
    for lv, (idx, par) in enumerate(depth_levels(tuple(int(p) for p in parents))):
        g_rot[idx] = lq[idx] if lv == 0 else np_quat_mul(g_rot[par], lq[idx])
    return np.moveaxis(g_rot, 0, -2)


def fk_positions(local_quat: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray, parents, joints) -> np.ndarray:
    """World positions (..., len(joints), 3) of some joints only, walking just their ancestors (the same products as
    :func:`fk`): a hip of a 65-bone rig needs 2 joints, not 65."""
    parents = [int(p) for p in parents]
    need = set()
    for j in joints:
        k = int(j)
        while k >= 0 and k not in need:
            need.add(k)
            k = parents[k]
    local_quat = np.asarray(local_quat, np.float64)
    root_pos = np.asarray(root_pos, np.float64)
    offsets = np.asarray(offsets, np.float64)
    g, pos = {}, {}
    for lv, (idx, par) in enumerate(depth_levels(tuple(parents))):
        for j, p in zip(idx.tolist(), par.tolist()):
            if j not in need:
                continue
            if lv == 0:
                g[j] = local_quat[..., j, :]
                pos[j] = root_pos + (offsets[j] if j > 0 else 0.0)
            else:
                g[j] = np_quat_mul(g[p], local_quat[..., j, :])
                pos[j] = pos[p] + np_quat_apply(g[p], offsets[j])
    return np.stack([pos[int(j)] for j in joints], axis=-2)


def global_to_local(global_quat: np.ndarray, parents) -> np.ndarray:
    """Inverse of the rotation half of FK: local R_j = G_parent^-1 G_j (all joints at once)."""
    global_quat = np.asarray(global_quat, np.float64)
    par = np.asarray([int(p) for p in parents], np.intp)
    idx = np.nonzero(par >= 0)[0]
    if len(idx) and idx[0] == len(par) - len(idx) and np.all(par[:idx[0]] < 0):  # roots first: a slice, no scatter
        k = int(idx[0])
        rest = np_quat_mul(np_quat_inv(global_quat[..., par[k:], :]), global_quat[..., k:, :])
        return np.concatenate([global_quat[..., :k, :], rest], axis=-2)
    local = np.array(global_quat, np.float64)
    if len(idx):
        local[..., idx, :] = np_quat_mul(np_quat_inv(global_quat[..., par[idx], :]), global_quat[..., idx, :])
    return local
