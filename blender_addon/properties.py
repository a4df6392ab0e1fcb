"""Settings the artist edits: per scene (what to generate, how to in-between, what to retarget) and per rig (the
bone map, stored on the armature data so it travels with the character and is saved in the .blend)."""
from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)


def _is_trajectory(self, obj):
    return obj.type in {"CURVE", "GREASEPENCIL", "GPENCIL"}


def _is_armature(self, obj):
    return obj.type == "ARMATURE"


def _is_empty(self, obj):
    return obj.type == "EMPTY"


_joint_items: list = []  # kept alive: Blender does not hold the strings of dynamic enum items


def _joint_choices(self, context):
    """Canonical joints, then the bones of the active armature (the joint target's dropdown)."""
    from . import wire
    obj = getattr(context, "active_object", None) if context is not None else None
    bones = [b.name for b in obj.data.bones] if obj is not None and obj.type == "ARMATURE" else []
    names = list(wire.CANONICAL_JOINTS) + [b for b in bones if b not in wire.CANONICAL_JOINTS]
    if self.joint and self.joint not in names:
        names.append(self.joint)  # a bone of another rig, typed before: keep it visible
    _joint_items[:] = [(n, n.replace("_", " ") if n in wire.CANONICAL_JOINTS else n,
                        "canonical joint" if n in wire.CANONICAL_JOINTS else "bone of the active armature", i)
                       for i, n in enumerate(names)]
    return _joint_items


def _get_joint_choice(self):
    for ident, _n, _d, value in _joint_choices(self, bpy.context):
        if ident == self.joint:
            return value
    return 0


def _set_joint_choice(self, value):
    for ident, _n, _d, v in _joint_choices(self, bpy.context):
        if v == value:
            self.joint = ident
            return


ACTIVE_MODEL = "ACTIVE"  # the model chooser's first item: the task's active model (no ``model`` field sent)
_model_items: dict = {}  # per task, kept alive like _joint_items


def model_choices(task: str, chosen: str = "") -> list:
    """Enum items of a task's model chooser: Active Model, then the available models of the cached list (from
    Check Connection / Start Backend), then ``chosen`` if the list no longer has it."""
    from . import tasks, wire
    listed = wire.task_models(tasks.CONNECTION.get("models"), task)
    active = next((c.name for c in listed if c.active), "")
    items = [(ACTIVE_MODEL, f"Active Model ({active})" if active else "Active Model",
              "The model the backend serves this task with by default", 0)]
    names = [c for c in listed if c.available]
    for c in names:
        items.append((c.name, c.name + (f" ({c.kind})" if c.kind else ""), c.note or c.name, len(items)))
    if chosen and chosen not in {c.name for c in names}:
        gone = next((c for c in listed if c.name == chosen), None)
        items.append((chosen, f"{chosen} (not available)" if gone else f"{chosen} (not listed)",
                      "Chosen before; the backend does not offer it now", len(items)))
    _model_items[task] = items
    return items


def _model_prop(task: str, attr: str):
    """A dropdown over :func:`model_choices` that stores the chosen name in the string property ``attr`` ("" =
    active model), so the choice survives the list changing (reconnects, another backend)."""
    def items(self, context):
        return model_choices(task, getattr(self, attr))

    def get(self):
        chosen = getattr(self, attr)
        return next((v for ident, _n, _d, v in model_choices(task, chosen) if chosen and ident == chosen), 0)

    def set(self, value):
        ident = next((i for i, _n, _d, v in model_choices(task, getattr(self, attr)) if v == value), ACTIVE_MODEL)
        setattr(self, attr, "" if ident == ACTIVE_MODEL else ident)

    return EnumProperty(name="Model", items=items, get=get, set=set,
                        description="Which of the backend's models serves this task (Check Connection lists them)")


def _model_name(task: str):
    return StringProperty(name="Model Name", default="",
                          description=f"The {task} model to ask for by name (empty: the backend's active model)")


class MOTIONLOOM_PG_joint_target(bpy.types.PropertyGroup):
    """Pin a joint to an empty's world position on one frame."""
    empty: PointerProperty(name="Empty", type=bpy.types.Object, poll=_is_empty,
                           description="Empty whose world position the joint should reach")
    joint: StringProperty(name="Joint", default="right_wrist",
                          description="Canonical joint (e.g. right_wrist, left_foot) or a bone of the rig")
    frame: IntProperty(name="Frame", default=1, description="Scene frame on which the joint reaches the empty")
    joint_choice: EnumProperty(name="Joint", items=_joint_choices, get=_get_joint_choice, set=_set_joint_choice,
                               description="The joint that reaches the empty: a canonical joint or a bone of the "
                                           "active armature")


class MOTIONLOOM_PG_bone_map_item(bpy.types.PropertyGroup):
    """One row of a rig's bone map: which bone plays a canonical joint, and how sure the automatic map was."""
    canonical: StringProperty(name="Joint", description="Canonical (SMPL) joint")
    bone: StringProperty(name="Bone", description="Bone of this rig that plays the joint (empty: none)")
    confidence: FloatProperty(name="Confidence", min=0.0, max=1.0, subtype="FACTOR",
                              description="How sure the automatic map is (1 = edited or certain)")


class MOTIONLOOM_PG_settings(bpy.types.PropertyGroup):
    # the model each task asks for ("" = the active one) and its dropdown
    generate_model: _model_name("text2motion")
    generate_model_choice: _model_prop("text2motion", "generate_model")
    inbetween_model: _model_name("inbetween")
    inbetween_model_choice: _model_prop("inbetween", "inbetween_model")
    retarget_model: _model_name("retarget")
    retarget_model_choice: _model_prop("retarget", "retarget_model")
    # generate
    prompt: StringProperty(name="Prompt", default="a person walks forward", maxlen=500,
                           description="Describe the motion, e.g. 'a person walks forward and waves'")
    duration_unit: EnumProperty(name="Unit", default="SECONDS",
                                items=[("SECONDS", "Seconds", "Duration in seconds"),
                                       ("FRAMES", "Frames", "Duration in scene frames")])
    duration_seconds: FloatProperty(name="Duration", default=4.0, min=0.1, soft_max=60.0, unit="TIME_ABSOLUTE")
    duration_frames: IntProperty(name="Frames", default=120, min=2, soft_max=2000)
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed, same prompt: same motion")
    invention_custom: BoolProperty(name="Set Invention", default=False,
                                   description="Choose how much the model invents instead of its default (0.3)")
    invention: FloatProperty(name="Invention", default=0.3, min=0.0, max=1.0, subtype="FACTOR",
                             description="0: close to the library clip the prompt matches; 1: invented from noise "
                                         "(follows the text less well)")
    variations: IntProperty(name="Variations", default=1, min=1, max=8,
                            description="Number of different motions to generate (each becomes its own action)")
    trajectory: PointerProperty(name="Trajectory", type=bpy.types.Object, poll=_is_trajectory,
                                description="Curve or Grease Pencil stroke the character's root follows (sampled "
                                            "by arc length over the duration, projected to the ground)")
    targets: CollectionProperty(type=MOTIONLOOM_PG_joint_target)
    targets_index: IntProperty()
    apply_mode: EnumProperty(
        name="Result", default="ASSIGN",
        items=[("ASSIGN", "Assign", ("Make the new action the armature's active action (the previous one is kept on "
                                    "a muted NLA track)")),
               ("NLA", "NLA Track", "Put the new action on a new NLA track; the active action stays")])
    # in-between
    inbetween_bones: EnumProperty(name="Bones", default="SELECTED",
                                  items=[("SELECTED", "Selected", "Bones selected in pose mode (all if none)"),
                                         ("ALL", "All", "Every animated bone")])
    inbetween_range: EnumProperty(name="Range", default="SELECTED_KEYS",
                                  items=[("SELECTED_KEYS", "Selected Keys", "Between the selected keyframes"),
                                         ("PREVIEW", "Preview Range", ("Between the keys inside the preview range "
                                                                      "(the scene range when it is off)"))])
    # retarget
    source_type: EnumProperty(name="Source", default="ARMATURE",
                              items=[("ARMATURE", "Armature", "An armature in the scene with an action"),
                                     ("FILE", "File", "A BVH, FBX or glTF file")])
    source_armature: PointerProperty(name="Source Armature", type=bpy.types.Object, poll=_is_armature)
    source_file: StringProperty(name="Source File", subtype="FILE_PATH")
    retarget_in_place: BoolProperty(name="In Place", default=False,
                                    description="Remove the source's travel over the ground (the root keeps its "
                                                "height and turns; the character walks on the spot)")
    retarget_pose_as_rest: BoolProperty(name="Current Pose as Rest", default=False,
                                        description="Treat the target's current pose as its rest pose (pose it "
                                                    "like the source's rest first, e.g. a T-pose); the result is "
                                                    "written relative to the real rest as usual")
    retarget_use_range: BoolProperty(name="Frame Range", default=False,
                                     description="Retarget only these frames of the source (else the whole action)")
    retarget_frame_start: IntProperty(name="Start", default=1, description="First source frame to retarget")
    retarget_frame_end: IntProperty(name="End", default=250, description="Last source frame to retarget")
    retarget_reference: EnumProperty(
        name="Reference Pose", default="AUTO",
        items=[("AUTO", "Auto", ("The source's rest pose if it is a T- or A-pose, else a T-pose estimated from "
                                 "its bones (the result says which was used)")),
               ("REST", "Rest", "The source's rest pose"),
               ("FRAME", "Frame", "A frame of the source in which it stands in a T- or A-pose"),
               ("TPOSE", "Estimated T-pose", "A T-pose estimated from the source skeleton's own geometry")],
        description="The pose in which the source stands like a T-pose: rotations transfer as turns from it")
    retarget_reference_frame: IntProperty(name="Reference Frame", default=1,
                                          description="Source frame (as in Start/End) in which the source stands in "
                                                      "a T- or A-pose; it must be inside the retargeted frames")
    preset_path: StringProperty(name="Bone Map Preset", subtype="FILE_PATH", default="//bone_map.json",
                                description="JSON file a rig's bone map is saved to and loaded from")


classes = (MOTIONLOOM_PG_joint_target, MOTIONLOOM_PG_bone_map_item, MOTIONLOOM_PG_settings)


def register_props():
    bpy.types.Scene.motionloom = PointerProperty(type=MOTIONLOOM_PG_settings)
    bpy.types.Armature.motionloom_bone_map = CollectionProperty(type=MOTIONLOOM_PG_bone_map_item)
    bpy.types.Armature.motionloom_bone_map_index = IntProperty()
    bpy.types.Armature.motionloom_use_bone_map = BoolProperty(
        name="Use This Bone Map", default=True,
        description="Send this rig's bone map to the backend (otherwise the backend maps bones itself)")


def unregister_props():
    del bpy.types.Armature.motionloom_use_bone_map
    del bpy.types.Armature.motionloom_bone_map_index
    del bpy.types.Armature.motionloom_bone_map
    del bpy.types.Scene.motionloom
