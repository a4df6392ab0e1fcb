"""Retargeting API: rig -> canonical and canonical -> rig. Everything else (server pipelines, in-betweening,
text-to-motion) goes through these two calls.

::

    from ..retarget.api import RigPose, from_canonical, to_canonical
    res = from_canonical(rig, motion)          # canonical Motion (SMPL 22, Z up, metres) -> the rig's channels
    res.pose.rotations    # (T, B, 4) pose_bone.rotation_quaternion, XYZW, for res.pose.bones (rig bone names)
    res.pose.locations    # {bone: (T, 3)} pose_bone.location (bone space, armature units): the hips' translation
                          #   and any bone that is not below its anatomical parent (IK-parented feet)
    res.pose.properties   # {pose bone: {custom property: value}} switches to set first (Rigify IK/FK)
    res.bone_map          # BoneMap: canonical joint -> (bone, confidence)
    canon = to_canonical(rig, res.pose).motion   # and back

``rig`` is a :class:`~backend.retarget.rig.Rig` (``Rig.from_spec(RigSpec)`` for what the add-on sends,
:func:`~backend.retarget.rig_files.load_rig` for files). Bone maps are automatic (:mod:`.bonemap`) unless
``bone_map`` is given; ``overrides`` (canonical joint -> bone) are taken as given.

**Quaternion order.** XYZW everywhere here and on the wire. Blender/mathutils is WXYZ: convert with
``backend.motion.rotations.xyzw_to_wxyz`` exactly where ``rotation_quaternion`` is written, nowhere else.

**What is written.** Mapped bones, bones between mapped ones that share a chain's bend, and location bones.
Unlisted bones keep their rest pose. Rigs recognised as control rigs (:mod:`.control_rigs`, Rigify) get channels on
their FK controls only, plus the switch properties.

**Units and floors.** The canonical world has its floor where canonical toes rest (z of the rest pose's lowest
joint); a rig's floor is ``rig.floor`` or its rest pose's lowest joint. Hips translation is scaled by the ratio of
leg lengths (see :mod:`.transfer`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion.kinematics import depth_levels, fk, fk_positions, fk_rotations, global_to_local
from ..motion.motion import Motion, MotionError
from ..motion.rotations import np_quat_apply, np_quat_inv, np_quat_mul, np_quat_slerp
from ..motion.skeleton import CANONICAL, CANONICAL_JOINTS, FOOT_JOINTS, Skeleton, SkeletonError, topological_order
from ..schema import MAX_FRAMES  # one limit for the wire and the maths
from .bonemap import BoneMap, BoneMapError, rig_bone_map
from .cleanup import LegChain, contact_cleanup, floor_allowance, hand_cleanup, keep_above_floor
from .control_rigs import ControlProfile, find_profile
from .reference import resolve as resolve_reference
from .rig import Rig
from .transfer import Alignment, RetargetError, align, transfer
from .views import sub_rig

# canonical joints a rig must have for any transfer (the body is placed by its hips and legs); legs may be single
# bones (blocky characters): no knee, no ankle (see :func:`required_joints`)
REQUIRED = ("pelvis", "left_hip", "right_hip")
LEG_JOINTS = ("hip", "knee", "ankle")
_CANON_PARENT = {n: (CANONICAL_JOINTS[p] if p >= 0 else None) for n, p in zip(CANONICAL_JOINTS, CANONICAL.parents)}


# ------------------------------------------------------------------------------------------------- poses
@dataclass
class RigPose:
    """Pose channels of some bones of a rig, frame by frame: what Blender keys on pose bones.

    rotations: (T, B, 4) ``pose_bone.rotation_quaternion`` **XYZW** for ``bones``; locations: bone -> (T, 3)
    ``pose_bone.location`` (bone space, armature units); properties: pose bone -> {custom property: value}.
    """
    bones: tuple
    rotations: np.ndarray
    locations: dict = field(default_factory=dict)
    fps: float = 30.0
    properties: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def validate(self, rig: Rig | None = None) -> RigPose:
        """Clear errors for bad channels (shapes, NaN, zero quaternions, unknown bones, absurd lengths)."""
        bones = tuple(str(b) for b in self.bones)
        if len(set(bones)) != len(bones):
            raise RetargetError("pose lists a bone twice")
        rot = np.asarray(self.rotations, np.float64)
        if rot.ndim != 3 or rot.shape[1:] != (len(bones), 4):
            raise RetargetError(f"pose rotations must be (frames, {len(bones)}, 4) XYZW, got {rot.shape}")
        T = rot.shape[0]
        if T < 1 or T > MAX_FRAMES:
            raise RetargetError(f"a pose needs 1 to {MAX_FRAMES} frames, got {T}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise RetargetError(f"fps must be positive, got {self.fps}")
        if not np.all(np.isfinite(rot)):
            t, b = np.argwhere(~np.isfinite(rot).all(-1))[0]
            raise RetargetError(f"pose rotation of bone {bones[b]!r} at frame {t} is NaN or infinite")
        norms = np.linalg.norm(rot, axis=-1)
        if np.any(norms < 1e-6):
            t, b = np.argwhere(norms < 1e-6)[0]
            raise RetargetError(f"pose rotation of bone {bones[b]!r} at frame {t} is a zero quaternion")
        locs = {}
        for b, v in self.locations.items():
            v = np.asarray(v, np.float64)
            if v.shape != (T, 3):
                raise RetargetError(f"location of bone {b!r} must be ({T}, 3), got {v.shape}")
            if not np.all(np.isfinite(v)):
                raise RetargetError(f"location of bone {b!r} contains NaN or infinity")
            locs[str(b)] = v
        if rig is not None:
            known = set(rig.names)
            unknown = [b for b in list(bones) + list(locs) if b not in known]
            if unknown:
                raise RetargetError(f"pose names bones the rig {rig.name!r} does not have: {', '.join(unknown[:5])}")
        return RigPose(bones, rot / norms[..., None], locs, float(self.fps), dict(self.properties))


@dataclass
class RetargetResult:
    pose: RigPose  # the rig's channels
    bone_map: BoneMap
    motion: Motion  # the same result as a world-aligned motion on the rig's (driving) skeleton
    alignment: Alignment
    info: dict = field(default_factory=dict)


@dataclass
class CanonicalResult:
    motion: Motion  # on the canonical skeleton
    bone_map: BoneMap
    alignment: Alignment
    reference: str = "rest pose"  # which reference pose the source was read against (see :mod:`.reference`)


# --------------------------------------------------------------------------------------- prepared rigs
@dataclass
class PreparedRig:
    """A rig with its bone map and the skeleton retargeting solves on (the *driving* skeleton).

    The driving skeleton is the rig's own skeleton, except that a mapped bone which does not hang below the bone of
    its anatomical parent (Quaternius' feet hang off the root) is re-parented there, and that control rigs use their
    controls' effective FK hierarchy. ``rig_to_drive[k]`` is the driving index of bone k of ``source`` (in
    ``source``'s topological order).
    """
    rig: Rig  # the rig the caller gave
    source: Rig  # the rig whose bones get channels (the controls' sub-rig for control rigs)
    bone_map: BoneMap
    mapping: dict  # canonical -> bone (in source)
    driving: Skeleton
    rig_to_drive: np.ndarray
    location_bones: tuple
    written: tuple  # bones that get rotation channels (caller-facing names)
    ground: float
    profile: ControlProfile | None = None
    # alignments with the skeletons this rig was retargeted from / to, made once (they depend only on the two rest
    # poses and the map); shared by copies that add location bones, which do not change them
    alignments: dict = field(default_factory=dict, repr=False, compare=False)
    # what the cleanup derives from the rig alone (leg chains, floor points), made on the first request
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def semantics(self) -> dict:
        return dict(self.mapping)

    def alignment(self, direction: str, other: Skeleton, make) -> Alignment:
        """The cached alignment with ``other`` (``direction``: "from" or "to" this rig), made by ``make()``."""
        key = (direction, tuple(other.names), tuple(int(p) for p in other.parents), np.asarray(other.offsets).tobytes())
        al = self.alignments.get(key)
        if al is None:
            al = self.alignments[key] = make()
        return al


def prepare(rig: Rig, bone_map: BoneMap | None = None, overrides: dict | None = None) -> PreparedRig:
    """Bone map + driving skeleton for ``rig`` (see :class:`PreparedRig`). Raises :class:`RetargetError` for rigs that
    cannot be retargeted (no legs, unmapped hips)."""
    profile = find_profile(rig.names) if bone_map is None else None
    source = rig
    try:
        if profile is not None:
            present = [b for b in profile.parents if b in set(rig.names)]
            source = sub_rig(rig, present, profile.parents)
            bm = BoneMap()
            for c in CANONICAL_JOINTS:
                b = profile.controls.get(c)
                bm.entries[c] = (b, 1.0) if b in present else (None, 0.0)
                bm.how[c] = f"{profile.name} control" if b in present else "unmapped"
            if overrides:
                bm = bm.with_overrides(overrides, set(present))
        elif bone_map is not None:
            bm = bone_map.with_overrides(overrides, set(rig.names)) if overrides else bone_map
        else:
            bm = rig_bone_map(rig, overrides)
    except BoneMapError as e:
        raise RetargetError(str(e)) from None
    mapping = bm.mapping()
    if profile is not None:
        mapping.update({c: b for c, b in profile.drive.items() if c in mapping})
    unknown = [b for b in mapping.values() if b not in source.skeleton.index_of]
    if unknown:
        raise RetargetError(f"bone map names bones the rig {rig.name!r} does not have: {', '.join(unknown[:5])}")
    missing = [j for j in required_joints(source.skeleton, mapping) if j not in mapping]
    if missing:
        legs = [j for j in missing if j != "pelvis"]
        what = "no legs" if {"left_hip", "right_hip"} <= set(legs) else \
            "no " + ", ".join(m.replace("_", " ") for m in missing)
        raise RetargetError(f"rig {rig.name!r} cannot be retargeted: it has {what} (missing: {', '.join(missing)}). "
                            f"Retargeting needs hips and both legs (hip, and knee and ankle where the rig has "
                            f"them); map them with overrides if the automatic map missed them.")
    sk = source.skeleton
    rest_pos = sk.rest_positions()
    ground = source.floor_height()
    for s in ("left", "right"):  # a leg hangs down: refuse maps that would drive legs with arms or a tail
        hip = rest_pos[sk.index(mapping[f"{s}_hip"])]
        end_name = mapping.get(f"{s}_ankle")
        if end_name is not None:
            ankle = rest_pos[sk.index(end_name)]
        else:  # a single-bone leg: its lowest point (tail) is the foot, and the floor is no higher
            end_name = mapping[f"{s}_hip"]
            ankle = lowest_point(sk, sk.index(end_name))
            if source.floor is None:
                ground = min(ground, float(ankle[2]))
        leg = np.linalg.norm(hip - ankle)
        if not hip[2] - ankle[2] > 0.5 * leg or leg < 1e-6:
            raise RetargetError(f"rig {rig.name!r}: the bones mapped as the {s} leg ({mapping[f'{s}_hip']} -> "
                                f"{end_name}) do not hang down in the rest pose; this rig has no usable "
                                f"legs (map them with overrides if they exist)")
    new_parent = list(sk.parents)
    location_bones = []
    for c, b in mapping.items():
        p = _CANON_PARENT[c]
        while p is not None and p not in mapping:
            p = _CANON_PARENT[p]
        if p is None:
            continue
        j, pj = sk.index(b), sk.index(mapping[p])
        anc, k = set(), sk.parents[j]
        while k >= 0:
            anc.add(k)
            k = sk.parents[k]
        if pj in anc:
            continue
        # j does not hang below its anatomical parent: re-parent it there (it gets a location channel)
        k = sk.parents[pj]
        while k >= 0:
            if k == j:
                raise RetargetError(f"bone map puts {b!r} ({c}) above {mapping[p]!r} ({p}) in the rig's hierarchy")
            k = sk.parents[k]
        new_parent[j] = pj
        location_bones.append(b)
    translation = profile.translation if profile is not None else mapping["pelvis"]
    location_bones = (translation,) + tuple(b for b in location_bones if b != translation)
    try:
        order = topological_order(new_parent)
    except SkeletonError as e:
        raise RetargetError(str(e)) from None
    inv = np.empty(len(order), int)
    inv[order] = np.arange(len(order))
    rest = sk.rest_positions()
    d_names = [sk.names[i] for i in order]
    d_par = [int(inv[new_parent[i]]) if new_parent[i] >= 0 else -1 for i in order]
    d_off = np.array([rest[i] - (rest[new_parent[i]] if new_parent[i] >= 0 else 0.0) for i in order])
    ends = {int(inv[k]): v for k, v in sk.end_sites.items()}
    driving = Skeleton(tuple(d_names), np.array(d_par), d_off, ends)
    # bones that carry information: mapped, location, and unmapped bones on a chain between mapped ones
    written = set(mapping.values()) | set(location_bones)
    mapped_idx = {sk.index(b) for b in mapping.values()}
    for j in range(len(sk)):
        if j in mapped_idx:
            continue
        below = any(k in mapped_idx for k in sk.descendants(j))
        above = any(k in mapped_idx for k in sk.ancestors(j))
        if below and above:
            written.add(sk.names[j])
    if profile is not None:
        written = {b for b in written if b in profile.parents and b not in
                   {x for bones in profile.split.values() for x in bones[1:]}} | set(profile.split)
        written &= set(sk.names)
    written = tuple(b for b in sk.names if b in written)
    return PreparedRig(rig, source, bm, mapping, driving, inv, location_bones, written, ground, profile)


def required_joints(sk: Skeleton, mapping: dict) -> list[str]:
    """Canonical joints a rig must have mapped: the pelvis and both hips, and the knee and ankle of every leg whose
    hip bone has bones below it (only a leg that is one bone, as on blocky characters, goes without them; a leg of
    several bones with a knee or foot the map missed is named, not retargeted half)."""
    out = list(REQUIRED)
    for s in ("left", "right"):
        hip = mapping.get(f"{s}_hip")
        if hip is None or hip not in sk.index_of or sk.children(sk.index(hip)):
            out += [f"{s}_knee", f"{s}_ankle"]
    return out


def lowest_point(sk: Skeleton, j: int) -> np.ndarray:
    """The lowest rest point (bone head or leaf tail) of joint j's subtree: the foot of a single-bone leg."""
    rest = sk.rest_positions()
    pts = []
    for k in [j] + sk.descendants(j):
        pts.append(rest[k])
        if not sk.children(k) and k in sk.end_sites:
            pts.append(rest[k] + np.asarray(sk.end_sites[k], np.float64))
    return min(pts, key=lambda p: p[2])


# --------------------------------------------------------------------------------------- channels <-> world
def motion_to_pose(prep: PreparedRig, motion: Motion, world_rotations: np.ndarray | None = None) -> RigPose:
    """World-aligned motion on the driving skeleton -> pose channels of ``prep.written`` bones (see module doc).

    Walks the rig's real hierarchy: each bone's rotation channel makes its world rotation what the motion says,
    given its real parent; bones in ``location_bones`` also get the location that puts their head where the motion
    says; other bones follow their parents (their heads land where the motion has them by construction).
    ``world_rotations``: the motion's world rotations (its FK) if the caller has them."""
    src = prep.source
    sk = src.skeleton
    drv = prep.driving
    if world_rotations is None:
        world_rotations = fk_rotations(motion.rotations, drv.parents)
    G = world_rotations[:, prep.rig_to_drive]  # (T, J, 4) in the source rig's order
    T = G.shape[0]
    par = np.asarray(sk.parents, np.intp)
    roots = par < 0
    # each bone's channel makes its world rotation the motion's given its real parent's (all bones at once; a split
    # control, e.g. Rigify's two-bone neck, takes the world rotation of the last bone it drives)
    gp = G[:, np.where(roots, 0, par)]
    gp[:, roots] = [0.0, 0.0, 0.0, 1.0]
    split = {c: bones[-1] for c, bones in (prep.profile.split.items() if prep.profile else ())
             if bones[-1] in sk.index_of}
    g_k = G[:, [sk.index(split[n]) if n in split else k for k, n in enumerate(sk.names)]] if split else G
    local = np_quat_mul(np_quat_inv(gp), g_k)
    pose = np_quat_mul(np_quat_mul(np_quat_inv(src.rest_rot), local), src.rest_rot)
    # locations: a location bone's head goes where the motion has it, given where its parent's channels put its
    # rest offset; only the location bones and their ancestors need heads
    loc_set = set(prep.location_bones)
    loc_k = [k for k, n in enumerate(sk.names) if n in loc_set]
    P_loc = fk_positions(motion.rotations, motion.root_pos, drv.offsets, drv.parents, prep.rig_to_drive[loc_k])
    P_loc = {k: P_loc[:, i] for i, k in enumerate(loc_k)}
    need = set()
    for k in loc_k:
        while k >= 0 and k not in need:
            need.add(k)
            k = int(par[k])
    locs, p_impl = {}, {}
    for lv, (idx, pi) in enumerate(depth_levels(tuple(int(p) for p in sk.parents))):
        for k, p in zip(idx.tolist(), pi.tolist()):
            if k not in need:
                continue
            base = np.tile(sk.offsets[k], (T, 1)) if lv == 0 else p_impl[p] + np_quat_apply(G[:, p], sk.offsets[k])
            if k in P_loc:
                locs[sk.names[k]] = np_quat_apply(np_quat_inv(np_quat_mul(gp[:, k], src.rest_rot[k])),
                                                  P_loc[k] - base) / src.unit_scale
                p_impl[k] = P_loc[k]
            else:
                p_impl[k] = base
    # sign continuity: F-curves interpolate components, q and -q must not alternate
    d = np.einsum("tjc,tjc->tj", pose[1:], pose[:-1])
    pose[1:] *= np.cumprod(np.where(d < 0, -1.0, 1.0), axis=0)[..., None]
    idx = [sk.index(b) for b in prep.written]
    props = dict(prep.profile.properties) if prep.profile is not None else {}
    props = {b: dict(v) for b, v in props.items() if b in set(prep.rig.names)}
    return RigPose(tuple(prep.written), pose[:, idx], {b: locs[b] for b in prep.location_bones}, motion.fps, props)


def pose_to_motion(prep: PreparedRig, pose: RigPose) -> Motion:
    """Pose channels -> world-aligned motion on the driving skeleton. Bones the pose does not list are at rest;
    locations are honoured for every listed bone (a location on a bone re-parented for retargeting moves it in the
    rig, and the driving skeleton takes its world rotation, which is all retargeting reads from it)."""
    pose = pose.validate(prep.rig)
    src = prep.source
    sk = src.skeleton
    T, J = pose.num_frames, len(sk)
    q = np.tile([0, 0, 0, 1.0], (T, J, 1))
    for b, k in zip(pose.bones, range(len(pose.bones))):
        if b in sk.index_of:
            q[:, sk.index(b)] = pose.rotations[:, k]
    for c, bones in (prep.profile.split.items() if prep.profile else ()):
        if c in pose.bones and all(b in sk.index_of for b in bones):
            part = np_quat_slerp(np.tile([0, 0, 0, 1.0], (T, 1)), q[:, sk.index(c)], 1.0 / len(bones))
            for b in bones:  # Rigify copies the control's local rotation in local space, 1/n onto each
                q[:, sk.index(b)] = part
    local = np_quat_mul(np_quat_mul(src.rest_rot, q), np_quat_inv(src.rest_rot))
    ident = np.tile([0, 0, 0, 1.0], (T, 1))
    G = np.empty((T, J, 4))
    P = np.empty((T, J, 3))
    for k in range(J):
        p = sk.parents[k]
        gp = G[:, p] if p >= 0 else ident
        G[:, k] = np_quat_mul(gp, local[:, k])
        base = (P[:, p] + np_quat_apply(gp, sk.offsets[k])) if p >= 0 else np.tile(sk.offsets[k], (T, 1))
        loc = pose.locations.get(sk.names[k])
        P[:, k] = base if loc is None else base + np_quat_apply(np_quat_mul(gp, src.rest_rot[k]), loc) * src.unit_scale
    drive_to_rig = np.argsort(prep.rig_to_drive)
    Gd, Pd = G[:, drive_to_rig], P[:, drive_to_rig]
    local_d = global_to_local(Gd, prep.driving.parents)
    # a motion has one translation (its root's): shift the root so the translation bone lands where the pose has it
    drv = prep.driving
    h = drv.index(prep.location_bones[0])
    _, p0 = fk(local_d, Pd[:, 0], drv.offsets, drv.parents)
    return Motion(drv, pose.fps, Pd[:, 0] + (Pd[:, h] - p0[:, h]), local_d)


# ------------------------------------------------------------------------------------------------ the API
def _canonical_ground(sk: Skeleton) -> float:
    return float(sk.rest_positions()[:, 2].min())


def _check_canonical(motion: Motion) -> None:
    if not isinstance(motion, Motion):
        raise RetargetError("expected a canonical Motion")
    missing = [j for j in REQUIRED if j not in motion.skeleton.index_of]
    if missing:
        raise RetargetError(f"the source motion is not on the canonical skeleton (no {', '.join(missing)})")
    if motion.num_frames < 1 or motion.num_frames > MAX_FRAMES:
        raise RetargetError(f"a motion needs 1 to {MAX_FRAMES} frames, got {motion.num_frames}")
    try:
        motion.validate()
    except MotionError as e:
        raise RetargetError(f"bad source motion: {e}") from None


def source_contacts(motion: Motion) -> np.ndarray:
    """(T, 2 legs [left, right], 2 [ankle, toe]) foot contacts of a canonical motion (stored or detected)."""
    m = motion
    if m.contacts is None or tuple(m.contact_joints) != FOOT_JOINTS:
        m = motion.with_contacts(FOOT_JOINTS)
    c = m.contacts
    return np.stack([c[:, [0, 1]], c[:, [2, 3]]], axis=1)


def leg_chains(prep: PreparedRig, alignment: Alignment) -> list[LegChain | None]:
    """Left and right leg chains on the driving skeleton, with hinge axes and rest clearances over the floor (None
    for a leg without a mapped knee and ankle)."""
    drv = prep.driving
    rest = drv.rest_positions()
    across = rest[drv.index(prep.mapping["left_hip"])] - rest[drv.index(prep.mapping["right_hip"])]
    across[2] = 0.0
    across /= max(np.linalg.norm(across), 1e-9)
    out = []
    for s in ("left", "right"):
        if not all(f"{s}_{j}" in prep.mapping for j in LEG_JOINTS):
            out.append(None)  # a single-bone leg: nothing to plant by IK
            continue
        ids = [drv.index(prep.mapping[f"{s}_{j}"]) for j in ("hip", "knee", "ankle")]
        toe = prep.mapping.get(f"{s}_foot")
        t = drv.index(toe) if toe is not None else None
        # the toe must hang below the ankle for the foot-roll logic
        if t is not None and ids[2] not in drv.ancestors(t):
            t = None
        g = prep.ground
        out.append(LegChain(ids[0], ids[1], ids[2], t, -across, float(rest[ids[2], 2] - g),
                            float(rest[t, 2] - g) if t is not None else float(rest[ids[2], 2] - g)))
    return out


def body_joints(prep: PreparedRig) -> list[int]:
    """Driving-skeleton joints of the body: mapped bones and everything below them (fingers, toes, twist bones),
    not the root bones above the hips or IK targets beside the body."""
    drv = prep.driving
    out = set()
    for b in prep.mapping.values():
        j = drv.index(b)
        out.add(j)
        out.update(drv.descendants(j))
    return sorted(out)


def floor_points(prep: PreparedRig, feet_at_rest_height: bool = True):
    """Body points and their floors (:func:`backend.retarget.cleanup.floor_allowance`) of a prepared rig; ankles
    and toes may not go below their rest heights unless ``feet_at_rest_height`` is off."""
    drv = prep.driving
    feet = [drv.index(prep.mapping[f"{s}_{j}"]) for s in ("left", "right") for j in ("ankle", "foot")
            if f"{s}_{j}" in prep.mapping] if feet_at_rest_height else []
    return floor_allowance(drv, body_joints(prep), prep.ground, feet)


def arm_chains(prep: PreparedRig) -> dict:
    drv = prep.driving
    out = {}
    for s, sign in (("left", 1.0), ("right", -1.0)):
        names = [prep.mapping.get(f"{s}_{j}") for j in ("shoulder", "elbow", "wrist")]
        if all(n is not None for n in names):
            out[f"{s}_wrist"] = tuple(drv.index(n) for n in names) + (np.array([0.0, 0.0, sign]),)
    return out


def from_canonical(rig: Rig, motion: Motion, bone_map: BoneMap | None = None, overrides: dict | None = None,
                   contact_cleanup_on: bool = True, hand_targets: dict | None = None, blend: int = 6,
                   prepared: PreparedRig | None = None, check=None) -> RetargetResult:
    """Canonical motion -> the rig's pose channels (module docstring). ``hand_targets``: canonical wrist name ->
    (world positions (T,3), weights (T,)) to pull the rig's hands to. ``check``: a function called between stages
    (transfer, each leg's cleanup, hands, channels); it may raise to stop the work (a cancelled job)."""
    check = check or (lambda: None)
    world = None
    _check_canonical(motion)
    prep = prepared or prepare(rig, bone_map, overrides)
    sk = motion.skeleton
    al = prep.alignment("from", sk, lambda: align(sk, prep.driving, {b: c for c, b in prep.mapping.items()},
                                                  dst_semantics=prep.semantics, src_ground=_canonical_ground(sk),
                                                  dst_ground=prep.ground))
    check()
    out = transfer(motion, al)
    info = {"scale": al.scale, "contact_cleanup": bool(contact_cleanup_on)}
    if contact_cleanup_on:
        if "legs" not in prep.derived:  # they depend on the rig only (its map, driving skeleton and floor)
            prep.derived["legs"], prep.derived["floor"] = leg_chains(prep, al), floor_points(prep)
        legs, floor = prep.derived["legs"], prep.derived["floor"]
        keep = [k for k, leg in enumerate(legs) if leg is not None]
        if keep:
            check()
            out = contact_cleanup(out, [legs[k] for k in keep], source_contacts(motion)[:, keep], prep.ground, blend,
                                  floor, check=check)
        check()
        world = out.global_rotations_and_positions()  # the floor pass's heights; its rotations serve the channels
        out, lift = keep_above_floor(out, *floor, blend=blend, fk=world)
        info["floor_lift_max_m"] = float(lift.max())
    if hand_targets:
        check()
        world = None  # the hands change rotations
        try:
            out = hand_cleanup(out, arm_chains(prep), hand_targets)
        except ValueError as e:
            raise RetargetError(str(e)) from None
    check()
    return RetargetResult(motion_to_pose(prep, out, world[0] if world is not None else None), prep.bone_map, out,
                          al, info)


def to_canonical(rig: Rig, pose: RigPose, bone_map: BoneMap | None = None, overrides: dict | None = None,
                 reference="rest", skeleton: Skeleton = CANONICAL,
                 prepared: PreparedRig | None = None) -> CanonicalResult:
    """The rig's pose channels -> canonical motion. ``reference``: the pose in which the rig stands like the canonical
    rest pose (:mod:`.reference`): ``"rest"`` (default), ``"auto"`` (the rest pose if it is a T/A-pose, turned to
    face -Y, else ``"tpose"``), ``"tpose"`` (estimated from the skeleton), a frame number of ``pose``, or a one-frame
    :class:`RigPose` (a T-pose frame, when the rig's own rest pose is not one: Character Creator's BVH).
    ``result.reference`` says which was used."""
    prep = prepared or prepare(rig, bone_map, overrides)
    m = pose_to_motion(prep, pose)
    ref_local, used = _reference(prep, m, reference)

    def make():
        return align(prep.driving, skeleton, dict(prep.mapping), src_ref_local=ref_local, src_ground=prep.ground,
                     dst_ground=_canonical_ground(skeleton))

    al = make() if ref_local is not None else prep.alignment("to", skeleton, make)
    return CanonicalResult(transfer(m, al), prep.bone_map, al, used)


def _reference(prep: PreparedRig, m: Motion, reference) -> tuple[np.ndarray | None, str]:
    """Reference local rotations on the driving skeleton (None: the rest pose) and a sentence saying which."""
    if reference is None:
        return None, "rest pose"
    if isinstance(reference, RigPose):
        return pose_to_motion(prep, reference).rotations[0], "the given pose"
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        if not 0 <= int(reference) < m.num_frames:
            raise RetargetError(f"reference frame {int(reference)} is outside the motion (frames 0 to "
                                f"{m.num_frames - 1})")
        return m.rotations[int(reference)].copy(), f"frame {int(reference)}"
    try:
        return resolve_reference(prep.driving, prep.mapping, reference)
    except ValueError as e:
        raise RetargetError(str(e)) from None


def retarget(src_rig: Rig, pose: RigPose, dst_rig: Rig, contact_cleanup_on: bool = True, **kwargs) -> RetargetResult:
    """Rig -> rig through the canonical skeleton."""
    canon = to_canonical(src_rig, pose).motion
    return from_canonical(dst_rig, canon, contact_cleanup_on=contact_cleanup_on, **kwargs)
