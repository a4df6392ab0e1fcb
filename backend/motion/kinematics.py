"""Forward kinematics, batched, in torch (differentiable, used inside models and losses) and numpy (data tools).

Local rotation ``R_j`` rotates joint j's frame relative to its parent's; at rest all are identity (see
:class:`~backend.motion.skeleton.Skeleton`). World rotation ``G_j = G_parent(j) R_j``; world position
``p_j = p_parent(j) + G_parent(j) offset_j``; the root's position is the motion's root translation.
"""
from __future__ import annotations

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


def fk(local_quat: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray, parents) -> tuple[np.ndarray, np.ndarray]:
    """numpy FK. local_quat (..., J, 4) XYZW; root_pos (..., 3). Returns (global quats, positions)."""
    local_quat = np.asarray(local_quat, np.float64)
    root_pos = np.asarray(root_pos, np.float64)
    offsets = np.asarray(offsets, np.float64)
    J = local_quat.shape[-2]
    g_rot = np.empty_like(local_quat)
    g_pos = np.empty(local_quat.shape[:-1] + (3,), np.float64)
    for j in range(J):
        p = int(parents[j])
        if p < 0:
            g_rot[..., j, :] = local_quat[..., j, :]
            g_pos[..., j, :] = root_pos + (offsets[j] if j > 0 else 0.0)
        else:
            g_rot[..., j, :] = np_quat_mul(g_rot[..., p, :], local_quat[..., j, :])
            g_pos[..., j, :] = g_pos[..., p, :] + np_quat_apply(g_rot[..., p, :], offsets[j])
    return g_rot, g_pos


def global_to_local(global_quat: np.ndarray, parents) -> np.ndarray:
    """Inverse of the rotation half of FK: local R_j = G_parent^-1 G_j."""
    local = np.array(global_quat, np.float64)
    for j, p in enumerate(parents):
        if p >= 0:
            local[..., j, :] = np_quat_mul(np_quat_inv(global_quat[..., p, :]), global_quat[..., j, :])
    return local
