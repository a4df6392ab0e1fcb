"""Training losses of the denoiser: feature reconstruction plus MDM's geometric terms.

All terms compare the predicted clean motion with the real one on real (non-padded) frames:

* ``feat``: mean squared error on the normalised features (root position, 6D rotations, contacts);
* ``pos``: joint positions from differentiable FK, in decimetres squared (a 5 cm error costs 0.25). World positions,
  root translation included: with root-relative positions the root's path is only 2 of 139 feature channels and
  the model learned to leave the character nearly in place;
* ``vel``: frame-to-frame joint displacements, same units;
* ``foot``: displacement of the foot joints on frames where the real motion has them in contact (feet that should
  be planted must not slide).
"""
from __future__ import annotations

import torch

from ...motion.kinematics import fk_6d
from ...motion.skeleton import CANONICAL, FOOT_JOINTS
from ...motion.skeleton import ancestors as ancestors_of
from ..features import CONTACT_DIMS, NUM_JOINTS, ROOT_DIMS, ROT_DIMS

FOOT_IDX = [CANONICAL.index(n) for n in FOOT_JOINTS]
_OFFSETS = torch.tensor(CANONICAL.offsets, dtype=torch.float32)
_PARENTS = [int(p) for p in CANONICAL.parents]


def positions(feats: torch.Tensor) -> torch.Tensor:
    """Un-normalised features (..., T, D) -> joint positions (..., T, 22, 3) in metres."""
    rot = feats[..., ROT_DIMS].reshape(*feats.shape[:-1], NUM_JOINTS, 6)
    return fk_6d(rot, feats[..., ROOT_DIMS], _OFFSETS, _PARENTS)[1]


def ancestors(joints) -> list[int]:
    """The given joints and every joint above them, in parent-first order."""
    return sorted({a for j in joints for a in (int(j), *ancestors_of(_PARENTS, int(j)))})


def chain_positions(feats: torch.Tensor, joints) -> dict[int, torch.Tensor]:
    """Positions (..., 3) of ``joints`` only, walking just their chains to the root (cheap FK for guidance)."""
    from ...motion.rotations import sixd_to_matrix
    g_rot, g_pos = {}, {}
    for j in ancestors(joints):
        r = sixd_to_matrix(feats[..., 3 + 6 * j:9 + 6 * j])
        p = _PARENTS[j]
        if p < 0:
            g_rot[j], g_pos[j] = r, feats[..., ROOT_DIMS]
        else:
            g_rot[j] = g_rot[p] @ r
            g_pos[j] = g_pos[p] + (g_rot[p] @ _OFFSETS[j].to(feats).unsqueeze(-1)).squeeze(-1)
    return {int(j): g_pos[int(j)] for j in joints}


def denoiser_losses(pred_n: torch.Tensor, x0_n: torch.Tensor, real: torch.Tensor, normalizer,
                    w_geo: float = 1.0, geo_samples: int | None = None,
                    w_terms: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> dict[str, torch.Tensor]:
    """pred_n, x0_n: normalised (B, T, D); real: (B, T) bool. Returns named scalar losses (``total`` included):
    ``feat + w_geo * (w_pos * pos + w_vel * vel + w_foot * foot)`` with ``w_terms = (w_pos, w_vel, w_foot)``.
    The FK terms use the first ``geo_samples`` windows of the batch only (FK is the expensive part on a CPU)."""
    r = real.float()
    nreal = r.sum().clamp(min=1.0)
    feat = (((pred_n - x0_n) ** 2).mean(-1) * r).sum() / nreal
    out = {"feat": feat}
    if w_geo > 0:
        if geo_samples is not None:
            pred_n, x0_n, r = pred_n[:geo_samples], x0_n[:geo_samples], r[:geo_samples]
            nreal = r.sum().clamp(min=1.0)
        pred, gt = normalizer.inverse(pred_n), normalizer.inverse(x0_n)
        pp = positions(pred) * 10.0  # decimetres
        with torch.no_grad():
            pg = positions(gt) * 10.0
        out["pos"] = (((pp - pg) ** 2).sum(-1).mean(-1) * r).sum() / nreal
        rv = r[:, 1:] * r[:, :-1]
        nv = rv.sum().clamp(min=1.0)
        vp, vg = pp[:, 1:] - pp[:, :-1], pg[:, 1:] - pg[:, :-1]
        out["vel"] = (((vp - vg) ** 2).sum(-1).mean(-1) * rv).sum() / nv
        contact = (gt[:, :-1, CONTACT_DIMS] > 0.5).float() * rv[..., None]  # (B, T-1, 4)
        foot_v = (vp[:, :, FOOT_IDX] ** 2).sum(-1)
        out["foot"] = (foot_v * contact).sum() / contact.sum().clamp(min=1.0)
        wp, wv, wf = w_terms
        out["total"] = feat + w_geo * (wp * out["pos"] + wv * out["vel"] + wf * out["foot"])
    else:
        out["total"] = feat
    return out
