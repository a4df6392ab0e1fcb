"""Skeleton profiles: how each known source skeleton maps onto the canonical joints, and its reference pose.

A profile recognises a skeleton by its joint names, names the source joint for each canonical joint it can fill,
and says which pose is its T-pose-like reference (the rest pose for most; Character Creator BVH needs a T-pose
frame, see :mod:`backend.data.sources`). Unknown skeletons fall back to the automatic bone map.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..motion.skeleton import Skeleton
from ..retarget.bonemap import auto_bone_map


@dataclass(frozen=True)
class Profile:
    name: str
    joint_map: dict[str, str]  # canonical joint -> source joint
    signature: tuple[str, ...]  # joints that must exist for the profile to apply
    notes: str = ""
    ref: str = "rest"  # "rest" or "tpose_frame" (a T-pose frame supplied by the source)
    extra: dict = field(default_factory=dict)

    def matches(self, sk: Skeleton) -> bool:
        return all(n in sk.index_of for n in self.signature) and all(
            v in sk.index_of for v in self.joint_map.values())


def _sides(template: dict[str, str]) -> dict[str, str]:
    """Expand '{S}'/'{s}'/'{side}' placeholders into left/right entries."""
    out = {}
    for k, v in template.items():
        if "{" not in k:
            out[k] = v
            continue
        for side, S, s, lr, LR, dot in (("left", "Left", "l", "l", "L", ".L"), ("right", "Right", "r", "r", "R", ".R")):
            out[k.format(side=side)] = v.format(S=S, s=s, LR=LR, dot=dot, lr=lr, side=side)
    return out


CMU_MB = Profile("cmu_cgspeed_motionbuilder", _sides({
    "pelvis": "Hips", "{side}_hip": "{S}UpLeg", "{side}_knee": "{S}Leg", "{side}_ankle": "{S}Foot",
    "{side}_foot": "{S}ToeBase", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck",
    "head": "Head", "{side}_collar": "{S}Shoulder", "{side}_shoulder": "{S}Arm", "{side}_elbow": "{S}ForeArm",
    "{side}_wrist": "{S}Hand"}), ("Hips", "LHipJoint", "LowerBack", "Spine1"),
    "cgspeed MotionBuilder-friendly CMU BVH (also the CMU FBX exports): T-pose rest")

CMU_MAX = Profile("cmu_cgspeed_3dsmax", _sides({
    "pelvis": "Hips", "{side}_hip": "{S}Hip", "{side}_knee": "{S}Knee", "{side}_ankle": "{S}Ankle",
    "{side}_foot": "{S}Toe", "spine1": "lowerback", "spine2": "Chest", "spine3": "Chest2", "neck": "lowerneck",
    "head": "Head", "{side}_collar": "{S}Collar", "{side}_shoulder": "{S}Shoulder", "{side}_elbow": "{S}Elbow",
    "{side}_wrist": "{S}Wrist"}), ("Hips", "LeftCollar", "Chest2"),
    "cgspeed 3dsMax-friendly CMU BVH: T-pose rest")

CC_BASE = Profile("character_creator_cc_base", _sides({
    "pelvis": "CC_Base_Hip", "{side}_hip": "CC_Base_{LR}_Thigh", "{side}_knee": "CC_Base_{LR}_Calf",
    "{side}_ankle": "CC_Base_{LR}_Foot", "{side}_foot": "CC_Base_{LR}_ToeBase", "spine1": "CC_Base_Waist",
    "spine2": "CC_Base_Spine01", "spine3": "CC_Base_Spine02", "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head",
    "{side}_collar": "CC_Base_{LR}_Clavicle", "{side}_shoulder": "CC_Base_{LR}_Upperarm",
    "{side}_elbow": "CC_Base_{LR}_Forearm", "{side}_wrist": "CC_Base_{LR}_Hand"}), ("CC_Base_Hip", "CC_Base_Pelvis"),
    "Reallusion Character Creator CC_Base BVH: bone-local offsets, rest is not a T-pose; reference = the T-pose frame "
    "that subject 007's files prepend", ref="tpose_frame")

ASF_CMU = Profile("cmu_asf_amc", _sides({
    "pelvis": "root", "{side}_hip": "{s}femur", "{side}_knee": "{s}tibia", "{side}_ankle": "{s}foot",
    "{side}_foot": "{s}toes", "spine1": "lowerback", "spine2": "upperback", "spine3": "thorax", "neck": "lowerneck",
    "head": "head", "{side}_collar": "{s}clavicle", "{side}_shoulder": "{s}humerus", "{side}_elbow": "{s}radius",
    "{side}_wrist": "{s}wrist"}), ("root", "lfemur", "thorax"), "original CMU ASF/AMC: T-pose rest")

DEEPMIMIC = Profile("deepmimic_humanoid3d", _sides({
    "pelvis": "root", "{side}_hip": "{side}_hip", "{side}_knee": "{side}_knee", "{side}_ankle": "{side}_ankle",
    "spine3": "chest", "head": "neck", "{side}_shoulder": "{side}_shoulder", "{side}_elbow": "{side}_elbow",
    "{side}_wrist": "{side}_wrist"}), ("root", "chest", "left_knee"),
    "DeepMimic humanoid3d: 15 joints, arms-down rest; no toes, collars or neck (its 'neck' turns the head)")

QUATERNIUS = Profile("quaternius_humanarmature", _sides({
    "pelvis": "Hips", "{side}_hip": "UpperLeg{dot}", "{side}_knee": "LowerLeg{dot}", "{side}_ankle": "Foot{dot}",
    "spine1": "Abdomen", "spine3": "Torso", "neck": "Neck", "head": "Head", "{side}_collar": "Shoulder{dot}",
    "{side}_shoulder": "UpperArm{dot}", "{side}_elbow": "LowerArm{dot}", "{side}_wrist": "Palm{dot}"}),
    ("Bone", "Body", "Hips", "Torso", "MiddleHand.L"),
    "Quaternius HumanArmature (Blender .L/.R): feet are IK-driven bones parented to the root, whose world rotation "
    "is the foot's")

QUATERNIUS_ROBOT = Profile("quaternius_robotarmature", {**QUATERNIUS.joint_map, "left_wrist": "Palm2.L",
                                                        "right_wrist": "Palm2.R"}, ("Bone", "Body", "Palm2.L"),
                           "Quaternius RobotArmature: as HumanArmature with articulated fingers (Palm1-3)")

PROFILES = [CMU_MB, CMU_MAX, CC_BASE, ASF_CMU, DEEPMIMIC, QUATERNIUS, QUATERNIUS_ROBOT]


def profile_for(sk: Skeleton) -> Profile:
    """The known profile for a skeleton, else one built from the automatic bone map."""
    for p in PROFILES:
        if p.matches(sk):
            return p
    auto = auto_bone_map(list(sk.names), list(sk.parents)).mapping(min_confidence=0.5)
    return Profile("auto", auto, (), "automatic bone map")
