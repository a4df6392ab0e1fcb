"""Reference poses: the pose in which a *source* rig stands like the canonical rest pose (a T-pose facing -Y).

Rotations transfer as turns from each side's reference pose (:mod:`.transfer`), and the body heading is measured on
it. A rest pose that is not a T- or A-pose (an FBX clip whose rest is its first frame: mid-stride, turned 79 degrees)
taken as one turns the whole result by the rest's heading and its limbs with it. The choices
(:func:`backend.retarget.api.to_canonical`'s ``reference``, ``--reference`` on the command line,
``source_reference`` in a retarget request):

* ``"rest"``: the rig's rest pose, heading measured on it (what the API does unless told otherwise);
* a frame number: that frame of the motion being read (Character Creator BVH files prepend a T-pose frame);
* ``"tpose"``: an estimate from the skeleton's own geometry: every mapped bone turned so the directions to its
  mapped descendants point where the canonical T-pose has them (:func:`tpose_reference`), facing -Y;
* ``"auto"``: the rest pose when it *is* a T- or A-pose (legs down, spine up, upper arms out to the sides between
  raised 20 degrees and lowered 60, forearms in line: :func:`rest_pose_problems`), turned to face -Y (the world's
  forward, so the motion keeps its heading in the world); otherwise the estimate. The result says which was used.
"""
from __future__ import annotations

import numpy as np

from ..motion.kinematics import fk
from ..motion.rotations import np_matrix_to_quat, np_quat_mul
from ..motion.skeleton import CANONICAL, Skeleton

CHOICES = ("auto", "rest", "tpose")
_UP = np.array([0.0, 0.0, 1.0])


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation matrix R minimising |R src_i - dst_i| (rows are unit vectors); one vector: the shortest arc."""
    if len(src) == 1:
        a, b = src[0], dst[0]
        v, c = np.cross(a, b), float(a.dot(b))
        if c < -1 + 1e-9:  # opposite: half turn about any perpendicular axis
            axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
            axis /= np.linalg.norm(axis)
            return 2 * np.outer(axis, axis) - np.eye(3)
        vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
        return np.eye(3) + vx + vx @ vx / (1 + c)
    U, _, Vt = np.linalg.svd(src.T @ dst)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    return Vt.T @ np.diag([1, 1, d]) @ U.T


def _mapped_below(sk: Skeleton, j: int, mapped: set) -> list[int]:
    out, frontier = [], list(sk.children(j))
    while frontier:
        nxt = []
        for c in frontier:
            (out.append(c) if c in mapped else nxt.extend(sk.children(c)))
        frontier = nxt
    return out


def tpose_reference(sk: Skeleton, joint_map: dict[str, str]) -> np.ndarray:
    """Local rotations (J,4) XYZW that pose ``sk`` (world-aligned at rest) like the canonical T-pose.

    ``joint_map``: canonical joint -> joint of ``sk``. Each mapped joint is turned so the directions to its mapped
    descendants point where the canonical counterparts' do: several (hips, chest) fix it fully (best fit), one by
    the shortest arc in its parent's frame (the bone's roll follows its parent's). Other joints keep their parent's
    orientation."""
    inv = {s: c for c, s in joint_map.items() if s in sk.index_of}
    mapped = {sk.index(s) for s in inv}
    crest = CANONICAL.rest_positions()
    srest = sk.rest_positions()
    J = len(sk)
    local = np.tile([0, 0, 0, 1.0], (J, 1))
    glob = np.zeros((J, 3, 3))
    for j in range(J):
        p = sk.parents[j]
        gp = glob[p] if p >= 0 else np.eye(3)
        src, dst = [], []
        if j in mapped:
            cj = CANONICAL.index(inv[sk.names[j]])
            for c in _mapped_below(sk, j, mapped):
                cc = c
                while np.linalg.norm(srest[cc] - srest[j]) < 1e-3 and len(_mapped_below(sk, cc, mapped)) == 1:
                    cc = _mapped_below(sk, cc, mapped)[0]  # a zero-length bone (CMU's LowerBack): look further
                v_src = srest[cc] - srest[j]
                v_dst = crest[CANONICAL.index(inv[sk.names[cc]])] - crest[cj]
                if np.linalg.norm(v_src) > 1e-6 and np.linalg.norm(v_dst) > 1e-6:
                    src.append(v_src / np.linalg.norm(v_src))
                    dst.append(v_dst / np.linalg.norm(v_dst))
        if len(src) >= 2:
            L = gp.T @ _kabsch(np.array(src), np.array(dst))
        elif src:
            L = _kabsch(np.array(src), (gp.T @ np.array(dst).T).T)
        else:
            L = np.eye(3)
        glob[j] = gp @ L
        local[j] = np_matrix_to_quat(L)
    return local


def _unit(v):
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else None


def _angle(u, v) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(u, v), -1.0, 1.0))))


def heading_deg(sk: Skeleton, joint_map: dict[str, str], local: np.ndarray | None = None) -> float:
    """Signed angle (degrees, about +Z) from -Y to the body's forward (left hip -> right hip, turned) in a pose."""
    p = _positions(sk, local)
    across = p[sk.index(joint_map["left_hip"])] - p[sk.index(joint_map["right_hip"])]
    fwd = np.cross(across, _UP)
    return float(np.degrees(np.arctan2(fwd[0], -fwd[1])))


def _positions(sk: Skeleton, local):
    if local is None:
        return sk.rest_positions()
    return fk(np.asarray(local)[None], sk.offsets[0][None], sk.offsets, sk.parents)[1][0]


def rest_pose_problems(sk: Skeleton, joint_map: dict[str, str], local: np.ndarray | None = None,
                       tol_deg: float = 30.0) -> list[str]:
    """Why a pose (default: the rest pose) is no T- or A-pose: [] when legs hang down and the spine stands up within
    ``tol_deg``, and upper arms point out to the sides (between raised 20 and lowered 60 degrees, within 40 degrees
    of the across axis) with the forearms within 35 degrees of them. Heading is not judged (see
    :func:`face_forward`)."""
    p = _positions(sk, local)
    J = lambda c: sk.index(joint_map[c]) if joint_map.get(c) in sk.index_of else None
    d = lambda a, b: None if J(a) is None or J(b) is None else _unit(p[J(b)] - p[J(a)])
    out = []
    for s in ("left", "right"):
        for a, b, part in (("hip", "knee", "thigh"), ("knee", "ankle", "shin")):
            v = d(f"{s}_{a}", f"{s}_{b}")
            if v is not None and _angle(v, -_UP) > tol_deg:
                out.append(f"the {s} {part} points {_angle(v, -_UP):.0f} degrees away from down")
    top = next((c for c in ("spine3", "spine2", "spine1") if J(c) is not None), None)
    v = d("pelvis", top) if top else None
    if v is not None and _angle(v, _UP) > tol_deg:
        out.append(f"the spine leans {_angle(v, _UP):.0f} degrees")
    across = _unit((p[J("left_hip")] - p[J("right_hip")]) * [1, 1, 0]) if J("left_hip") is not None and \
        J("right_hip") is not None else None
    for s, sign in (("left", 1.0), ("right", -1.0)):
        u, f = d(f"{s}_shoulder", f"{s}_elbow"), d(f"{s}_elbow", f"{s}_wrist")
        if u is None or across is None:
            continue
        elev = float(np.degrees(np.arcsin(np.clip(u[2], -1, 1))))
        flat = _unit(u * [1, 1, 0])
        out_side = flat is not None and _angle(flat, sign * across) <= 40.0
        if not (-60.0 <= elev <= 20.0 and out_side):
            out.append(f"the {s} upper arm is not out to the side (elevation {elev:.0f} degrees)")
        elif f is not None and _angle(u, f) > 35.0:
            out.append(f"the {s} elbow is bent {_angle(u, f):.0f} degrees")
    return out


def face_forward(sk: Skeleton, joint_map: dict[str, str], local: np.ndarray | None = None) -> np.ndarray:
    """The pose (default: rest) with its root turned about +Z so the body faces -Y."""
    local = np.tile([0, 0, 0, 1.0], (len(sk), 1)) if local is None else np.array(local, np.float64)
    a = -np.radians(heading_deg(sk, joint_map, local))
    turn = np.array([0.0, 0.0, np.sin(a / 2), np.cos(a / 2)])
    for r in sk.roots:
        local[r] = np_quat_mul(turn, local[r])
    return local


def resolve(sk: Skeleton, joint_map: dict[str, str], choice) -> tuple[np.ndarray | None, str]:
    """("auto" | "rest" | "tpose") -> (reference local rotations on ``sk`` or None for the rest pose, what was used)."""
    if choice == "rest":
        return None, "rest pose"
    if choice == "tpose":
        return tpose_reference(sk, joint_map), "T-pose estimated from the skeleton"
    if choice != "auto":
        raise ValueError(f"reference must be 'auto', 'rest', 'tpose' or a frame number, got {choice!r}")
    problems = rest_pose_problems(sk, joint_map)
    if not problems:
        yaw = heading_deg(sk, joint_map)
        if abs(yaw) < 0.5:
            return None, "rest pose (a T/A-pose)"
        return face_forward(sk, joint_map), f"rest pose (a T/A-pose), turned {-yaw:.0f} degrees to face -Y"
    return tpose_reference(sk, joint_map), f"T-pose estimated from the skeleton (rest pose: {problems[0]})"
