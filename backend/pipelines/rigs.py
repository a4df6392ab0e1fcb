"""A rig bound to the canonical skeleton: its bone map and the conversions both ways, through the retargeting API.

Everything the runners need to go between a Blender rig's pose channels and the canonical body the models work on
lives here, so the runners read as "to canonical, run the model, back to the rig". The maths is
:mod:`backend.retarget.api` (``prepare``, ``from_canonical``, ``to_canonical``, ``RigPose``): bone maps from names and
topology, contact cleanup, Rigify FK controls with their switch properties, location channels for feet parented to
the root, and the extra spine/neck bones that share a bend. This module only wires it to the wire schema and turns
its errors into :class:`~backend.pipelines.context.RequestError` messages an animator can act on.

Which bones a result writes: the *solve rig*'s ``written`` bones (mapped bones, bones between mapped ones, location
bones). The solve rig is the rig itself, Rigify's FK controls (recognised by name), or, when the request lists
``RigSpec.controls`` for a rig that is not recognised, the listed control bones with their own hierarchy (nearest
listed ancestor as parent): results are then solved on and written onto those bones only.

Rigs lying down. The retargeting needs legs that hang down in the rest pose. A rig whose rest pose lies on its back
(a Z-up BVH read as Y-up, which is what Blender's own BVH export and import do to each other) is solved in an
*upright view*: its object matrix turned by the rotation ``up_fix`` that stands the rest pose up (pelvis above the
ankles). Pose channels do not change under that turn, so the rig's channels are the upright view's; canonical
motions are turned back into the real world on the way out (``to_canonical``) and into the upright view on the
way in (``to_rig``), so what the animator sees (a clip lying on its back) is what the other side gets. The geometry
of both views (controls alone, upright) is :mod:`backend.retarget.views`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..motion.motion import Motion
from ..motion.rotations import (
    np_quat_apply,
    np_quat_inv,
    np_quat_mul,
)
from ..motion.skeleton import CANONICAL_JOINTS, SkeletonError
from ..retarget.api import (
    PreparedRig,
    RetargetResult,
    RigPose,
    from_canonical,
    pose_to_motion,
    prepare,
    required_joints,
    to_canonical,
)
from ..retarget.bonemap import BoneMap, rig_bone_map
from ..retarget.control_rigs import find_profile
from ..retarget.rig import Rig, RigError
from ..retarget.transfer import RetargetError
from ..retarget.views import controls_rig, turn_body, turned, up_fix
from ..schema import Array, BoneMapEntry, MotionSpec, PoseBoneProperty, RigSpec
from .context import RequestError
from .convert import subset_parents, unknown_names


class RigBinding:
    """A :class:`RigSpec` with its :class:`Rig`, its bone map and the prepared retargeting solve.

    ``mapping`` is canonical joint -> rig bone as the animator sees it (the automatic map, with the request's
    ``bone_map`` overrides taken as given; Rigify joints map to its FK controls). The *translation bone* (whose
    ``location`` carries root motion) is the first location bone of the solve: the bone mapped to the pelvis, or
    Rigify's ``torso``. A rig that cannot be retargeted (no legs) still binds, so its bone map can be shown;
    :meth:`require_body` says why it cannot be used.
    """

    def __init__(self, spec: RigSpec):
        self.spec = spec
        try:
            rig = Rig.from_spec(spec)
        except (RigError, SkeletonError, ValueError) as e:
            raise RequestError(f"rig {spec.name!r} cannot be used: {e}") from None
        if spec.floor is not None:
            rig.floor = float(spec.floor)
        self.rig = rig
        overrides = dict(spec.bone_map or {})
        bad = [c for c in overrides if c not in CANONICAL_JOINTS]
        if bad:
            raise RequestError(f"bone_map keys must be canonical joints; {', '.join(map(repr, bad[:5]))} "
                               f"{'is' if len(bad) == 1 else 'are'} not (canonical joints: "
                               f"{', '.join(CANONICAL_JOINTS)})")
        if spec.controls and find_profile(rig.names) is None:
            off = [f"{c!r} -> {b!r}" for c, b in overrides.items() if b not in set(spec.controls)]
            if off:
                raise RequestError(f"rig {spec.name!r}: bone_map sends {', '.join(off[:3])}, but results go on the "
                                   f"control bones listed in rig.controls; map onto a control bone")
        self.profile = find_profile(rig.names)
        self.solve_rig = self._solve_rig_of(rig)
        self.up_fix: np.ndarray | None = None  # XYZW turn from the real world into the upright view, if lying
        if self.profile is None:
            self.up_fix = up_fix(self.solve_rig, overrides)
            if self.up_fix is not None:
                self.solve_rig = self._solve_rig_of(turned(spec, self.up_fix))
        self.problem: str | None = None
        self.prepared: PreparedRig | None = None
        self.reference_used: str | None = None  # set by to_canonical
        # RetargetError, BoneMapError, RigError and SkeletonError are ValueErrors; the rest guards degenerate rigs
        # (zero-length bones, collapsed rest frames) so a request never becomes a server error
        try:
            self.prepared = prepare(self.solve_rig, overrides=overrides or None)
        except (ValueError, ArithmeticError, IndexError) as e:
            self.problem = str(e)
        if self.prepared is not None:
            bm = self.prepared.bone_map
        else:
            try:
                bm = rig_bone_map(self.solve_rig, overrides or None)
            except (ValueError, ArithmeticError, IndexError) as e:
                raise RequestError(f"rig {spec.name!r}: {e}") from None
        self.bone_map: BoneMap = bm
        self.mapping = bm.mapping()
        self.confidence = {c: bm.confidence(c) for c in CANONICAL_JOINTS}
        # hips and legs (knees and ankles too, except on a leg that is a single bone)
        self.missing_required = [c for c in required_joints(self.solve_rig.skeleton, self.mapping)
                                 if c not in self.mapping]
        if self.prepared is not None:
            self.translation_bone = self.prepared.location_bones[0]
        else:
            self.translation_bone = self.mapping.get("pelvis") or rig.names[0]

    def _solve_rig_of(self, rig: Rig) -> Rig:
        if self.spec.controls and self.profile is None:
            try:
                return controls_rig(rig, list(self.spec.controls))
            except RigError as e:
                raise RequestError(f"rig {rig.name!r}: {e}") from None
        return rig

    # -------------------------------------------------------------------------------------------- bone map
    def bone_map_entries(self) -> list[BoneMapEntry]:
        return [BoneMapEntry(canonical=c, bone=self.bone_map.bone(c), confidence=round(self.confidence[c], 3))
                for c in CANONICAL_JOINTS]

    def require_body(self) -> None:
        """Raise :class:`RequestError` unless the rig can be retargeted (hips and legs mapped, legs hanging down)."""
        if self.prepared is not None:
            return
        if self.missing_required:
            nice = ", ".join(c.replace("_", " ") for c in self.missing_required)
            raise RequestError(f"rig {self.spec.name!r}: no bone found for {nice}; name them in bone_map "
                               f"(canonical joint -> bone), e.g. {{\"{self.missing_required[0]}\": \"<bone>\"}}")
        raise RequestError(f"rig {self.spec.name!r}: {self.problem}")

    @property
    def has_body(self) -> bool:
        return self.prepared is not None

    @property
    def written(self) -> tuple:
        """Bones whose rotation channels a result from the canonical body sets (solve rig order)."""
        self.require_body()
        return self.prepared.written

    @property
    def solve_bones(self) -> tuple:
        """Bones the solve reads and writes (every bone, Rigify's FK controls, or the listed controls)."""
        return self.prepared.source.names if self.prepared is not None else self.solve_rig.names

    def canonical_key_mask(self, bones, mask: np.ndarray) -> np.ndarray:
        """(K,22) bool: a canonical joint is keyed at a key where the rig bone it maps to is keyed (``mask`` (K,B)
        over ``bones``); joints whose bone is not among ``bones`` are not keyed."""
        keyed = {b: mask[:, i] for i, b in enumerate(bones)}
        out = np.zeros((mask.shape[0], len(CANONICAL_JOINTS)), bool)
        for j, c in enumerate(CANONICAL_JOINTS):
            b = self.mapping.get(c)
            if b in keyed:
                out[:, j] = keyed[b]
        return out

    # -------------------------------------------------------------------------------------------- conversions
    def to_rig(self, motion: Motion, contact_cleanup: bool = True, location_bones=(), check=None) -> RetargetResult:
        """Canonical motion -> this rig's channels (``result.pose``: a :class:`RigPose` with rotations of
        :attr:`written`, locations, properties). ``location_bones``: further bones of the solve to give location
        channels, each putting its head where the solve has it given its parent's channels (e.g. a root bone above
        the hips: it takes the whole translation and the hips' location becomes zero). ``check``: called between
        the stages of the solve (a job's ``ctx.check_cancelled``, which raises to stop it)."""
        prep = self._prepared_for(location_bones)
        if self.up_fix is not None:
            motion = turn_body(motion, self.up_fix)
        try:
            return from_canonical(prep.rig, motion, prepared=prep, contact_cleanup_on=contact_cleanup, check=check)
        except RetargetError as e:
            raise RequestError(f"retargeting onto rig {self.spec.name!r}: {e}") from None

    def to_canonical(self, pose: RigPose, reference="rest") -> Motion:
        """This rig's channels -> canonical motion. Bones outside the solve (fingers on a control rig, ...) are
        ignored; unlisted bones are at rest. ``reference``: the pose the rig is read against
        (:mod:`backend.retarget.reference`: "rest", "auto", "tpose" or a frame of ``pose``); which one was used is
        left in :attr:`reference_used`."""
        self.require_body()
        pose = self._solve_pose(pose)
        try:
            res = to_canonical(self.prepared.rig, pose, prepared=self.prepared, reference=reference)
        except RetargetError as e:
            raise RequestError(f"rig {self.spec.name!r}: {e}") from None
        self.reference_used = res.reference
        motion = res.motion
        return motion if self.up_fix is None else turn_body(motion, np_quat_inv(self.up_fix))

    def world(self, pose: RigPose) -> tuple[tuple, np.ndarray, np.ndarray]:
        """(bone names, world rotations (T,J,4) XYZW, head positions (T,J,3) metres) of the solve rig's bones posed
        by ``pose``, walking the rig's real hierarchy with every location channel (a foot parented to the root is
        where its location puts it). World rotations are turns from the rest pose (``Motion`` convention): a bone's
        posed world frame is ``rotation * rest_rot``. What Blender shows when the channels are keyed."""
        self.require_body()
        prep = self.prepared
        pose = self._solve_pose(pose)
        try:
            m = pose_to_motion(prep, pose)
        except RetargetError as e:
            raise RequestError(f"rig {self.spec.name!r}: {e}") from None
        G = m.global_rotations_and_positions()[0][:, prep.rig_to_drive]
        src = prep.source
        sk = src.skeleton
        T = pose.num_frames
        P = np.empty((T, len(sk), 3))
        ident = np.tile([0.0, 0.0, 0.0, 1.0], (T, 1))
        for k in range(len(sk)):  # the rotations are right on the driving skeleton; positions follow real parents
            par = sk.parents[k]
            gp = G[:, par] if par >= 0 else ident
            P[:, k] = (P[:, par] if par >= 0 else 0.0) + np_quat_apply(gp, sk.offsets[k])
            loc = pose.locations.get(sk.names[k])
            if loc is not None:
                P[:, k] += np_quat_apply(np_quat_mul(gp, src.rest_rot[k]), loc) * src.unit_scale
        if self.up_fix is not None:  # upright view -> the real world: P = U^-1 P_up, G = U^-1 G_up U
            u, u_inv = self.up_fix, np_quat_inv(self.up_fix)
            P = np_quat_apply(u_inv, P)
            G = np_quat_mul(np_quat_mul(u_inv, G), u)
        return sk.names, G, P

    def world_motion(self, pose: RigPose) -> Motion:
        """The pose as a world-aligned motion on the solve's driving skeleton (the rig's skeleton, with bones that
        only move by location re-parented under their anatomical parent): what a BVH of the result holds."""
        self.require_body()
        try:
            m = pose_to_motion(self.prepared, self._solve_pose(pose))
        except RetargetError as e:
            raise RequestError(f"rig {self.spec.name!r}: {e}") from None
        if self.up_fix is not None:
            from ..motion.formats.bvh import change_basis
            m = change_basis(m, np_quat_inv(self.up_fix), 1.0)
        return m

    def _solve_pose(self, pose: RigPose) -> RigPose:
        """Only the channels of bones the solve knows (the rest cannot move the solve rig)."""
        known = set(self.solve_bones)
        keep = [i for i, b in enumerate(pose.bones) if b in known]
        if len(keep) == len(pose.bones) and all(b in known for b in pose.locations):
            return pose
        return RigPose(tuple(pose.bones[i] for i in keep), np.asarray(pose.rotations)[:, keep],
                       {b: v for b, v in pose.locations.items() if b in known}, pose.fps, dict(pose.properties))

    def _prepared_for(self, location_bones=()) -> PreparedRig:
        self.require_body()
        prep = self.prepared
        extra = [b for b in dict.fromkeys(location_bones) if b not in prep.location_bones]
        if not extra:
            return prep
        known = set(prep.source.names)
        outside = [b for b in extra if b not in known]
        if outside:
            raise RequestError(f"rig {self.spec.name!r}: {', '.join(map(repr, outside[:3]))} "
                               f"{'is' if len(outside) == 1 else 'are'} not among the bones results are solved on")
        return dataclasses.replace(prep, location_bones=tuple(prep.location_bones) + tuple(extra))

    # -------------------------------------------------------------------------------------------- wire specs
    def spec_to_pose(self, spec: MotionSpec) -> RigPose:
        """``MotionSpec(space="rig")`` of this rig -> :class:`RigPose` (root translation and location bones as
        locations). Bones the spec does not list are at rest."""
        if spec.space != "rig":
            raise RequestError("expected a motion in rig space")
        bad = unknown_names(spec.bones, self.rig.names)
        if bad:
            raise RequestError(f"motion names bones the rig does not have: {', '.join(map(repr, bad[:5]))}")
        q = spec.rotations.numpy().astype(np.float64)
        q /= np.linalg.norm(q, axis=-1, keepdims=True)
        locs = {spec.root_bone or self.translation_bone: spec.root_translation.numpy().astype(np.float64)}
        if spec.location_bones:
            v = spec.locations.numpy().astype(np.float64)
            locs.update({b: v[:, i] for i, b in enumerate(spec.location_bones)})
        return RigPose(tuple(spec.bones), q, locs, float(spec.fps))

    def pose_to_spec(self, pose: RigPose, start_frame: int, root_bone: str | None = None) -> MotionSpec:
        """:class:`RigPose` -> ``MotionSpec(space="rig")``: rotations of the pose's bones (in the caller's bone
        order), ``root_bone``'s location as ``root_translation`` (default: the translation bone), every other
        location as ``location_bones``/``locations``, and the pose's properties."""
        rb = root_bone or self.translation_bone
        if rb not in pose.locations:
            raise RequestError(f"the result has no location for root bone {rb!r}")
        listed = set(pose.bones) | set(pose.locations)
        bones = [b for b in self.spec.bones if b in listed]
        col = {b: i for i, b in enumerate(pose.bones)}
        T = pose.num_frames
        rot = np.zeros((T, len(bones), 4))
        rot[..., 3] = 1.0
        for i, b in enumerate(bones):
            if b in col:
                rot[:, i] = pose.rotations[:, col[b]]
        others = [b for b in bones if b in pose.locations and b != rb]
        parents = subset_parents(bones, list(self.spec.bones), list(self.spec.parents))
        props = [PoseBoneProperty(bone=b, name=n, value=float(v))
                 for b, d in sorted(pose.properties.items()) for n, v in sorted(d.items())]
        return MotionSpec(space="rig", bones=bones, parents=parents, fps=float(pose.fps), start_frame=int(start_frame),
                          rotations=Array.from_numpy(rot), root_translation=Array.from_numpy(pose.locations[rb]),
                          root_bone=rb, location_bones=others or None,
                          locations=Array.from_numpy(np.stack([pose.locations[b] for b in others], 1))
                          if others else None, properties=props or None)
