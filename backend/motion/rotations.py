"""Rotation helpers: small, documented, one convention.

Convention (everywhere in ``backend``): quaternions are **XYZW** (scalar last), the order roma, scipy and glTF use.
Blender/mathutils use WXYZ; the only places that convert are named ``*_wxyz`` here and in the add-on's scene I/O.

Torch functions delegate to roma. The numpy wrappers run the same torch code in float64, so numpy and torch paths
cannot drift apart.
"""
from __future__ import annotations

import numpy as np
import roma
import torch

__all__ = [
    "euler_to_quat",
    "matrix_to_6d",
    "matrix_to_quat",
    "np_euler_to_quat",
    "np_matrix_to_quat",
    "np_quat_about_z",
    "np_quat_angle",
    "np_quat_apply",
    "np_quat_between",
    "np_quat_fix_hemisphere",
    "np_quat_from_matrix_safe",
    "np_quat_inv",
    "np_quat_mul",
    "np_quat_normalize",
    "np_quat_slerp",
    "np_quat_to_6d",
    "np_quat_to_euler",
    "np_quat_to_matrix",
    "np_sixd_to_quat",
    "quat_angle",
    "quat_apply",
    "quat_between",
    "quat_fix_hemisphere",
    "quat_identity",
    "quat_inv",
    "quat_mul",
    "quat_slerp",
    "quat_to_6d",
    "quat_to_euler",
    "quat_to_matrix",
    "sixd_to_matrix",
    "sixd_to_quat",
    "wxyz_to_xyzw",
    "xyzw_to_wxyz",
]


# ----------------------------------------------------------------------------------------------------------- torch
def quat_identity(shape=(), dtype=torch.float32, device=None) -> torch.Tensor:
    q = torch.zeros(*shape, 4, dtype=dtype, device=device)
    q[..., 3] = 1.0
    return q


def quat_mul(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Hamilton product p*q (apply q first, then p)."""
    return roma.quat_product(p, q)


def quat_inv(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion (its conjugate)."""
    return roma.quat_conjugation(q)


def quat_apply(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v (...,3) by unit quaternions q (...,4)."""
    return roma.quat_action(q, v, is_normalized=True)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    return roma.unitquat_to_rotmat(q)


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    return roma.rotmat_to_unitquat(m)


def matrix_to_6d(m: torch.Tensor) -> torch.Tensor:
    """6D representation (Zhou et al. 2019): the first two *columns* of the rotation matrix, flattened (c0, c1)."""
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def sixd_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`matrix_to_6d` via Gram-Schmidt (differentiable, tolerates unnormalised input)."""
    m = torch.stack([d6[..., 0:3], d6[..., 3:6]], dim=-1)  # (...,3,2)
    return roma.special_gramschmidt(m)


def quat_to_6d(q: torch.Tensor) -> torch.Tensor:
    return matrix_to_6d(quat_to_matrix(q))


def sixd_to_quat(d6: torch.Tensor) -> torch.Tensor:
    return matrix_to_quat(sixd_to_matrix(d6))


def euler_to_quat(order: str, angles: torch.Tensor, degrees: bool = True) -> torch.Tensor:
    """Intrinsic Euler angles (e.g. BVH ``Zrotation Yrotation Xrotation`` = order "ZYX", R = Rz Ry Rx)."""
    return roma.euler_to_unitquat(order.upper(), angles, degrees=degrees)


def quat_to_euler(order: str, q: torch.Tensor, degrees: bool = True) -> torch.Tensor:
    out = roma.unitquat_to_euler(order.upper(), q, degrees=degrees)
    return torch.stack(out, dim=-1) if isinstance(out, (list, tuple)) else out


def quat_slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Shortest-arc slerp between q0 and q1 at weights t (broadcast over leading dims, t in [0,1])."""
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    t = t if t.dim() == q0.dim() else t.unsqueeze(-1)
    theta = torch.acos(dot)
    sin_t = torch.sin(theta)
    small = sin_t < 1e-6
    w0 = torch.where(small, 1.0 - t, torch.sin((1.0 - t) * theta) / torch.where(small, torch.ones_like(sin_t), sin_t))
    w1 = torch.where(small, t, torch.sin(t * theta) / torch.where(small, torch.ones_like(sin_t), sin_t))
    out = w0 * q0 + w1 * q1
    return out / out.norm(dim=-1, keepdim=True)


def quat_fix_hemisphere(q: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Flip signs along ``dim`` (time) so consecutive quaternions have a positive dot product."""
    q = q.transpose(0, dim)
    d = (q[1:] * q[:-1]).sum(-1)
    sign = torch.cumprod(torch.where(d < 0, -1.0, 1.0).to(q.dtype), dim=0)
    q = torch.cat([q[:1], q[1:] * sign.unsqueeze(-1)], dim=0)
    return q.transpose(0, dim)


def quat_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Minimal rotation taking direction a to direction b (both (...,3), any length)."""
    a = a / a.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    b = b / b.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    w = 1.0 + (a * b).sum(-1, keepdim=True)
    xyz = torch.cross(a, b, dim=-1)
    # opposite vectors: rotate 180 degrees about any axis orthogonal to a
    opp = (w < 1e-8).squeeze(-1)
    if opp.any():
        helper = torch.where((a[..., 0:1].abs() < 0.9), torch.tensor([1.0, 0, 0], dtype=a.dtype),
                             torch.tensor([0, 1.0, 0], dtype=a.dtype))
        ortho = torch.cross(a, helper, dim=-1)
        ortho = ortho / ortho.norm(dim=-1, keepdim=True)
        xyz = torch.where(opp.unsqueeze(-1), ortho, xyz)
        w = torch.where(opp.unsqueeze(-1), torch.zeros_like(w), w)
    q = torch.cat([xyz, w], dim=-1)
    return q / q.norm(dim=-1, keepdim=True)


def quat_angle(q0: torch.Tensor, q1: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (radians) between two unit quaternions."""
    return roma.unitquat_geodesic_distance(q0, q1)


def xyzw_to_wxyz(q):
    """Boundary conversion to Blender/mathutils order (works for numpy and torch)."""
    if isinstance(q, torch.Tensor):
        return roma.quat_xyzw_to_wxyz(q)
    return np.concatenate([q[..., 3:4], q[..., 0:3]], axis=-1)


def wxyz_to_xyzw(q):
    """Boundary conversion from Blender/mathutils order (works for numpy and torch)."""
    if isinstance(q, torch.Tensor):
        return roma.quat_wxyz_to_xyzw(q)
    return np.concatenate([q[..., 1:4], q[..., 0:1]], axis=-1)


# ----------------------------------------------------------------------------------------------------------- numpy
def _t(x) -> torch.Tensor:
    return torch.from_numpy(np.array(x, dtype=np.float64))


def np_quat_normalize(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True).clip(min=1e-12)


def _complex_pairs(x) -> np.ndarray:
    """(..., 4) floats viewed as (..., 2) complex numbers; no copy when the last axis is contiguous already (a column
    gathered from a (T, J, 4) array is: copying it first cost more than the product)."""
    x = np.asarray(x, np.float64)
    if x.ndim and x.strides[-1] == x.itemsize:
        try:
            return x.view(np.complex128)
        except ValueError:  # an offset or stride the complex view cannot take
            pass
    return np.ascontiguousarray(x).view(np.complex128)


def np_quat_mul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product in plain numpy (hot path of FK, retargeting and data loading; same result as
    roma.quat_product up to rounding).

    Computed on complex numbers, two per quaternion, which numpy multiplies in one pass each: an XYZW quaternion is
    ``A + B i`` with ``A = w + z k`` and ``B = x + y k`` in the complex plane spanned by 1 and k, and since
    ``i A = conj(A) i``, ``(A + B i)(C + D i) = (AC - B conj(D)) + (AD + B conj(C)) i``. The float pairs (x, y) and
    (z, w) viewed as complex are ``P0 = B`` and ``P1 = -1j conj(A)``, which gives the two lines below."""
    P, Q = _complex_pairs(p), _complex_pairs(q)
    P0, P1, Q0, Q1 = P[..., 0], P[..., 1], Q[..., 0], Q[..., 1]
    out = np.empty(np.broadcast_shapes(P0.shape, Q0.shape) + (2,), np.complex128)
    o0, o1 = out[..., 0], out[..., 1]  # in place: 1j (conj(P1) Q0 - P0 Q1) and -1j (P1 Q1 + conj(P0) Q0)
    np.multiply(np.conj(P1), Q0, out=o0)
    o0 -= P0 * Q1
    o0 *= 1j
    np.multiply(P1, Q1, out=o1)
    o1 += np.conj(P0) * Q0
    o1 *= -1j
    return out.view(np.float64)


_CONJ = np.array([-1.0, -1.0, -1.0, 1.0])


def np_quat_inv(q: np.ndarray) -> np.ndarray:
    """Inverse of unit quaternions (the conjugate), as a new array (one exact product by +-1)."""
    return np.multiply(np.asarray(q, np.float64), _CONJ)


def np_quat_apply(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors by unit quaternions in plain numpy: v + 2w(u x v) + 2u x (u x v)."""
    q, v = np.asarray(q, np.float64), np.asarray(v, np.float64)
    ux, uy, uz, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    # the cross products written out (what np.cross computes, without its axis shuffling: a hot path)
    tx, ty, tz = 2.0 * (uy * vz - uz * vy), 2.0 * (uz * vx - ux * vz), 2.0 * (ux * vy - uy * vx)
    return np.stack([vx + w * tx + (uy * tz - uz * ty),
                     vy + w * ty + (uz * tx - ux * tz),
                     vz + w * tz + (ux * ty - uy * tx)], axis=-1)


def np_quat_to_matrix(q: np.ndarray) -> np.ndarray:
    return quat_to_matrix(_t(q)).numpy()


def np_matrix_to_quat(m: np.ndarray) -> np.ndarray:
    return matrix_to_quat(_t(m)).numpy()


def np_quat_from_matrix_safe(m: np.ndarray) -> np.ndarray:
    """Quaternion of the nearest rotation to a possibly scaled / sheared 3x3 (rig rest matrices often carry scale)."""
    m = np.asarray(m, np.float64)
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    det = np.linalg.det(r)
    u[..., :, -1] *= np.sign(det)[..., None]
    return np_matrix_to_quat(u @ vt)


def np_quat_to_6d(q: np.ndarray) -> np.ndarray:
    return quat_to_6d(_t(q)).numpy()


def np_sixd_to_quat(d6: np.ndarray) -> np.ndarray:
    return sixd_to_quat(_t(d6)).numpy()


def np_euler_to_quat(order: str, angles: np.ndarray, degrees: bool = True) -> np.ndarray:
    return euler_to_quat(order, _t(angles), degrees).numpy()


def np_quat_to_euler(order: str, q: np.ndarray, degrees: bool = True) -> np.ndarray:
    return quat_to_euler(order, _t(q), degrees).numpy()


def np_quat_slerp(q0: np.ndarray, q1: np.ndarray, t) -> np.ndarray:
    """Shortest-arc slerp in plain numpy (same formula as :func:`quat_slerp`); ``t`` broadcasts over q's leading
    dims."""
    q0, q1 = np.broadcast_arrays(np.asarray(q0, np.float64), np.asarray(q1, np.float64))
    t = np.broadcast_to(np.asarray(t, np.float64), q0.shape[:-1])[..., None]
    dot = np.sum(q0 * q1, -1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot).clip(max=1.0)
    theta = np.arccos(dot)
    sin_t = np.sin(theta)
    small = sin_t < 1e-6
    safe = np.where(small, 1.0, sin_t)
    w0 = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(small, t, np.sin(t * theta) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def np_quat_fix_hemisphere(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along ``axis`` (time) so consecutive quaternions have a positive dot product."""
    q = np.moveaxis(np.array(q, np.float64), axis, 0)
    if q.shape[0] > 1:
        d = np.sum(q[1:] * q[:-1], -1)
        q[1:] *= np.cumprod(np.where(d < 0, -1.0, 1.0), axis=0)[..., None]
    return np.moveaxis(q, 0, axis)


def np_quat_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`quat_between` in plain numpy (the same formula, so the same numbers up to rounding; a hot path of the
    retargeting's IK and foot cleanup, where torch's per-call overhead dominated)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    w = 1.0 + np.sum(a * b, -1, keepdims=True)
    ax, ay, az, bx, by, bz = a[..., 0], a[..., 1], a[..., 2], b[..., 0], b[..., 1], b[..., 2]
    xyz = np.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)
    opp = w[..., 0] < 1e-8  # opposite vectors: 180 degrees about any axis orthogonal to a
    if opp.any():
        helper = np.where(np.abs(a[..., 0:1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0])
        ortho = np.cross(a, helper)
        with np.errstate(invalid="ignore", divide="ignore"):  # rows not opposite may be zero: not used
            ortho = ortho / np.linalg.norm(ortho, axis=-1, keepdims=True)
        xyz = np.where(opp[..., None], ortho, xyz)
        w = np.where(opp[..., None], 0.0, w)
    q = np.concatenate([xyz, w], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def np_quat_angle(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Geodesic angle in radians."""
    q0, q1 = np.broadcast_arrays(np.asarray(q0, np.float64), np.asarray(q1, np.float64))
    dot = np.abs(np.sum(np_quat_normalize(q0) * np_quat_normalize(q1), axis=-1)).clip(max=1.0)
    return 2.0 * np.arccos(dot)


def np_quat_about_z(angle: np.ndarray) -> np.ndarray:
    """Rotation(s) about the world up axis (Z) by ``angle`` radians."""
    angle = np.asarray(angle, np.float64)
    q = np.zeros(angle.shape + (4,))
    q[..., 2] = np.sin(angle / 2)
    q[..., 3] = np.cos(angle / 2)
    return q
