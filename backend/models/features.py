"""Motion <-> model features on the canonical skeleton, shared by every model.

Per frame: root (pelvis) position (3, metres, world) then the 22 local rotations in 6D (132), then optionally the 4
foot contacts (0/1): D = 135 (+4). Rotations in 6D are continuous (Zhou et al. 2019); the root stays absolute so
trajectories and keys can be imposed directly on the features. :class:`Normalizer` standardises features with
statistics of the training split and is saved with each model's weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..motion.motion import Motion
from ..motion.rotations import np_quat_to_6d, np_sixd_to_quat
from ..motion.skeleton import CANONICAL, CANONICAL_FPS, FOOT_JOINTS

# The feature layout, by name (what 135 and 139 mean): root | 22 x 6D rotations | 4 foot contacts.
NUM_JOINTS = CANONICAL.num_joints  # 22
NUM_CONTACTS = len(FOOT_JOINTS)  # 4
ROOT_DIMS = slice(0, 3)
ROT_DIMS = slice(3, 3 + 6 * NUM_JOINTS)
POSE_DIMS = slice(ROOT_DIMS.start, ROT_DIMS.stop)  # root + rotations: every channel but the contacts
CONTACT_DIMS = slice(ROT_DIMS.stop, ROT_DIMS.stop + NUM_CONTACTS)
FEATURE_DIM = POSE_DIMS.stop  # 135
FEATURE_DIM_CONTACTS = CONTACT_DIMS.stop  # 139


def motion_to_features(m: Motion, contacts: bool = False) -> np.ndarray:
    """(T, 135) or (T, 139) float32."""
    if m.skeleton.names != CANONICAL.names:
        raise ValueError("features are defined on the canonical skeleton; retarget first")
    parts = [m.root_pos, np_quat_to_6d(m.rotations).reshape(m.num_frames, -1)]
    if contacts:
        c = m.contacts if m.contacts is not None else m.with_contacts().contacts
        parts.append(c.astype(np.float64))
    return np.concatenate(parts, axis=1).astype(np.float32)


def features_to_motion(x: np.ndarray | torch.Tensor, fps: float = CANONICAL_FPS) -> Motion:
    """Inverse of :func:`motion_to_features` (6D is projected back onto rotations with Gram-Schmidt)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, np.float64)
    T = x.shape[0]
    rot = np_sixd_to_quat(x[:, ROT_DIMS].reshape(T, NUM_JOINTS, 6))
    contacts = None
    if x.shape[1] >= FEATURE_DIM_CONTACTS:
        contacts = x[:, CONTACT_DIMS] > 0.5
    return Motion(CANONICAL, fps, x[:, ROOT_DIMS], rot, contacts=contacts,
                  contact_joints=FOOT_JOINTS if contacts is not None else ())


@dataclass
class Normalizer:
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, feats: list[np.ndarray], min_std: float = 1e-2) -> Normalizer:
        allf = np.concatenate(feats, 0).astype(np.float64)
        mean = allf.mean(0)
        std = np.maximum(allf.std(0), min_std)
        return cls(torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x)) / self.std.to(x)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.to(x) + self.mean.to(x)

    def state_dict(self, prefix: str = "normalizer.") -> dict[str, torch.Tensor]:
        return {prefix + "mean": self.mean, prefix + "std": self.std}

    @classmethod
    def from_state_dict(cls, sd: dict, prefix: str = "normalizer.") -> Normalizer:
        return cls(sd[prefix + "mean"].float(), sd[prefix + "std"].float())
