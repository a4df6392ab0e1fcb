"""The LaFAN1 in-betweening benchmark (Harvey et al. 2020, "Robust Motion In-betweening"), skeleton-agnostic.

What is implemented (read from the benchmark code of ubisoft-laforge-animation-dataset, re-written here):

* windows: 10 context frames, a transition of n = 5, 15, 30 or 45 frames, one target frame; each window is
  centred on the mean ground position of its root and turned so the character faces one way on the last context
  frame (the benchmark's ``rotate_at_frame``; here: facing -Y, Z up);
* L2P: global joint positions of the transition frames, normalised per coordinate by the mean and standard
  deviation of global positions over the *training* windows (50 frames every 20), then the L2 norm over all joints
  and coordinates per frame, averaged over frames and windows;
* L2Q: the L2 norm of the difference of global quaternions over all joints per frame, averaged. Quaternions have
  two signs; each predicted quaternion takes the sign nearest the ground truth's (the benchmark relies on its data
  being sign-continuous, which a network's output need not be);
* NPSS (Gopalakrishnan et al. 2019) on the global quaternions, power-weighted over all windows and channels.

Baselines are the benchmark's: zero velocity (hold the last context frame) and interpolation (slerp local rotations,
lerp the root, from the last context frame to the target).
"""
from __future__ import annotations

import numpy as np

from ...motion.kinematics import fk
from ...motion.rotations import np_quat_about_z, np_quat_apply, np_quat_mul, np_quat_slerp

LENGTHS = (5, 15, 30, 45)
N_PAST = 10
TEST_WINDOW_STRIDE = 20
STATS_WINDOW, STATS_STRIDE = 50, 20


def sliding_windows(num_frames: int, length: int, stride: int) -> list[int]:
    """Start frames of windows of ``length`` frames every ``stride`` frames that fit in ``num_frames``."""
    return list(range(0, num_frames - length + 1, stride))


def heading_from_root(root_quat: np.ndarray, across_axis: np.ndarray) -> np.ndarray:
    """Heading angle about Z of a root rotation: the angle of its rotated ``across_axis`` (the body's right->left
    axis in the rest pose) projected on the ground."""
    a = np_quat_apply(root_quat, across_axis)
    return np.arctan2(a[..., 1], a[..., 0]) - np.arctan2(across_axis[1], across_axis[0])


def canonicalize_windows(root: np.ndarray, rot: np.ndarray, across_axis=(1.0, 0.0, 0.0),
                         frame: int = N_PAST - 1) -> tuple[np.ndarray, np.ndarray]:
    """(N,T,3), (N,T,J,4) -> the same windows centred on their mean root ground position and turned so the root
    faces -Y on ``frame`` (Z up). Only the root translation and root rotation change."""
    root = root.copy()
    rot = rot.copy()
    root[..., :2] -= root[..., :2].mean(axis=1, keepdims=True)
    ang = heading_from_root(rot[:, frame, 0], np.asarray(across_axis, np.float64))  # (N,)
    q = np_quat_about_z(-ang)[:, None]  # (N,1,4)
    root = np_quat_apply(q, root)
    rot[:, :, 0] = np_quat_mul(q, rot[:, :, 0])
    return root, rot


def global_pose(root: np.ndarray, rot: np.ndarray, offsets: np.ndarray, parents) -> tuple[np.ndarray, np.ndarray]:
    return fk(rot, root, offsets, parents)


def position_stats(gpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per joint coordinate (J*3,) of global positions (N,T,J,3)."""
    flat = gpos.reshape(-1, gpos.shape[-2] * 3)
    return flat.mean(0), flat.std(0)


def align_signs(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Flip each predicted quaternion to the sign nearest the ground truth's."""
    s = np.where(np.sum(pred * gt, -1, keepdims=True) < 0, -1.0, 1.0)
    return pred * s


def l2p(pred_pos: np.ndarray, gt_pos: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    N, T = gt_pos.shape[:2]
    d = (pred_pos.reshape(N, T, -1) - gt_pos.reshape(N, T, -1)) / std
    return float(np.mean(np.sqrt(np.sum(d ** 2, -1))))


def l2q(pred_q: np.ndarray, gt_q: np.ndarray) -> float:
    d = align_signs(pred_q, gt_q) - gt_q
    return float(np.mean(np.sqrt(np.sum(d ** 2, axis=(-2, -1)))))


def npss(gt_seq: np.ndarray, pred_seq: np.ndarray) -> float:
    """Normalised power spectrum similarity of (N,T,D) sequences: EMD between the normalised cumulative power
    spectra along time, per window and channel, averaged with the ground truth's power as weights."""
    gt_p = np.square(np.real(np.fft.fft(gt_seq, axis=1)))
    pr_p = np.square(np.real(np.fft.fft(pred_seq, axis=1)))
    gt_tot = gt_p.sum(1)
    pr_tot = pr_p.sum(1)
    gt_cdf = np.cumsum(gt_p / np.maximum(gt_tot[:, None], 1e-12), 1)
    pr_cdf = np.cumsum(pr_p / np.maximum(pr_tot[:, None], 1e-12), 1)
    emd = np.abs(pr_cdf - gt_cdf).sum(1)
    return float(np.average(emd, weights=gt_tot))


def continuous_quats(q: np.ndarray) -> np.ndarray:
    """Make (N,T,J,4) quaternions sign-continuous along time (the benchmark's ``remove_quat_discontinuities``)."""
    q = q.copy()
    for t in range(1, q.shape[1]):
        flip = np.sum(q[:, t] * q[:, t - 1], -1, keepdims=True) < 0
        q[:, t] = np.where(flip, -q[:, t], q[:, t])
    return q


def transition_metrics(pred_root, pred_rot, gt_root, gt_rot, offsets, parents, mean, std,
                       n_past: int = N_PAST) -> dict:
    """L2P, L2Q, NPSS on the transition frames [n_past, T-1) of (N,T,...) windows (last frame = target)."""
    sl = slice(n_past, gt_root.shape[1] - 1)
    gq, gp = fk(gt_rot[:, sl], gt_root[:, sl], offsets, parents)
    pq, pp = fk(pred_rot[:, sl], pred_root[:, sl], offsets, parents)
    gq = continuous_quats(gq)
    pq = align_signs(pq, gq)
    N, T, J = gq.shape[:3]
    return {"l2p": l2p(pp, gp, mean, std), "l2q": l2q(pq, gq),
            "npss": npss(gq.reshape(N, T, J * 4), pq.reshape(N, T, J * 4))}


def zero_velocity(root: np.ndarray, rot: np.ndarray, n_past: int = N_PAST) -> tuple[np.ndarray, np.ndarray]:
    r, q = root.copy(), rot.copy()
    r[:, n_past:-1] = root[:, n_past - 1:n_past]
    q[:, n_past:-1] = rot[:, n_past - 1:n_past]
    return r, q


def interpolation(root: np.ndarray, rot: np.ndarray, n_past: int = N_PAST) -> tuple[np.ndarray, np.ndarray]:
    """Slerp local rotations and lerp the root from the last context frame to the target (last frame)."""
    T = root.shape[1]
    r, q = root.copy(), rot.copy()
    a, b = n_past - 1, T - 1
    w = (np.arange(a + 1, b) - a) / (b - a)  # (n,)
    r[:, a + 1:b] = root[:, a:a + 1] + (root[:, b:b + 1] - root[:, a:a + 1]) * w[None, :, None]
    q0 = np.broadcast_to(rot[:, a:a + 1], rot[:, a + 1:b].shape)
    q1 = np.broadcast_to(rot[:, b:b + 1], rot[:, a + 1:b].shape)
    q[:, a + 1:b] = np_quat_slerp(q0, q1, np.broadcast_to(w[None, :, None], rot[:, a + 1:b].shape[:-1]))
    return r, q


def foot_skate_windows(toe_pos: np.ndarray, fps: float, n_past: int = N_PAST) -> float:
    """Mean GMD/CondMDI foot-skate ratio over windows, on the transition plus its two bounding key frames."""
    from ...motion.contacts import foot_skate_ratio_gmd
    sl = slice(n_past - 1, toe_pos.shape[1])
    return float(np.mean([foot_skate_ratio_gmd(w[sl], fps) for w in toe_pos]))
