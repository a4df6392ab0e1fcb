"""Forward kinematics against hand-computed positions, torch vs numpy, and the quaternion convention."""
import numpy as np
import torch

from backend.motion.kinematics import fk, fk_6d, fk_quat_torch, global_to_local
from backend.motion.rotations import (
    np_quat_mul,
    np_quat_to_6d,
    np_quat_to_matrix,
    quat_apply,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)
from backend.motion.skeleton import CANONICAL, Skeleton


def _about(axis, deg):
    a = np.radians(deg) / 2
    v = np.zeros(4)
    v["xyz".index(axis)] = np.sin(a)
    v[3] = np.cos(a)
    return v


def test_fk_matches_hand_computed_chain():
    # root at (1,2,3); child 1 m along +X; grandchild 0.5 m along +X.
    sk = Skeleton(("a", "b", "c"), np.array([-1, 0, 1]), np.array([[1.0, 2, 3], [1, 0, 0], [0.5, 0, 0]]))
    q = np.tile([0, 0, 0, 1.0], (1, 3, 1))
    q[0, 0] = _about("z", 90)   # root turns +90 about Z: +X -> +Y
    q[0, 1] = _about("z", 90)   # b turns another 90: its child points along -X
    _, pos = fk(q, np.array([[1.0, 2, 3]]), sk.offsets, sk.parents)
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 3, 3], [0.5, 3, 3]], atol=1e-12)


def test_fk_torch_equals_numpy_and_6d():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 22, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = rng.normal(size=(5, 3))
    g_np, p_np = fk(q, root, CANONICAL.offsets, CANONICAL.parents)
    g_t, p_t = fk_quat_torch(torch.tensor(q), torch.tensor(root), torch.tensor(CANONICAL.offsets), CANONICAL.parents)
    np.testing.assert_allclose(p_t.numpy(), p_np, atol=1e-10)
    np.testing.assert_allclose(g_t.numpy(), np_quat_to_matrix(g_np), atol=1e-10)
    _, p6 = fk_6d(torch.tensor(np_quat_to_6d(q)), torch.tensor(root), torch.tensor(CANONICAL.offsets),
                  CANONICAL.parents)
    np.testing.assert_allclose(p6.numpy(), p_np, atol=1e-10)


def test_fk_is_differentiable():
    q = torch.zeros(1, 22, 6, dtype=torch.float64)
    q[..., 0] = 1
    q[..., 4] = 1
    q.requires_grad_(True)
    _, p = fk_6d(q, torch.zeros(1, 3, dtype=torch.float64), torch.tensor(CANONICAL.offsets), CANONICAL.parents)
    p[0, 20].sum().backward()  # left wrist
    assert q.grad is not None and q.grad[0, 16].abs().sum() > 0  # moved by the left shoulder
    assert q.grad[0, 21].abs().sum() == 0  # not by the right wrist


def test_global_to_local_inverts_fk_rotations():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(3, 22, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    g, _ = fk(q, np.zeros((3, 3)), CANONICAL.offsets, CANONICAL.parents)
    back = global_to_local(g, CANONICAL.parents)
    assert np.allclose(np.abs(np.sum(back * q, -1)), 1.0, atol=1e-10)


def test_quaternion_order_is_xyzw_and_boundary_converts():
    q = _about("z", 90)  # XYZW: (0, 0, sin45, cos45)
    assert np.isclose(q[3], np.cos(np.pi / 4)) and np.isclose(q[2], np.sin(np.pi / 4))
    v = quat_apply(torch.tensor(q), torch.tensor([1.0, 0, 0], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(v, [0, 1, 0], atol=1e-12)
    wxyz = xyzw_to_wxyz(q)
    assert np.isclose(wxyz[0], np.cos(np.pi / 4)) and np.isclose(wxyz[3], np.sin(np.pi / 4))
    np.testing.assert_allclose(wxyz_to_xyzw(wxyz), q)
    # composition order: p*q applies q first
    r = np_quat_mul(_about("z", 90), _about("x", 90))
    v2 = quat_apply(torch.tensor(r), torch.tensor([0, 1.0, 0], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(v2, [0, 0, 1], atol=1e-12)  # x-turn sends +Y to +Z, z-turn keeps +Z
