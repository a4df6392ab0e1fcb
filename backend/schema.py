"""Wire schema v1: the one contract between the Blender add-on and the backend (served as OpenAPI).

Conventions, stated once and used by every field below:

* **Arrays** travel as :class:`Array`: ``{"dtype": "float32", "shape": [..], "data": <base64 of little-endian
  float32, C order>}``. Arrays are checked on arrival: shape matches the byte count, every value finite.
* **Quaternions are XYZW** (scalar last) everywhere on the wire. Blender's mathutils is WXYZ: the add-on converts at
  the point where it reads/writes ``rotation_quaternion`` (``blender_addon/channels.py``), nowhere else.
* **Spaces.** A motion in ``space="canonical"`` lives on the canonical 22-joint SMPL skeleton (Z up, metres,
  world-aligned joint frames). A motion in ``space="rig"`` is in the rig's own pose-bone channels: per bone the value
  Blender stores in ``pose_bone.rotation_quaternion`` (relative to the bone's rest, in bone space) and, for the root
  bone, ``pose_bone.location`` (bone space, armature units). Those channels go straight into F-curves.
* **Rig results carry three kinds of channel** (all optional beyond the first two; a reader that ignores the
  optional ones gets the v1 behaviour):

  - ``rotations`` (T,B,4): ``pose_bone.rotation_quaternion`` of every bone in ``bones`` (XYZW here);
  - ``root_translation`` (T,3): ``pose_bone.location`` of ``root_bone``;
  - ``location_bones`` + ``locations`` (T,L,3): ``pose_bone.location`` of other bones, each in its own bone space
    (armature units), e.g. feet that are parented to the root as IK targets (Quaternius) and must be moved, not
    turned, to stay on the legs;
  - ``properties``: custom properties to set on pose bones before the channels mean what they say, as
    ``{"bone", "name", "value"}``, e.g. Rigify's ``IK_FK = 1`` on ``thigh_parent.L`` (legs follow the FK controls)
    and ``neck_follow`` / ``head_follow`` on ``torso``. They are constant over the motion. The bone may be any bone
    of the rig, also one without channels (``thigh_parent.L`` carries no motion).

  A client writes every listed channel into the new action (rotation and location F-curves; each property as an
  F-curve ``pose.bones["<bone>"]["<name>"]`` with one key at ``start_frame``) and leaves every other channel alone.
* **Frames** are scene frame numbers (integers on the wire; the add-on resamples to its scene fps).

Versioning: ``SCHEMA_VERSION`` changes only with a breaking change; the add-on checks it against ``GET /health``.
"""
from __future__ import annotations

import base64
import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = "1"
# The limits of the wire, in one place: the backend's checks use these, and the add-on's ``blender_addon/wire.py``
# mirrors them (tests/server/test_contract.py asserts every name both define is equal).
MAX_FRAMES = 10_000  # frames of any motion, key span, frame range or result
MAX_BONES = 1_000  # bones of a rig or a motion
MAX_FRAME_BONES = 2_000_000  # frames x bones (x variations) of a request's result: 10,000 frames of a 200-bone rig
MIN_FPS = 1.0  # frame rates of requests and motions
MAX_FPS = 240.0
MAX_PROMPT_CHARS = 500
MAX_MODEL_NAME_CHARS = 128
MAX_ARRAY_ELEMENTS = 50_000_000


class _Strict(BaseModel):
    # NaN and infinity are refused in every number field (JSON parsers accept the bare words NaN / Infinity).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# ------------------------------------------------------------------------------------------------------- arrays
class Array(_Strict):
    """A dense float32 array: base64 of little-endian float32 bytes in C order, with its shape."""
    dtype: Literal["float32"] = "float32"
    shape: list[Annotated[int, Field(ge=0, le=MAX_ARRAY_ELEMENTS)]] = Field(max_length=6)
    data: str = Field(description="base64 of little-endian float32, C order")

    @model_validator(mode="after")
    def _check(self):
        n = math.prod(self.shape) if self.shape else 1
        if n > MAX_ARRAY_ELEMENTS:
            raise ValueError(f"array of shape {self.shape} is too large")
        try:
            raw = base64.b64decode(self.data, validate=True)
        except ValueError:  # binascii.Error, or a str that is not ASCII
            raise ValueError("array data is not valid base64") from None
        if len(raw) != 4 * n:
            raise ValueError(f"array data holds {len(raw) // 4} float32 values but shape {self.shape} needs {n}")
        arr = np.frombuffer(raw, dtype="<f4")
        if not np.all(np.isfinite(arr)):
            bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
            idx = np.unravel_index(bad, self.shape) if self.shape else ()
            raise ValueError(f"array contains NaN or infinity at index {list(map(int, idx))}")
        return self

    def numpy(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.data), dtype="<f4").reshape(self.shape).astype(np.float32)

    @classmethod
    def from_numpy(cls, a) -> Array:
        a = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
        if not np.all(np.isfinite(a)):
            raise ValueError("refusing to send an array with NaN or infinity")
        return cls(shape=list(a.shape), data=base64.b64encode(a.tobytes()).decode("ascii"))


def _check_tree(bones: list[str], parents: list[int]) -> None:
    if len(bones) != len(parents):
        raise ValueError(f"{len(bones)} bones but {len(parents)} parents")
    seen = set()
    for b in bones:
        if b in seen:
            raise ValueError(f"duplicate bone name {b!r}")
        seen.add(b)
    n = len(bones)
    for i, p in enumerate(parents):
        if p < -1 or p >= n:
            raise ValueError(f"bone {bones[i]!r} has parent index {p}, outside -1..{n - 1}")
    for i in range(n):
        k, steps = parents[i], 0
        while k >= 0:
            steps += 1
            if steps > n:
                raise ValueError(f"cyclic parent chain through bone {bones[i]!r}")
            k = parents[k]


BoneName = Annotated[str, Field(min_length=1, max_length=128)]
NUM_CANONICAL = 22  # joints of the canonical skeleton (backend.motion.skeleton.CANONICAL_JOINTS)


# ------------------------------------------------------------------------------------------------------ rig
class RigSpec(_Strict):
    """A rig as Blender sees it: bones (any order with parents), rest matrices in armature space.

    ``rest_matrices[i]`` is ``bone.matrix_local`` (4x4, armature space, translation = head). ``tails`` are the
    bones' rest tails in armature space. ``matrix_world`` is the armature object's world matrix (carries Y-up/Z-up
    and unit scale of imported rigs). ``deform`` marks deform bones; ``controls`` optionally lists animator-facing
    control bones (e.g. Rigify FK controls) that results should be written to instead of deform bones.
    """
    name: str = Field(default="rig", max_length=256)
    bones: list[BoneName] = Field(min_length=1, max_length=MAX_BONES)
    parents: list[int]
    rest_matrices: Array = Field(description="(B,4,4) bone.matrix_local, armature space")
    tails: Array | None = Field(default=None, description="(B,3) rest tails, armature space")
    matrix_world: Array | None = Field(default=None, description="(4,4) armature object world matrix")
    deform: list[bool] | None = None
    controls: list[BoneName] | None = Field(
        default=None, description="animator-facing control bones: results are solved on these bones' own "
                                  "hierarchy and written onto them only (Rigify is recognised without this list)")
    bone_map: dict[BoneName, BoneName] | None = Field(
        default=None, description="overrides: canonical joint name -> rig bone name, taken as given")
    floor: float | None = Field(default=None, ge=-1e6, le=1e6,
                                description="world height (m) of the floor the rig stands on; default: the rest "
                                            "pose's lowest bone head (BVH skeletons hang around the origin: 0)")

    @model_validator(mode="after")
    def _check(self):
        _check_tree(self.bones, self.parents)
        B = len(self.bones)
        if self.rest_matrices.shape != [B, 4, 4]:
            raise ValueError(f"rest_matrices must have shape [{B}, 4, 4], got {self.rest_matrices.shape}")
        if self.tails is not None and self.tails.shape != [B, 3]:
            raise ValueError(f"tails must have shape [{B}, 3], got {self.tails.shape}")
        if self.matrix_world is not None and self.matrix_world.shape != [4, 4]:
            raise ValueError(f"matrix_world must have shape [4, 4], got {self.matrix_world.shape}")
        if self.deform is not None and len(self.deform) != B:
            raise ValueError(f"deform must list {B} flags, got {len(self.deform)}")
        names = set(self.bones)
        for c in self.controls or []:
            if c not in names:
                raise ValueError(f"control bone {c!r} is not a bone of rig {self.name!r}")
        for k, v in (self.bone_map or {}).items():
            if v not in names:
                raise ValueError(f"bone map sends {k!r} to {v!r}, which is not a bone of rig {self.name!r}")
        return self


# ---------------------------------------------------------------------------------------------------- motion
class PoseBoneProperty(_Strict):
    """A custom property to set on a pose bone (``pose_bone[name] = value``), e.g. Rigify's IK/FK switch."""
    bone: BoneName
    name: str = Field(min_length=1, max_length=128)
    value: float


class MotionSpec(_Strict):
    """A motion: per-frame local rotations (XYZW) of ``bones`` and the root's translation.

    ``space="canonical"``: bones are the canonical joints, ``root_translation`` is the pelvis world position (m).
    ``space="rig"``: bones are rig bones, rotations are ``pose_bone.rotation_quaternion`` values (XYZW here),
    ``root_translation`` is the root bone's ``pose_bone.location`` (bone space). ``root_bone`` names that bone.
    Rig space only: ``location_bones``/``locations`` are ``pose_bone.location`` of further bones (each in its own
    bone space), ``properties`` pose-bone custom properties to set (see the module docstring).
    """
    schema_version: Literal["1"] = SCHEMA_VERSION
    space: Literal["canonical", "rig"] = "canonical"
    bones: list[BoneName] = Field(min_length=1, max_length=MAX_BONES)
    parents: list[int]
    fps: float = Field(ge=MIN_FPS, le=MAX_FPS, description=f"frames per second, {MIN_FPS:g} to {MAX_FPS:g}")
    start_frame: int = Field(default=1, ge=-1_000_000, le=1_000_000)
    rotations: Array = Field(description="(T,B,4) local quaternions, XYZW")
    root_translation: Array = Field(description="(T,3)")
    root_bone: BoneName | None = None
    contacts: Array | None = Field(default=None, description="(T,4) foot contacts 0/1: L ankle, L toe, R ankle, R toe")
    location_bones: list[BoneName] | None = Field(
        default=None, max_length=MAX_BONES, description="rig space: bones other than root_bone whose "
                                                        "pose_bone.location is in locations (each listed in bones)")
    locations: Array | None = Field(default=None, description="(T,L,3) pose_bone.location of location_bones, each "
                                                              "in its own bone space (armature units)")
    properties: list[PoseBoneProperty] | None = Field(
        default=None, max_length=MAX_BONES, description="rig space: pose-bone custom properties to set (constant), "
                                                        "e.g. Rigify IK_FK = 1")

    @model_validator(mode="after")
    def _check(self):
        _check_tree(self.bones, self.parents)
        B = len(self.bones)
        s = self.rotations.shape
        if len(s) != 3 or s[1:] != [B, 4]:
            raise ValueError(f"rotations must have shape [frames, {B}, 4], got {s}")
        T = s[0]
        if T < 1:
            raise ValueError("a motion needs at least one frame")
        if T > MAX_FRAMES:
            raise ValueError(f"{T} frames is more than the limit of {MAX_FRAMES}")
        _check_frame_bones(T, B, "the motion")
        if self.root_translation.shape != [T, 3]:
            raise ValueError(f"root_translation must have shape [{T}, 3], got {self.root_translation.shape}")
        if self.contacts is not None and (len(self.contacts.shape) != 2 or self.contacts.shape[0] != T):
            raise ValueError(f"contacts must have shape [{T}, K], got {self.contacts.shape}")
        q = self.rotations.numpy()
        norms = np.linalg.norm(q, axis=-1)
        if np.any(norms < 1e-6):
            t, b = np.argwhere(norms < 1e-6)[0]
            raise ValueError(f"rotation of bone {self.bones[b]!r} at frame {t} is a zero quaternion")
        if self.root_bone is not None and self.root_bone not in self.bones:
            raise ValueError(f"root_bone {self.root_bone!r} is not among the bones")
        _check_locations(self.location_bones, self.locations, T, self.bones, self.root_bone, "frames")
        if self.space == "canonical" and (self.location_bones or self.properties):
            raise ValueError("location_bones and properties are rig-space channels; a canonical motion has neither")
        seen = set()
        for p in self.properties or []:
            if (p.bone, p.name) in seen:
                raise ValueError(f"property {p.name!r} of bone {p.bone!r} is listed twice")
            seen.add((p.bone, p.name))
        return self

    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]


def _check_frame_bones(frames: int, bones: int, what: str, variations: int = 1) -> None:
    """Refuse results of more than :data:`MAX_FRAME_BONES` bone-frames (their size and the memory to make them grow
    with frames x bones), with a sentence saying what to shorten."""
    n = frames * bones * variations
    if n > MAX_FRAME_BONES:
        times = f" x {variations} variations" if variations > 1 else ""
        raise ValueError(f"{what} would hold {frames} frames x {bones} bones{times} = {n:,} bone-frames, more than "
                         f"the limit of {MAX_FRAME_BONES:,}; ask for at most "
                         f"{max(1, MAX_FRAME_BONES // (bones * variations)):,} frames on this rig")


def _check_locations(location_bones, locations, n: int, bones, root_bone, what: str) -> None:
    """``location_bones`` and ``locations`` come together; (n, L, 3); distinct bones, listed in ``bones``."""
    if (location_bones is None) != (locations is None):
        raise ValueError("location_bones and locations must be given together")
    if location_bones is None:
        return
    L = len(location_bones)
    if locations.shape != [n, L, 3]:
        raise ValueError(f"locations must have shape [{n}, {L}, 3] ({what}, location bones, xyz), "
                         f"got {locations.shape}")
    if len(set(location_bones)) != L:
        raise ValueError("location_bones lists a bone twice")
    missing = [b for b in location_bones if b not in set(bones)]
    if missing:
        raise ValueError(f"location_bones names bones that are not among the bones: {', '.join(missing[:5])}")
    if root_bone is not None and root_bone in location_bones:
        raise ValueError(f"root_bone {root_bone!r} carries root_translation; do not list it in location_bones")


# ------------------------------------------------------------------------------------------------------ keys
class KeySpec(_Strict):
    """Sparse keyframes for in-betweening, in the same space as the request's rig (or canonical).

    ``rotations[k, b]`` is bone b's rotation at ``frames[k]``; ``mask[k, b]`` is 1 where the artist keyed bone b on
    that frame (partial-body keys), 0 where the value is only context. ``root_translation[k]`` is keyed where
    ``root_mask[k]`` is 1. Frames must be strictly increasing.
    """
    frames: list[int] = Field(min_length=1, max_length=MAX_FRAMES)
    bones: list[BoneName] = Field(min_length=1, max_length=MAX_BONES)
    rotations: Array = Field(description="(K,B,4) XYZW")
    root_translation: Array = Field(description="(K,3)")
    mask: Array | None = Field(default=None, description="(K,B) 1 = keyed")
    root_mask: list[bool] | None = None
    root_bone: BoneName | None = Field(default=None, description="rig space: the bone whose location "
                                       "root_translation holds (default: the bone mapped to the pelvis)")
    location_bones: list[BoneName] | None = Field(
        default=None, max_length=MAX_BONES, description="rig space: further bones with location keys (e.g. feet "
                                                        "parented to the root); keyed where the bone's mask is 1 "
                                                        "(every key if the bone is not in bones)")
    locations: Array | None = Field(default=None, description="(K,L,3) pose_bone.location of location_bones")

    @model_validator(mode="after")
    def _check(self):
        K, B = len(self.frames), len(self.bones)
        if any(b >= a for a, b in zip(self.frames[1:], self.frames[:-1])):
            raise ValueError("key frames must be strictly increasing")
        if len(set(self.bones)) != B:
            raise ValueError("duplicate bone names in keys")
        if self.rotations.shape != [K, B, 4]:
            raise ValueError(f"key rotations must have shape [{K}, {B}, 4], got {self.rotations.shape}")
        if self.root_translation.shape != [K, 3]:
            raise ValueError(f"key root_translation must have shape [{K}, 3], got {self.root_translation.shape}")
        if self.mask is not None and self.mask.shape != [K, B]:
            raise ValueError(f"key mask must have shape [{K}, {B}], got {self.mask.shape}")
        if self.root_mask is not None and len(self.root_mask) != K:
            raise ValueError(f"root_mask must have {K} entries")
        if self.frames[-1] - self.frames[0] + 1 > MAX_FRAMES:
            raise ValueError(f"keys span {self.frames[-1] - self.frames[0] + 1} frames, more than {MAX_FRAMES}")
        q = self.rotations.numpy()
        if np.any(np.linalg.norm(q, axis=-1) < 1e-6):
            raise ValueError("a key rotation is a zero quaternion")
        if self.location_bones is not None and self.root_bone is not None and self.root_bone in self.location_bones:
            raise ValueError(f"keys.root_bone {self.root_bone!r} carries root_translation; do not list it in "
                             f"location_bones")
        if (self.location_bones is None) != (self.locations is None):
            raise ValueError("location_bones and locations must be given together")
        if self.location_bones is not None:
            L = len(self.location_bones)
            if self.locations.shape != [K, L, 3]:
                raise ValueError(f"key locations must have shape [{K}, {L}, 3], got {self.locations.shape}")
            if len(set(self.location_bones)) != L:
                raise ValueError("location_bones lists a bone twice")
        return self


class JointTarget(_Strict):
    """Put a canonical joint (or rig bone) at a world position (metres, Z up) on a frame."""
    joint: BoneName
    frame: int
    position: tuple[float, float, float]

    @field_validator("position")
    @classmethod
    def _finite(cls, v):
        if not all(math.isfinite(x) for x in v):
            raise ValueError("joint target position must be finite")
        return v


class TimelineEntry(_Strict):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    start: int = Field(ge=0, le=MAX_FRAMES)
    end: int = Field(ge=1, le=MAX_FRAMES)

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise ValueError(f"timeline entry {self.prompt!r} ends ({self.end}) before it starts ({self.start})")
        return self


def _clean_prompt(v: str) -> str:
    v = v.strip()
    if not v:
        raise ValueError("the prompt is empty: describe the motion, e.g. 'a person walks forward'")
    return v


# --------------------------------------------------------------------------------------------------- requests
ModelName = Annotated[str, Field(min_length=1, max_length=MAX_MODEL_NAME_CHARS, pattern=r"^[A-Za-z0-9._-]+$")]


class _JobBase(_Strict):
    fps: float = Field(default=30.0, ge=MIN_FPS, le=MAX_FPS,
                       description=f"frames per second of the result, {MIN_FPS:g} to {MAX_FPS:g}")
    start_frame: int = Field(default=1, ge=-1_000_000, le=1_000_000)
    rig: RigSpec | None = Field(default=None, description="return the result on this rig (space='rig')")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    model: ModelName | None = Field(default=None, description="a registered model of the task by name (GET "
                                                              "/v1/models); default: the task's active model")


class Text2MotionRequest(_JobBase):
    task: Literal["text2motion"] = "text2motion"
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    frames: int = Field(default=120, ge=2, le=MAX_FRAMES)
    num_variations: int = Field(default=1, ge=1, le=8)
    trajectory: Array | None = Field(default=None, description="(frames,3) or (N,3) root path, metres, Z up")
    trajectory_timed: bool = Field(default=True, description="True: one point per frame; False: path only, speed "
                                                           "left to the model")
    joint_targets: list[JointTarget] = Field(default_factory=list, max_length=1000)
    keys: KeySpec | None = None
    timeline: list[TimelineEntry] | None = Field(default=None, max_length=64)
    # classifier-free guidance scale; None: the model's default (chosen on val)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=20.0)
    steps: int | None = Field(default=None, ge=1, le=1000)
    # retrieval-augmented sampling: the noise level (fraction of the schedule) at which denoising starts from the
    # prompt's nearest training clip; 1.0 from pure noise; None: the model's default (chosen on val)
    exemplar_strength: float | None = Field(default=None, ge=0.0, le=1.0)

    _p = field_validator("prompt")(classmethod(lambda cls, v: _clean_prompt(v)))

    @model_validator(mode="after")
    def _check(self):
        if self.trajectory is not None:
            s = self.trajectory.shape
            if len(s) != 2 or s[1] != 3 or s[0] < 2:
                raise ValueError(f"trajectory must have shape [N>=2, 3], got {s}")
            if self.trajectory_timed and s[0] != self.frames:
                raise ValueError(f"a timed trajectory needs one point per frame ({self.frames}), got {s[0]}")
        for t in self.joint_targets:
            if not 0 <= t.frame - self.start_frame < self.frames:
                raise ValueError(f"joint target frame {t.frame} is outside the generated range")
        _check_frame_bones(self.frames, len(self.rig.bones) if self.rig is not None else NUM_CANONICAL,
                           "the result", self.num_variations)
        return self


class InbetweenRequest(_JobBase):
    """Fill every frame between the first and last key. Keys come back exactly as sent."""
    task: Literal["inbetween"] = "inbetween"
    keys: KeySpec
    frame_range: tuple[int, int] | None = Field(default=None, description="inclusive; default first..last key")
    context: MotionSpec | None = Field(default=None, description="optional dense context frames (same space)")

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.frame_range or (self.keys.frames[0], self.keys.frames[-1])
        if hi < lo:
            raise ValueError(f"frame_range end {hi} is before its start {lo}")
        if hi - lo + 1 > MAX_FRAMES:
            raise ValueError(f"frame range of {hi - lo + 1} frames is more than the limit of {MAX_FRAMES}")
        if len(self.keys.frames) < 2 and self.context is None:
            raise ValueError("in-betweening needs at least two keyed frames")
        if self.rig is not None:
            missing = [b for b in self.keys.bones + (self.keys.location_bones or []) if b not in set(self.rig.bones)]
            if missing:
                raise ValueError(f"keys name bones the rig does not have: {', '.join(missing[:5])}")
        elif self.keys.location_bones:
            raise ValueError("keys.location_bones are rig channels: send the rig")
        # the result carries every keyed bone, the location bones and the root bone on every frame
        carried = set(self.keys.bones) | set(self.keys.location_bones or []) | {self.keys.root_bone} - {None}
        _check_frame_bones(hi - lo + 1, max(len(carried), NUM_CANONICAL if self.rig is None else 1), "the result")
        return self


class RetargetRequest(_JobBase):
    task: Literal["retarget"] = "retarget"
    source_rig: RigSpec | None = Field(default=None, description="rig the source motion is on; none = canonical")
    source: MotionSpec
    target_rig: RigSpec
    contact_cleanup: bool = True
    source_reference: Literal["auto", "rest", "tpose"] | Annotated[int, Field(ge=0)] = Field(
        default="auto", description="pose in which the source rig stands like a T-pose (rig-space sources): 'auto' "
                                    "(its rest pose if that is a T/A-pose, else an estimate from its bones), 'rest', "
                                    "'tpose' (the estimate), or a frame of the source motion (0 = its first frame); "
                                    "the result's info says which was used")

    @model_validator(mode="after")
    def _check(self):
        if isinstance(self.source_reference, int) and self.source_reference >= self.source.num_frames:
            raise ValueError(f"source_reference frame {self.source_reference} is outside the source motion (frames 0 "
                             f"to {self.source.num_frames - 1})")
        if self.source.space == "rig":
            if self.source_rig is None:
                raise ValueError("a source motion in rig space needs source_rig")
            missing = [b for b in self.source.bones if b not in set(self.source_rig.bones)]
            if missing:
                raise ValueError(f"source motion names bones the source rig does not have: {', '.join(missing[:5])}")
        frames = self.result_frames
        if frames > MAX_FRAMES:
            raise ValueError(f"resampling {self.source.num_frames} frames at {self.source.fps:g} fps to "
                             f"{self.fps:g} fps makes {frames} frames, more than the limit of {MAX_FRAMES}")
        _check_frame_bones(frames, len(self.target_rig.bones), "the result")
        return self

    @property
    def result_frames(self) -> int:
        """Frames of the result: the source's, or as many as resampling to ``fps`` makes when ``fps`` is given."""
        T = self.source.num_frames
        if "fps" not in self.model_fields_set or abs(self.source.fps - self.fps) <= 1e-6 or T < 2:
            return T
        return round((T - 1) / self.source.fps * self.fps) + 1


class EchoRequest(_Strict):
    """A trivial job for health checks and the server benchmark: sleeps ``steps`` x ``step_ms`` and echoes."""
    task: Literal["echo"] = "echo"
    steps: int = Field(default=1, ge=1, le=1000)
    step_ms: float = Field(default=0.0, ge=0.0, le=10_000.0)
    payload: str = Field(default="", max_length=1000)
    partial_every: int = Field(default=0, ge=0, le=1000, description="send a small partial motion every N steps "
                                                                     "(0: none)")
    model: ModelName | None = Field(default=None, description="a registered model of the task by name")


JobRequest = Annotated[Text2MotionRequest | InbetweenRequest | RetargetRequest | EchoRequest,
                       Field(discriminator="task")]


# ----------------------------------------------------------------------------------------------- job events
class BoneMapEntry(_Strict):
    canonical: str
    bone: str | None = Field(default=None, description="none: no bone plays this joint (the event stream leaves "
                                                       "the key out)")
    confidence: float = Field(ge=0.0, le=1.0)


class JobResult(_Strict):
    motions: list[MotionSpec] = Field(default_factory=list, description="one per variation")
    bone_map: list[BoneMapEntry] | None = None
    model: str = Field(description="name of the model or baseline that produced the result")
    info: dict[str, float | int | str] = Field(default_factory=dict)


class JobEvent(_Strict):
    """One event of a job's stream (SSE ``event:`` = ``type``, ``data:`` = this object as JSON)."""
    type: Literal["queued", "started", "progress", "partial", "result", "error", "cancelled"]
    job_id: str
    seq: int = Field(ge=0)
    step: int | None = None
    total: int | None = None
    eta_s: float | None = None
    message: str | None = None
    partial: MotionSpec | None = None
    result: JobResult | None = None


class JobCreated(_Strict):
    job_id: str
    status: Literal["queued"] = "queued"
    events_url: str


class JobStatus(_Strict):
    job_id: str
    task: str
    status: Literal["queued", "running", "done", "error", "cancelled"]
    step: int = 0
    total: int = 0
    message: str | None = None
    working: bool = Field(default=False, description="the worker is running this job's code now; after a cancel or "
                                                     "a timeout it stops at the job's next step and this turns false")


class ModelInfo(_Strict):
    name: str
    task: Literal["text2motion", "inbetween", "retarget", "echo"]
    kind: Literal["learned", "baseline"]
    loaded: bool
    training_data: str
    eval_summary: dict[str, float | str] = Field(default_factory=dict)
    active: bool = Field(default=True, description="this model serves its task's jobs now")
    available: bool = Field(default=True, description="its weights / data are present and it can load")
    note: str | None = Field(default=None, description="what it is, or why it is not available")


class Health(_Strict):
    status: Literal["ok"] = "ok"
    version: str
    schema_version: str = SCHEMA_VERSION
    device: str
    queue_length: int
    models: list[ModelInfo]


class ErrorBody(_Strict):
    error: str
    detail: list[dict] | str | None = None
