"""Control rigs: write results onto the bones animators key (Rigify's FK controls), not onto deform bones.

A generated Rigify rig has ~200 bones: DEF (deform) bones follow ORG bones, which follow either the FK or the IK
controls through constraints and switch properties. Keys on DEF bones are overwritten by those constraints, and keys
on ORG bones are not editable. So for a rig recognised as Rigify we:

* map canonical joints onto the FK controls (``torso``, ``chest``, ``neck``, ``head``, ``shoulder.L``,
  ``upper_arm_fk.L``, ``forearm_fk.L``, ``hand_fk.L``, ``thigh_fk.L``, ``shin_fk.L``, ``foot_fk.L``, ``toe_fk.L``, ...);
* solve on the controls' *effective* FK hierarchy (below), with each control's own rest frame, so the channels are
  ordinary FK rotations an animator can edit;
* return the switch properties that make that hierarchy true: arms and legs in FK (``IK_FK = 1``), limbs following
  the torso's rotation (``FK_limb_follow = 0``), neck and head following their parents (``neck_follow = 1``,
  ``head_follow = 1``, else Rigify counter-rotates them against the torso).

Effective hierarchy (``hips`` stays at rest): ``torso`` -> {``chest`` -> ``MCH-spine.003``, ``thigh_fk``};
``MCH-spine.003`` -> {``neck`` -> ``head``, ``shoulder`` -> ``upper_arm_fk`` -> ``forearm_fk`` -> ``hand_fk``};
``thigh_fk`` -> ``shin_fk`` -> ``foot_fk`` -> ``toe_fk``. ``torso`` carries the root translation.

Rigify does not rotate the upper body about the chest control's head: it copies the control's local rotation, half
each, onto ``MCH-spine.002`` (at the chest control's head) and ``MCH-spine.003`` (one spine bone higher), so the
bend is spread over two joints. ``split`` reproduces that exactly: canonical ``spine3`` drives ``MCH-spine.003``, the
chest control sits between torso and it and gets half the bend (a chain fill in :mod:`.transfer`), and the chest
control's channel is the *whole* rotation from torso to ``MCH-spine.003``, which Rigify splits again. ``tests/retarget/test_rigify_blender.py`` drives a real
generated rig in Blender with these channels and checks where the deform bones end up.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ControlProfile:
    name: str
    controls: dict  # canonical joint -> control bone
    parents: dict  # control bone -> effective parent control (None for the root)
    translation: str  # the control carrying the root translation
    properties: dict = field(default_factory=dict)  # pose bone -> {custom property: value} to set
    required: tuple = ()  # bones whose presence identifies the rig
    drive: dict = field(default_factory=dict)  # canonical joint -> bone the solve drives, where it differs (spine3)
    split: dict = field(default_factory=dict)  # control -> bones sharing its local rotation equally (control first)

    def matches(self, bone_names) -> bool:
        names = set(bone_names)
        return all(b in names for b in self.required)


def _rigify() -> ControlProfile:
    c = {"pelvis": "torso", "spine3": "chest", "neck": "neck", "head": "head"}
    parents = {"torso": None, "chest": "torso", "MCH-spine.003": "chest", "neck": "MCH-spine.003", "head": "neck"}
    props = {"torso": {"neck_follow": 1.0, "head_follow": 1.0}}
    for side, S in (("left", "L"), ("right", "R")):
        c.update({f"{side}_collar": f"shoulder.{S}", f"{side}_shoulder": f"upper_arm_fk.{S}",
                  f"{side}_elbow": f"forearm_fk.{S}", f"{side}_wrist": f"hand_fk.{S}",
                  f"{side}_hip": f"thigh_fk.{S}", f"{side}_knee": f"shin_fk.{S}", f"{side}_ankle": f"foot_fk.{S}",
                  f"{side}_foot": f"toe_fk.{S}"})
        parents.update({f"shoulder.{S}": "MCH-spine.003", f"upper_arm_fk.{S}": f"shoulder.{S}",
                        f"forearm_fk.{S}": f"upper_arm_fk.{S}", f"hand_fk.{S}": f"forearm_fk.{S}",
                        f"thigh_fk.{S}": "torso", f"shin_fk.{S}": f"thigh_fk.{S}", f"foot_fk.{S}": f"shin_fk.{S}",
                        f"toe_fk.{S}": f"foot_fk.{S}"})
        props[f"upper_arm_parent.{S}"] = {"IK_FK": 1.0, "FK_limb_follow": 0.0}
        props[f"thigh_parent.{S}"] = {"IK_FK": 1.0, "FK_limb_follow": 0.0}
    required = ("torso", "chest", "ORG-spine", "MCH-spine.003", "thigh_fk.L", "thigh_fk.R", "upper_arm_fk.L",
                "upper_arm_fk.R", "shin_fk.L", "foot_fk.L", "forearm_fk.L", "hand_fk.L")
    return ControlProfile("rigify", c, parents, "torso", props, required, drive={"spine3": "MCH-spine.003"},
                          split={"chest": ("chest", "MCH-spine.003")})


RIGIFY = _rigify()
PROFILES = (RIGIFY,)


def find_profile(bone_names) -> ControlProfile | None:
    """The control profile a rig matches (by its bone names), or None for a plain deform rig."""
    for p in PROFILES:
        if p.matches(bone_names):
            return p
    return None
