"""User motion folders for training: BVH files (LaFAN1, CMU or any humanoid) and AMASS-style SMPL ``.npz`` files,
moved onto the canonical skeleton the same way the corpus is built (:func:`backend.data.build.to_canonical`).

* BVH: the skeleton's profile (:mod:`backend.data.profiles`) or, for LaFAN1, :data:`LAFAN1_MAP`, gives the joint
  map. When the rest pose is not a T-pose (LaFAN1's bones all lie along their parent's X axis at rest), the
  reference pose is built by :func:`tpose_reference`: every mapped bone turned to the canonical T-pose direction.
* AMASS npz (``poses`` axis-angle (T, 3*J), ``trans`` (T,3), ``mocap_framerate``): SMPL local rotations are
  re-expressed in the canonical axes (Z up, facing -Y); the canonical body replaces the subject's shape (betas).

Splits: LaFAN1 names (``<take>_subjectN.bvh``) follow the paper: subject 5 is test, subjects 1-4 train (every 10th
take of theirs, by name hash, validation). Other files: by a hash of the file name, 10% val and 10% test.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from ..motion.formats.bvh import load_bvh
from ..motion.motion import Motion
from ..motion.rotations import np_matrix_to_quat, np_quat_inv, np_quat_mul
from ..motion.skeleton import CANONICAL, CANONICAL_FPS, Skeleton
from .corpus import Clip

LAFAN1_MAP = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_foot": "LeftToe", "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "right_foot": "RightToe", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
    "head": "Head", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand", "right_collar": "RightShoulder", "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm", "right_wrist": "RightHand"}
LAFAN1_NAME = re.compile(r"^(?P<take>.+)_(?P<subject>subject\d+)$")


def is_lafan1(sk: Skeleton) -> bool:
    return all(n in sk.index_of for n in LAFAN1_MAP.values()) and "LeftToe" in sk.index_of


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation matrix R minimising |R src_i - dst_i| (rows are vectors); one vector: the shortest arc."""
    if len(src) == 1:
        a = src[0] / np.linalg.norm(src[0])
        b = dst[0] / np.linalg.norm(dst[0])
        v, c = np.cross(a, b), float(a.dot(b))
        if c < -1 + 1e-9:  # opposite: half turn about any perpendicular axis
            axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
            axis /= np.linalg.norm(axis)
            return 2 * np.outer(axis, axis) - np.eye(3)
        vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
        return np.eye(3) + vx + vx @ vx / (1 + c)
    H = src.T @ dst
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    return Vt.T @ np.diag([1, 1, d]) @ U.T


def tpose_reference(sk: Skeleton, joint_map: dict[str, str]) -> np.ndarray:
    """Local rotations (J,4) that pose ``sk`` like the canonical T-pose: each source joint is turned so the
    directions to its children point where the canonical counterparts' do (the nearest mapped descendants
    stand in for unmapped children). Joints without mapped descendants keep their parent's orientation."""
    inv = {s: c for c, s in joint_map.items()}
    crest = CANONICAL.rest_positions()
    srest = sk.rest_positions()
    J = len(sk)
    local = np.tile([0, 0, 0, 1.0], (J, 1))
    glob = np.zeros((J, 3, 3))

    def mapped_below(j):
        out, frontier = [], list(sk.children(j))
        while frontier:
            nxt = []
            for c in frontier:
                if sk.names[c] in inv:
                    out.append(c)
                else:
                    nxt.extend(sk.children(c))
            frontier = nxt
        return out

    for j in range(J):
        p = sk.parents[j]
        gp = glob[p] if p >= 0 else np.eye(3)
        name = sk.names[j]
        kids = mapped_below(j) if name in inv else []
        src, dst = [], []
        for c in kids:
            v_src = srest[c] - srest[j]  # rest offset to the descendant, in this joint's rest axes
            v_dst = crest[CANONICAL.index(inv[sk.names[c]])] - crest[CANONICAL.index(inv[name])]
            if np.linalg.norm(v_src) > 1e-6 and np.linalg.norm(v_dst) > 1e-6:
                src.append(v_src / np.linalg.norm(v_src))
                dst.append(v_dst / np.linalg.norm(v_dst))
        if len(src) >= 2:  # several children (hips, chest): fully determined
            L = gp.T @ _kabsch(np.array(src), np.array(dst))
        elif src:  # one child: shortest arc in the parent's frame, so the bone's roll follows its parent's
            L = _kabsch(np.array(src), (gp.T @ np.array(dst).T).T)
        else:
            L = np.eye(3)
        glob[j] = gp @ L
        local[j] = np_matrix_to_quat(L)
    return local


def _has_lafan1_names(path: Path) -> bool:
    head = Path(path).read_text(errors="replace")[:20000]
    return all(re.search(rf"JOINT\s+{n}\b", head) for n in ("LeftToe", "LeftForeArm", "Spine2"))


def load_lafan1_bvh(path: Path) -> Motion:
    """LaFAN1 files are Y-up centimetres. Their rest pose lies along X, which defeats the automatic up-axis and
    unit guess, so both are given."""
    return load_bvh(path, up="Y", scale=0.01)


def bvh_to_canonical(path: Path) -> tuple[Motion, str]:
    """A BVH file on the canonical skeleton (30 fps, grounded, at the origin facing -Y, with contacts)."""
    from ..retarget.transfer import align, transfer
    from .profiles import profile_for
    m = load_lafan1_bvh(path) if _has_lafan1_names(path) else load_bvh(path)
    sk = m.skeleton
    if is_lafan1(sk):
        joint_map, ref, prof = LAFAN1_MAP, tpose_reference(sk, LAFAN1_MAP), "lafan1"
    else:
        p = profile_for(sk)
        joint_map, prof = p.joint_map, p.name
        ref = tpose_reference(sk, joint_map) if p.name == "auto" else None
    al = align(sk, CANONICAL, joint_map, src_ref_local=ref)
    out = transfer(m, al).resample(CANONICAL_FPS).grounded().canonicalized().with_contacts()
    out.meta = {"name": path.stem, "profile": prof}
    return out, prof


# ------------------------------------------------------------------------------------------------------ AMASS
_YUP_TO_ZUP = np.array([np.sin(np.pi / 4), 0, 0, np.cos(np.pi / 4)])  # +90 degrees about X: SMPL axes -> canonical


def _axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    ang = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.where(ang < 1e-12, 1.0, ang)
    return np.concatenate([axis * np.sin(ang / 2), np.cos(ang / 2)], -1)


def smpl_to_canonical(poses: np.ndarray, trans: np.ndarray, fps: float) -> Motion:
    """AMASS/SMPL parameters -> canonical motion. ``poses`` (T, >=66) axis-angle of the 22 body joints in SMPL's
    Y-up model axes, the first being the global orientation into AMASS's Z-up world."""
    T = poses.shape[0]
    q = _axis_angle_to_quat(np.asarray(poses, np.float64)[:, :66].reshape(T, 22, 3))
    R, Ri = _YUP_TO_ZUP, np_quat_inv(_YUP_TO_ZUP)
    local = np_quat_mul(np_quat_mul(R, q), Ri)  # joints: conjugated into canonical axes
    local[:, 0] = np_quat_mul(q[:, 0], Ri)  # root: world <- SMPL model axes <- canonical model axes
    m = Motion(CANONICAL, fps, np.asarray(trans, np.float64), local)
    return m.resample(CANONICAL_FPS).grounded().canonicalized().with_contacts()


def npz_to_canonical(path: Path) -> Motion:
    with np.load(path, allow_pickle=False) as z:
        if "poses" not in z or "trans" not in z:
            raise ValueError(f"{path.name}: an AMASS-style npz needs 'poses' and 'trans' arrays")
        fps = float(z["mocap_framerate"] if "mocap_framerate" in z else z.get("mocap_frame_rate", 30.0))
        return smpl_to_canonical(z["poses"], z["trans"], fps)


# ---------------------------------------------------------------------------------------------------- folders
def split_for(stem: str) -> str:
    m = LAFAN1_NAME.match(stem)
    h = int(hashlib.sha1(stem.encode()).hexdigest()[:8], 16) % 10
    if m:
        return "test" if m.group("subject") == "subject5" else "val" if h == 0 else "train"
    return "test" if h == 0 else "val" if h == 1 else "train"


def load_folder(folder: Path, log=print) -> list[Clip]:
    """Every ``.bvh`` and ``.npz`` under ``folder`` as canonical clips (unreadable files are reported, skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder at {folder}")
    clips = []
    files = sorted(list(folder.rglob("*.bvh")) + list(folder.rglob("*.npz")))
    if not files:
        raise FileNotFoundError(f"no .bvh or .npz files under {folder}")
    for f in files:
        try:
            if f.suffix == ".bvh":
                m, prof = bvh_to_canonical(f)
            else:
                m, prof = npz_to_canonical(f), "amass_smpl"
        except Exception as e:  # noqa: BLE001 - one broken file must not stop a long import; it is reported
            log(f"skipping {f.name}: {type(e).__name__}: {e}")
            continue
        rel = str(f.relative_to(folder).with_suffix(""))
        clips.append(Clip(f"user/{rel}", f"user:{rel}", "user", "user-supplied", [], split_for(f.stem), m,
                          {"profile": prof, "source_file": str(f)}))
    return clips
