"""Motion: a skeleton plus per-frame root translation and local joint rotations (XYZW quaternions).

The class holds data and the edits every tool needs (slice, concatenate, resample, mirror, ground, face forward).
Models see 6D rotations through :meth:`Motion.rotations_6d`; everything on disk and on the wire is quaternions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .contacts import detect_contacts
from .kinematics import fk, fk_positions
from .rotations import np_quat_about_z, np_quat_apply, np_quat_fix_hemisphere, np_quat_mul, np_quat_slerp, np_quat_to_6d
from .skeleton import FOOT_JOINTS, Skeleton


class MotionError(ValueError):
    """Motion data that cannot be used (bad shapes, NaN, non-unit rotations, fps <= 0)."""


@dataclass(eq=False)
class Motion:
    skeleton: Skeleton
    fps: float
    root_pos: np.ndarray  # (T,3) world position of joint 0
    rotations: np.ndarray  # (T,J,4) local XYZW quaternions
    contacts: np.ndarray | None = None  # (T,K) bool, K = len(contact_joints)
    contact_joints: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.root_pos = np.asarray(self.root_pos, np.float64)
        self.rotations = np.asarray(self.rotations, np.float64)
        self.fps = float(self.fps)
        self.validate()

    # ------------------------------------------------------------------------------------------------- basics
    def validate(self) -> None:
        T = self.rotations.shape[0] if self.rotations.ndim == 3 else -1
        J = self.skeleton.num_joints
        if self.rotations.shape != (T, J, 4):
            raise MotionError(f"rotations must be (frames, {J}, 4), got {self.rotations.shape}")
        if self.root_pos.shape != (T, 3):
            raise MotionError(f"root_pos must be ({T}, 3), got {self.root_pos.shape}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise MotionError(f"fps must be a positive number, got {self.fps}")
        for label, arr in (("rotations", self.rotations), ("root_pos", self.root_pos)):
            if not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(arr))[0]
                raise MotionError(f"{label} contains NaN or infinity (first at index {tuple(bad.tolist())})")
        norms = np.linalg.norm(self.rotations, axis=-1)
        if T and np.abs(norms - 1).max() > 1e-3:
            bad = np.unravel_index(np.abs(norms - 1).argmax(), norms.shape)
            raise MotionError(f"rotation at frame {bad[0]}, joint {self.skeleton.names[bad[1]]!r} is not a unit "
                              f"quaternion (norm {norms[bad]:.4f})")
        self.rotations = self.rotations / norms[..., None] if T else self.rotations
        if self.contacts is not None:
            self.contacts = np.asarray(self.contacts, bool)
            if self.contacts.shape != (T, len(self.contact_joints)):
                raise MotionError(f"contacts must be ({T}, {len(self.contact_joints)}), got {self.contacts.shape}")

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def __len__(self) -> int:
        return self.num_frames

    @property
    def duration(self) -> float:
        return max(self.num_frames - 1, 0) / self.fps

    @classmethod
    def computed(cls, skeleton: Skeleton, fps: float, root_pos: np.ndarray, rotations: np.ndarray,
                 meta: dict | None = None, contacts: np.ndarray | None = None, contact_joints=()) -> Motion:
        """A motion made by a solver from checked motions (unit quaternions and finite values by construction):
        the same as the constructor without :meth:`validate`'s pass over every value (the retargeting's hot path)."""
        m = cls.__new__(cls)
        m.skeleton, m.fps, m.meta = skeleton, float(fps), dict(meta or {})
        m.contacts = None if contacts is None else np.array(contacts, bool)
        m.contact_joints = tuple(contact_joints)
        m.root_pos = np.asarray(root_pos, np.float64)
        m.rotations = np.asarray(rotations, np.float64)
        return m

    def copy(self, **changes) -> Motion:
        base = {"root_pos": self.root_pos.copy(), "rotations": self.rotations.copy(),
                "contacts": None if self.contacts is None else self.contacts.copy(), "meta": dict(self.meta)}
        base.update(changes)
        return replace(self, **base)

    @classmethod
    def rest(cls, skeleton: Skeleton, frames: int = 1, fps: float = 30.0) -> Motion:
        rot = np.zeros((frames, skeleton.num_joints, 4))
        rot[..., 3] = 1.0
        return cls(skeleton, fps, np.tile(skeleton.offsets[0], (frames, 1)), rot)

    # ------------------------------------------------------------------------------------------- kinematics
    def global_rotations_and_positions(self) -> tuple[np.ndarray, np.ndarray]:
        return fk(self.rotations, self.root_pos, self.skeleton.offsets, self.skeleton.parents)

    def positions(self) -> np.ndarray:
        """(T,J,3) world joint positions."""
        return self.global_rotations_and_positions()[1]

    def rotations_6d(self) -> np.ndarray:
        return np_quat_to_6d(self.rotations)

    # ------------------------------------------------------------------------------------------------ editing
    def slice(self, start: int, stop: int | None = None) -> Motion:
        sl = slice(start, stop)
        return self.copy(root_pos=self.root_pos[sl].copy(), rotations=self.rotations[sl].copy(),
                         contacts=None if self.contacts is None else self.contacts[sl].copy())

    def concat(self, *others: Motion) -> Motion:
        """Join motions end to end (same skeleton and fps). No blending: use the models for seams."""
        for o in others:
            if not o.skeleton.same_as(self.skeleton):
                raise MotionError("cannot concatenate motions on different skeletons")
            if abs(o.fps - self.fps) > 1e-6:
                raise MotionError(f"cannot concatenate motions at {self.fps} and {o.fps} fps; resample first")
        allm = (self,) + others
        contacts = None
        if all(m.contacts is not None for m in allm):
            contacts = np.concatenate([m.contacts for m in allm])
        return self.copy(root_pos=np.concatenate([m.root_pos for m in allm]),
                         rotations=np_quat_fix_hemisphere(np.concatenate([m.rotations for m in allm])),
                         contacts=contacts)

    def resample(self, fps: float) -> Motion:
        """Resample to ``fps``: slerp for rotations, linear for the root, nearest for contacts.

        The first and last frames are kept; the new frame count is round(duration * fps) + 1.
        """
        fps = float(fps)
        if fps <= 0:
            raise MotionError(f"fps must be positive, got {fps}")
        if abs(fps - self.fps) < 1e-9 or self.num_frames < 2:
            return self.copy(fps=fps)
        n = round(self.duration * fps) + 1
        t = np.linspace(0.0, self.num_frames - 1, n)
        i0 = np.floor(t).astype(int).clip(0, self.num_frames - 2)
        w = t - i0
        q = np_quat_fix_hemisphere(self.rotations)
        rot = np_quat_slerp(q[i0], q[i0 + 1], w[:, None])
        root = self.root_pos[i0] * (1 - w[:, None]) + self.root_pos[i0 + 1] * w[:, None]
        contacts = None if self.contacts is None else self.contacts[np.rint(t).astype(int)]
        return self.copy(fps=fps, root_pos=root, rotations=rot, contacts=contacts)

    def mirrored(self) -> Motion:
        """Left/right mirror across the X = 0 plane (left is +X). Mirroring twice gives back the motion.

        Needs a left/right-symmetric skeleton (the canonical one is); otherwise the mirrored skeleton is built.
        """
        sk = self.skeleton
        mi = sk.mirror_indices
        flip = np.array([-1.0, 1.0, 1.0])
        mirrored_offsets = sk.offsets[mi] * flip
        new_sk = sk if np.allclose(mirrored_offsets, sk.offsets, atol=1e-6) else Skeleton(
            sk.names, sk.parents, mirrored_offsets)
        rot = self.rotations[:, mi].copy()
        rot[..., 1] *= -1
        rot[..., 2] *= -1
        contacts = None
        if self.contacts is not None:
            cj = list(self.contact_joints)
            order = [cj.index(sk.names[mi[sk.index(n)]]) for n in cj]
            contacts = self.contacts[:, order]
        return self.copy(skeleton=new_sk, root_pos=self.root_pos * flip, rotations=rot, contacts=contacts)

    def grounded(self, clearance: float | None = None, percentile: float = 5.0) -> Motion:
        """Shift vertically so the feet stand on z = 0.

        The floor is the ``percentile`` of the per-frame lowest joint height (robust to a few frames of noise);
        it is moved to ``clearance`` (default: the skeleton's own lowest rest joint height above its floor, i.e.
        where its toes sit in the rest pose, 0 if unknown).
        """
        pos = self.positions()
        floor = np.percentile(pos[..., 2].min(axis=1), percentile)
        if clearance is None:
            rest = self.skeleton.rest_positions()
            clearance = float(rest[:, 2].min()) if rest[:, 2].min() >= 0 else 0.0
        root = self.root_pos.copy()
        root[:, 2] += clearance - floor
        return self.copy(root_pos=root)

    def heading(self, frame: int | None = None) -> np.ndarray:
        """Facing angle(s) about Z (radians, 0 = facing -Y), from hips and shoulders left->right vectors."""
        pos = self.positions() if frame is None else self.slice(frame, frame + 1).positions()
        sk = self.skeleton
        across = np.zeros(pos.shape[:1] + (3,))
        for pair in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
            if all(n in sk.index_of for n in pair):
                across += pos[:, sk.index(pair[0])] - pos[:, sk.index(pair[1])]
        if not np.any(across):
            # fall back to the root's own +X axis
            across = np_quat_apply(self.rotations[:, 0] if frame is None else self.rotations[frame:frame + 1, 0],
                                   np.array([1.0, 0, 0]))
        # character left = +X when facing -Y; forward = across x up
        fwd = np.cross(across, np.array([0.0, 0.0, 1.0]))
        ang = np.arctan2(fwd[:, 0], -fwd[:, 1])  # 0 when fwd = -Y, positive counter-clockwise seen from above
        return ang if frame is None else ang[0]

    def rotated_about_z(self, angle: float, pivot: np.ndarray | None = None) -> Motion:
        """Rotate the whole motion about the world Z axis through ``pivot`` (default: origin)."""
        q = np_quat_about_z(np.array(angle))
        pivot = np.zeros(3) if pivot is None else np.asarray(pivot, np.float64)
        root = np_quat_apply(q, self.root_pos - pivot) + pivot
        rot = self.rotations.copy()
        rot[:, 0] = np_quat_mul(q, rot[:, 0])
        for r in self.skeleton.roots[1:]:
            rot[:, r] = np_quat_mul(q, rot[:, r])
        return self.copy(root_pos=root, rotations=rot)

    def canonicalized(self, frame: int = 0) -> Motion:
        """Move the root at ``frame`` above the origin (x = y = 0) and turn it to face -Y."""
        ang = self.heading(frame)
        m = self.rotated_about_z(-ang)
        root = m.root_pos.copy()
        root[:, :2] -= root[frame, :2]
        return m.copy(root_pos=root)

    # ------------------------------------------------------------------------------------------------ contacts
    def with_contacts(self, joints: tuple[str, ...] = FOOT_JOINTS, **kwargs) -> Motion:
        """Detect foot contacts (see :mod:`backend.motion.contacts`) for ``joints`` and store them."""
        sk = self.skeleton
        idx = [sk.index(n) for n in joints]
        pos = fk_positions(self.rotations, self.root_pos, sk.offsets, sk.parents, idx)  # those joints only
        rest_z = sk.rest_positions()[:, 2]
        rest_h = rest_z[idx] - min(float(rest_z.min()), 0.0)  # height above the rest pose's floor
        c = detect_contacts(pos, self.fps, rest_h, **kwargs)
        return self.copy(contacts=c, contact_joints=tuple(joints))
