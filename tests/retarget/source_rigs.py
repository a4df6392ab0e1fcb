"""Source rigs as real-world files have them, made from a CMU BVH clip: bone names under a prefix or namespace,
a rest pose away from the origin, a rest pose that is the clip's first frame (turned, mid-stride, or an A-pose), with
bone rolls; and the measures the tests judge a retarget by (world limb directions and heading against the source)."""
from __future__ import annotations

import numpy as np
from retarget_helpers import DATA, need

from backend.motion.formats.bvh import load_bvh
from backend.motion.kinematics import fk
from backend.motion.motion import Motion
from backend.motion.rotations import (
    np_quat_apply,
    np_quat_inv,
    np_quat_mul,
    np_quat_to_matrix,
)
from backend.retarget.api import RigPose
from backend.retarget.rig import Rig

CLIP = "cmu_bvh_mb_friendly/bvh/02_01.bvh"
# canonical joint -> the CMU MotionBuilder-friendly bone
CMU = {"pelvis": "Hips", "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
       "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot", "left_shoulder": "LeftArm",
       "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "right_shoulder": "RightArm",
       "right_elbow": "RightForeArm", "right_wrist": "RightHand", "spine3": "Spine1", "head": "Head"}
LIMBS = [("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
         ("right_knee", "right_ankle"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
         ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("pelvis", "spine3")]


def _yaw(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([0.0, 0.0, np.sin(a / 2), np.cos(a / 2)])


def _about(axis, deg):
    a = np.radians(deg)
    return np.concatenate([np.asarray(axis, float) * np.sin(a / 2), [np.cos(a / 2)]])


def cmu_clip(frames: int = 90, first: str | None = None, yaw: float = 0.0) -> Motion:
    """The CMU walk (Z up, metres, 30 fps); ``first="apose"`` / ``"tpose"`` prepends an A-pose frame (arms 45
    degrees down) / the T-pose rest frame,
    ``yaw`` turns the whole clip about +Z. CMU's hip connectors (``LHipJoint``) are held still, as on rigs whose
    thighs hang off the hips: with them moving, the hips' line is no longer the pelvis bone's."""
    m = load_bvh(need(DATA / CLIP)).resample(30.0).slice(0, frames)
    rot = m.rotations.copy()
    for b in ("LHipJoint", "RHipJoint"):
        rot[:, m.skeleton.index(b)] = [0, 0, 0, 1.0]
    m = m.copy(rotations=rot)
    if first in ("apose", "tpose"):
        sk = m.skeleton
        a = Motion.rest(sk, 1)
        rot = a.rotations.copy()
        if first == "apose":
            rot[0, sk.index("LeftArm")] = _about([0, 1, 0], 45)
            rot[0, sk.index("RightArm")] = _about([0, 1, 0], -45)
        root = m.root_pos[:1].copy()
        root[0, 2] = sk.offsets[0, 2] - sk.rest_positions()[:, 2].min()  # standing on the floor
        m = Motion(sk, m.fps, root, rot).concat(m)
    if yaw:
        q = _yaw(yaw)
        rot = m.rotations.copy()
        rot[:, 0] = np_quat_mul(q, rot[:, 0])
        m = m.copy(root_pos=np_quat_apply(q, m.root_pos), rotations=rot)
    return m


def file_rig(m: Motion, prefix: str = "", shift=(0.0, 0.0, 0.0), rest_frame: int | None = None, roll: float = 0.0,
             seed: int = 0):
    """(Rig, RigPose) of motion ``m`` as an FBX-style file has it: names ``prefix + name``, oriented bones rolled by
    up to ``roll`` degrees, the whole scene moved by ``shift``; the rest pose is the BVH rest pose, or frame
    ``rest_frame`` of the motion (an FBX without a bind pose)."""
    sk = m.skeleton
    shift = np.asarray(shift, np.float64)
    g, p = fk(m.rotations, m.root_pos, sk.offsets, sk.parents)  # world turns from the BVH rest, positions
    J = g.shape[1]
    if rest_frame is None:
        g0, p0 = np.tile([0, 0, 0, 1.0], (J, 1)), sk.rest_positions()
    else:
        g0, p0 = g[rest_frame], p[rest_frame]
    rng = np.random.default_rng(seed)
    rolls = np.stack([_about(ax / np.linalg.norm(ax), d) for ax, d in
                      zip(rng.normal(size=(J, 3)), rng.uniform(-roll, roll, J))])
    frame0 = np_quat_mul(g0, rolls)  # each bone's world rest frame
    mats = np.tile(np.eye(4), (J, 1, 1))
    mats[:, :3, :3] = np_quat_to_matrix(frame0)
    mats[:, :3, 3] = p0 + shift
    names = [prefix + n for n in sk.names]
    rig = Rig.from_matrices(names, sk.parents, mats, name=f"{prefix}file")
    order = [sk.index(n[len(prefix):]) for n in rig.names]
    # world turn of each bone from the new rest: g(t) g0^-1; local (world-aligned) = parent's^-1 own
    d = np_quat_mul(g, np_quat_inv(g0)[None])[:, order]
    par = rig.skeleton.parents
    local = np.stack([d[:, k] if par[k] < 0 else np_quat_mul(np_quat_inv(d[:, par[k]]), d[:, k])
                      for k in range(J)], 1)
    root = p[:, order[0]] + shift
    mot = Motion(rig.skeleton, m.fps, root, local)
    q, loc = rig.motion_to_channels(mot)
    pose = RigPose(rig.names, q, {rig.names[0]: loc}, m.fps)
    rig.floor = float(shift[2])
    return rig, pose


def limb_and_heading_errors(src: Motion, src_joints: dict[str, str], out: Motion,
                            out_joints: dict[str, str] | None = None) -> tuple[float, float]:
    """(worst limb direction error, worst heading error) in degrees over all frames between a source motion and a
    retargeted one. Limbs: thigh, shin, upper arm and forearm directions in the world; heading: where the pelvis
    bone's forward (-Y at each rest, both rests facing -Y) points, about +Z. ``*_joints``: canonical joint -> bone."""
    out_joints = out_joints or {c: c for c in src_joints}
    ps, po = src.positions(), out.positions()
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    limb = 0.0
    for a, b in LIMBS[:-1]:
        u = unit(ps[:, src.skeleton.index(src_joints[b])] - ps[:, src.skeleton.index(src_joints[a])])
        v = unit(po[:, out.skeleton.index(out_joints[b])] - po[:, out.skeleton.index(out_joints[a])])
        limb = max(limb, float(np.degrees(np.arccos(np.clip(np.sum(u * v, -1), -1, 1))).max()))

    def heading(m, bone):
        g = m.global_rotations_and_positions()[0][:, m.skeleton.index(bone)]
        f = np_quat_apply(g, np.broadcast_to([0.0, -1.0, 0.0], (len(g), 3)))
        return np.arctan2(f[:, 0], -f[:, 1])
    dh = heading(src, src_joints["pelvis"]) - heading(out, out_joints["pelvis"])
    return limb, float(np.degrees(np.abs((dh + np.pi) % (2 * np.pi) - np.pi)).max())
