"""A rig bound to the canonical skeleton: its bone map and the transfers both ways.

Everything the runners need to go between a Blender rig's pose channels and the canonical body the models work on
lives here, so the runners read as "to canonical, run the model, back to the rig". The maths is
:mod:`backend.retarget` (``Rig``, ``auto_bone_map``, ``align``/``transfer``); this module only wires it up and turns
its errors into :class:`~backend.pipelines.context.RequestError` messages an animator can act on.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL, CANONICAL_JOINTS, SkeletonError
from ..retarget.bonemap import auto_bone_map
from ..retarget.rig import Rig, RigError
from ..retarget.transfer import RetargetError, align, transfer
from ..schema import BoneMapEntry, RigSpec
from .context import RequestError
from .convert import channels_to_spec, identity_quats, spec_to_channels, subset_parents

# Canonical joints a rig must have for any transfer (the transfer places the body by its hips and legs).
REQUIRED_JOINTS = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


class RigBinding:
    """A :class:`RigSpec` with its :class:`Rig`, canonical bone map and translation bone.

    ``mapping`` is canonical joint -> rig bone: the automatic map, with the request's ``bone_map`` overrides taken
    as given. The *translation bone* (whose ``location`` carries root motion) is the bone mapped to the pelvis.
    """

    def __init__(self, spec: RigSpec):
        self.spec = spec
        try:
            self.rig = Rig.from_spec(spec)
        except (RigError, SkeletonError, ValueError) as e:
            raise RequestError(f"rig {spec.name!r} cannot be used: {e}") from None
        auto = auto_bone_map(list(spec.bones), list(spec.parents))
        overrides = dict(spec.bone_map or {})
        bad = [c for c in overrides if c not in CANONICAL_JOINTS]
        if bad:
            raise RequestError(f"bone_map keys must be canonical joints; {', '.join(map(repr, bad[:5]))} "
                               f"{'is' if len(bad) == 1 else 'are'} not (canonical joints: "
                               f"{', '.join(CANONICAL_JOINTS)})")
        taken = set(overrides.values())
        mapping, confidence = {}, {}
        for c in CANONICAL_JOINTS:
            if c in overrides:
                mapping[c], confidence[c] = overrides[c], 1.0
                continue
            bone, conf = auto.entries.get(c, (None, 0.0))
            if bone is not None and bone not in taken:
                mapping[c], confidence[c] = bone, float(conf)
                taken.add(bone)
        self.mapping = mapping
        self.confidence = confidence
        missing = [c for c in REQUIRED_JOINTS if c not in mapping]
        self.missing_required = missing
        self.translation_bone = mapping.get("pelvis") or self.rig.names[0]

    # -------------------------------------------------------------------------------------------- bone map
    def bone_map_entries(self) -> list[BoneMapEntry]:
        return [BoneMapEntry(canonical=c, bone=self.mapping.get(c), confidence=round(self.confidence.get(c, 0.0), 3))
                for c in CANONICAL_JOINTS]

    def require_body(self) -> None:
        """Raise :class:`RequestError` unless hips and legs are mapped (every transfer needs them)."""
        if self.missing_required:
            nice = ", ".join(c.replace("_", " ") for c in self.missing_required)
            raise RequestError(f"rig {self.spec.name!r}: no bone found for {nice}; name them in bone_map "
                               f"(canonical joint -> bone), e.g. {{\"{self.missing_required[0]}\": \"<bone>\"}}")

    @property
    def mapped_bones(self) -> list[str]:
        """Rig bones that carry a canonical joint, in the caller's bone order."""
        used = set(self.mapping.values())
        return [b for b in self.spec.bones if b in used]

    # -------------------------------------------------------------------------------------------- transfers
    @cached_property
    def _to_rig(self):
        self.require_body()
        try:
            return align(CANONICAL, self.rig.skeleton, {b: c for c, b in self.mapping.items()},
                         dst_semantics=dict(self.mapping))
        except RetargetError as e:
            raise RequestError(f"rig {self.spec.name!r}: {e}") from None

    @cached_property
    def _to_canonical(self):
        self.require_body()
        try:
            return align(self.rig.skeleton, CANONICAL, dict(self.mapping))
        except RetargetError as e:
            raise RequestError(f"rig {self.spec.name!r}: {e}") from None

    def from_canonical(self, motion: Motion) -> Motion:
        """Canonical motion -> world-aligned motion on this rig's skeleton."""
        return transfer(motion, self._to_rig)

    def to_canonical(self, motion: Motion) -> Motion:
        """World-aligned motion on this rig's skeleton -> canonical motion."""
        return transfer(motion, self._to_canonical)

    def alignment_from(self, source: "RigBinding"):
        """Alignment for a direct rig -> rig transfer (source bones matched to ours through canonical names)."""
        self.require_body()
        source.require_body()
        joint_map = {b: source.mapping[c] for c, b in self.mapping.items() if c in source.mapping}
        try:
            return align(source.rig.skeleton, self.rig.skeleton, joint_map, dst_semantics=dict(self.mapping))
        except RetargetError as e:
            raise RequestError(f"retargeting {source.spec.name!r} onto {self.spec.name!r}: {e}") from None

    # -------------------------------------------------------------------------------------------- channels
    def channels_to_motion(self, pose_topo: np.ndarray, location: np.ndarray, fps: float,
                           root_bone: str | None = None) -> Motion:
        """Pose channels in the rig's topological order -> world-aligned motion on the rig skeleton."""
        return self.rig.channels_to_motion(pose_topo, location, fps, root_bone or self.translation_bone)

    def spec_to_motion(self, spec) -> Motion:
        """``MotionSpec(space="rig")`` of this rig -> world-aligned motion on the rig skeleton."""
        pose, loc, root = spec_to_channels(spec, self.rig.names, self.translation_bone)
        return self.channels_to_motion(pose, loc, spec.fps, root)

    def motion_to_channels(self, motion: Motion, bones: list[str] | None = None, root_bone: str | None = None):
        """World-aligned motion on the rig skeleton -> (pose (T,len(bones),4), location (T,3)) for ``bones``
        (default: every bone, caller order); location is ``root_bone``'s (default: the translation bone)."""
        pose, loc = self.rig.motion_to_channels(motion, root_bone or self.translation_bone)
        bones = list(self.spec.bones) if bones is None else bones
        idx = [self.rig.index(b) for b in bones]
        return pose[:, idx], loc

    def motion_to_spec(self, motion: Motion, start_frame: int, bones: list[str] | None = None):
        """World-aligned motion on the rig skeleton -> ``MotionSpec(space="rig")`` for ``bones`` (default: the
        mapped bones plus the translation bone, so unmapped bones the animator owns are left alone)."""
        if bones is None:
            bones = self.output_bones()
        pose, loc = self.motion_to_channels(motion, bones)
        return self.channels_spec(bones, pose, loc, motion.fps, start_frame)

    def output_bones(self, extra=()) -> list[str]:
        """Mapped bones, the translation bone and ``extra``, in the caller's bone order."""
        keep = set(self.mapped_bones) | {self.translation_bone} | set(extra)
        return [b for b in self.spec.bones if b in keep]

    def channels_spec(self, bones, pose, loc, fps, start_frame, root_bone: str | None = None):
        """Channels of ``bones`` (caller order subset) -> ``MotionSpec(space="rig")``."""
        parents = subset_parents(list(bones), list(self.spec.bones), list(self.spec.parents))
        return channels_to_spec(bones, parents, pose, loc, fps, start_frame, root_bone or self.translation_bone)

    def rest_channels(self, frames: int) -> np.ndarray:
        return identity_quats(frames, len(self.rig.names))
