"""The add-on's mirror of the wire schema (``backend/schema.py``, version 1), with the standard library and numpy only.

Builds request bodies as plain dicts and reads results and events back into small dataclasses. Arrays travel as
``{"dtype": "float32", "shape": [...], "data": base64(little-endian float32, C order)}``; quaternions are XYZW here
(conversion to Blender's WXYZ happens in ``channels``). Nothing in this module imports bpy, so it runs in the worker
thread and in plain-Python tests.
"""
from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field

import numpy as np

SCHEMA_VERSION = "1"
MAX_FRAMES = 10_000
MAX_PROMPT_CHARS = 500
MAX_BONES = 1_000  # bones of a rig or a motion
MAX_FRAME_BONES = 2_000_000  # frames x bones (x variations) of a request's result
MIN_FPS = 1.0  # frame rates of requests and motions
MAX_FPS = 240.0
SOURCE_REFERENCES = ("auto", "rest", "tpose")  # a retarget request's source_reference, or a source frame (int)
EVENT_TYPES = ("queued", "started", "progress", "partial", "result", "error", "cancelled")
TERMINAL_EVENTS = ("result", "error", "cancelled")
# the canonical (SMPL) joints bone maps and joint targets name; equal to backend.motion.skeleton.CANONICAL_JOINTS
CANONICAL_JOINTS = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
                    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
                    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")


class WireError(ValueError):
    """A request that cannot be sent or a reply that cannot be read; the message is meant for the artist."""


# ------------------------------------------------------------------------------------------------------ arrays
def encode_array(a, what: str = "array") -> dict:
    a = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0].tolist()
        raise WireError(f"{what} contains a value that is not a number (at index {bad})")
    return {"dtype": "float32", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d, what: str = "array") -> np.ndarray:
    if not isinstance(d, dict) or "shape" not in d or "data" not in d:
        raise WireError(f"{what} is missing or malformed in the backend's reply")
    if d.get("dtype", "float32") != "float32":
        raise WireError(f"{what} has dtype {d.get('dtype')!r}; only float32 is understood")
    shape = [int(s) for s in d["shape"]]
    try:
        raw = base64.b64decode(d["data"], validate=True)
    except (ValueError, TypeError):  # bad base64, or not a string
        raise WireError(f"{what} is not valid base64 in the backend's reply") from None
    n = math.prod(shape) if shape else 1
    if len(raw) != 4 * n:
        raise WireError(f"{what} holds {len(raw) // 4} numbers but its shape {shape} needs {n}")
    a = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise WireError(f"{what} from the backend contains values that are not numbers")
    return a


# ------------------------------------------------------------------------------------------------- requests
def rig_spec(name: str, bones, parents, rest_matrices, tails=None, matrix_world=None, deform=None,
             bone_map: dict | None = None, floor: float | None = None) -> dict:
    """RigSpec: ``rest_matrices`` are ``bone.matrix_local`` (B,4,4, armature space); ``floor``: world height of the
    ground the rig stands on (None: the backend takes its rest pose's lowest joint)."""
    check_bones(len(bones), f"rig {name!r}")
    d = {"name": name[:256], "bones": list(bones), "parents": [int(p) for p in parents],
         "rest_matrices": encode_array(rest_matrices, f"rest matrices of rig {name!r}")}
    if tails is not None:
        d["tails"] = encode_array(tails, f"bone tails of rig {name!r}")
    if matrix_world is not None:
        d["matrix_world"] = encode_array(matrix_world, f"world matrix of rig {name!r}")
    if deform is not None:
        d["deform"] = [bool(x) for x in deform]
    if bone_map:
        d["bone_map"] = dict(bone_map)
    if floor is not None:
        if not math.isfinite(floor):
            raise WireError(f"the floor of rig {name!r} is not a number")
        d["floor"] = float(floor)
    return d


def _location_channels(d: dict, location_bones, locations, what: str) -> None:
    """Add ``location_bones`` + ``locations`` (n,L,3) to a request dict; nothing when there are none."""
    if not location_bones:
        return
    locations = np.asarray(locations, np.float32)
    if locations.ndim != 3 or locations.shape[1:] != (len(location_bones), 3):
        raise WireError(f"{what} locations have shape {list(locations.shape)}, expected "
                        f"[n, {len(location_bones)}, 3]")
    d["location_bones"] = list(location_bones)
    d["locations"] = encode_array(locations, f"{what} locations")


def key_spec(frames, bones, rotations_xyzw, root_translation, mask=None, root_mask=None,
             root_bone: str | None = None, location_bones=None, locations=None) -> dict:
    """KeySpec. ``location_bones``/``locations`` (K,L,3): location keys of bones other than ``root_bone`` (rig
    space), e.g. feet parented to the root."""
    d = {"frames": [int(f) for f in frames], "bones": list(bones),
         "rotations": encode_array(rotations_xyzw, "key rotations"),
         "root_translation": encode_array(root_translation, "key root translation")}
    if mask is not None:
        d["mask"] = encode_array(np.asarray(mask, np.float32), "key mask")
    if root_mask is not None:
        d["root_mask"] = [bool(x) for x in root_mask]
    if root_bone is not None:
        d["root_bone"] = root_bone
    _location_channels(d, location_bones, locations, "key")
    return d


def motion_spec(bones, parents, fps, rotations_xyzw, root_translation, start_frame=1, space="rig",
                root_bone=None, location_bones=None, locations=None) -> dict:
    check_bones(len(bones), "the source motion")
    d = {"schema_version": SCHEMA_VERSION, "space": space, "bones": list(bones), "parents": [int(p) for p in parents],
         "fps": check_fps(fps, "the source motion"), "start_frame": int(start_frame),
         "rotations": encode_array(rotations_xyzw, "motion rotations"),
         "root_translation": encode_array(root_translation, "motion root translation")}
    if root_bone is not None:
        d["root_bone"] = root_bone
    _location_channels(d, location_bones, locations, "motion")
    return d


def check_fps(fps: float, what: str = "the scene") -> float:
    """A frame rate the backend accepts (``MIN_FPS``..``MAX_FPS``), else a sentence saying what to change."""
    fps = float(fps)
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        fix = ("set a frame rate in that range (Output Properties > Format > Frame Rate)" if what == "the scene"
               else "resample it to a rate in that range first")
        raise WireError(f"{what} runs at {fps:g} fps, outside the {MIN_FPS:g}-{MAX_FPS:g} fps the backend works "
                        f"with: {fix}")
    return fps


def check_bones(n: int, what: str) -> None:
    if n > MAX_BONES:
        raise WireError(f"{what} has {n} bones, more than the backend's limit of {MAX_BONES:,}")


def check_frame_bones(frames: int, bones: int, variations: int = 1, what: str = "the result") -> None:
    """Refuse results of more than ``MAX_FRAME_BONES`` bone-frames before sending (the backend would answer 422)."""
    n = int(frames) * max(1, int(bones)) * max(1, int(variations))
    if n > MAX_FRAME_BONES:
        times = f" x {variations} variations" if variations > 1 else ""
        raise WireError(f"{what} would hold {frames} frames x {bones} bones{times} = {n:,} bone-frames, more than "
                        f"the backend's limit of {MAX_FRAME_BONES:,}: ask for at most "
                        f"{max(1, MAX_FRAME_BONES // (max(1, bones) * max(1, variations))):,} frames on this rig")


def with_model(d: dict, model: str | None) -> dict:
    """Name the model that should serve the request (None or "": the task's active model)."""
    if model:
        d["model"] = str(model)
    return d


def check_frames(frames: int) -> int:
    frames = int(frames)
    if frames < 2:
        raise WireError(f"a motion needs at least 2 frames, got {frames}")
    if frames > MAX_FRAMES:
        raise WireError(f"{frames} frames is more than the backend's limit of {MAX_FRAMES} "
                        f"({MAX_FRAMES / 30:.0f} s at 30 fps); ask for a shorter motion")
    return frames


def text2motion_request(prompt: str, frames: int, fps: float, start_frame: int = 1, seed: int = 0,
                        num_variations: int = 1, rig: dict | None = None, trajectory=None,
                        joint_targets: list | None = None, model: str | None = None,
                        exemplar_strength: float | None = None) -> dict:
    """``exemplar_strength`` (0..1): how far down the noise schedule generation starts from the prompt's nearest
    training clip (low: close to the library motion; 1: invented from noise); None: the model's default."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise WireError("the prompt is empty: describe the motion, e.g. 'a person walks forward'")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise WireError(f"the prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    d = {"task": "text2motion", "prompt": prompt, "frames": check_frames(frames), "fps": check_fps(fps),
         "start_frame": int(start_frame), "seed": int(seed), "num_variations": int(num_variations)}
    check_frame_bones(frames, len(rig["bones"]) if rig is not None else len(CANONICAL_JOINTS), num_variations)
    if rig is not None:
        d["rig"] = rig
    if trajectory is not None:
        d["trajectory"] = encode_array(trajectory, "trajectory")
        d["trajectory_timed"] = True
    if joint_targets:
        d["joint_targets"] = [{"joint": j, "frame": int(f), "position": [float(x) for x in p]}
                              for j, f, p in joint_targets]
    if exemplar_strength is not None:
        x = float(exemplar_strength)
        if not 0.0 <= x <= 1.0:  # NaN fails too
            raise WireError(f"invention must be between 0 and 1, got {exemplar_strength}")
        d["exemplar_strength"] = x
    return with_model(d, model)


def inbetween_request(keys: dict, fps: float, rig: dict | None = None, frame_range=None, seed: int = 0,
                      model: str | None = None) -> dict:
    lo, hi = frame_range if frame_range is not None else (keys["frames"][0], keys["frames"][-1])
    if hi - lo + 1 > MAX_FRAMES:
        raise WireError(f"frames {lo}..{hi} are {hi - lo + 1} frames, more than the backend's limit of {MAX_FRAMES}: "
                        "in-between a shorter range")
    # the result carries every keyed bone, the location bones and the root bone on every frame
    carried = set(keys["bones"]) | set(keys.get("location_bones") or []) | {keys.get("root_bone")} - {None}
    check_frame_bones(hi - lo + 1, max(len(carried), 1 if rig is not None else len(CANONICAL_JOINTS)))
    d = {"task": "inbetween", "keys": keys, "fps": check_fps(fps), "seed": int(seed), "start_frame": int(lo)}
    if rig is not None:
        d["rig"] = rig
    if frame_range is not None:
        d["frame_range"] = [int(frame_range[0]), int(frame_range[1])]
    return with_model(d, model)


def retarget_result_frames(source_frames: int, source_fps: float, fps: float) -> int:
    """Frames of a retarget result: the source's, or as many as resampling it to ``fps`` makes (as the backend)."""
    if abs(source_fps - fps) <= 1e-6 or source_frames < 2:
        return int(source_frames)
    return round((source_frames - 1) / source_fps * fps) + 1


def retarget_request(source: dict, target_rig: dict, fps: float, source_rig: dict | None = None,
                     start_frame: int = 1, model: str | None = None, source_reference="auto") -> dict:
    """``source_reference``: the pose the source stands like a T-pose in: "auto", "rest", "tpose" (estimated from
    its bones) or a frame of ``source`` (0 = its first sample)."""
    T = int(source["rotations"]["shape"][0])
    frames = retarget_result_frames(T, source["fps"], check_fps(fps))
    if frames > MAX_FRAMES:
        raise WireError(f"the source's {T} frames at {source['fps']:g} fps make {frames} frames at {fps:g} fps, more "
                        f"than the backend's limit of {MAX_FRAMES}: retarget a shorter range")
    check_frame_bones(frames, len(target_rig["bones"]))
    if isinstance(source_reference, bool) or not (source_reference in SOURCE_REFERENCES
                                                  or isinstance(source_reference, int)):
        raise WireError(f"the reference pose must be one of {', '.join(SOURCE_REFERENCES)} or a frame number, "
                        f"not {source_reference!r}")
    if isinstance(source_reference, int) and not 0 <= source_reference < T:
        raise WireError(f"the reference frame is sample {source_reference} of a source with {T} frames (0 to "
                        f"{T - 1}): pick a frame inside the retargeted range")
    d = {"task": "retarget", "source": source, "target_rig": target_rig, "fps": float(fps),
         "start_frame": int(start_frame), "source_reference": source_reference}
    if source_rig is not None:
        d["source_rig"] = source_rig
    return with_model(d, model)


# ----------------------------------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelChoice:
    """A model the panel offers for a task (from ``GET /v1/models``)."""
    name: str
    kind: str
    active: bool
    available: bool
    note: str


def task_models(models, task: str) -> list[ModelChoice]:
    """The backend's models for one task (``GET /v1/models``), active first; malformed entries are skipped."""
    out = []
    for m in models or ():
        if not isinstance(m, dict) or m.get("task") != task or not isinstance(m.get("name"), str):
            continue
        out.append(ModelChoice(m["name"], str(m.get("kind", "")), bool(m.get("active", True)),
                               bool(m.get("available", True)), str(m.get("note") or "")))
    return sorted(out, key=lambda c: not c.active)


def check_model(models, task: str, name: str | None) -> str | None:
    """The model to send (None: the active one); refuses a name the cached list knows as unavailable."""
    if not name:
        return None
    for c in task_models(models, task):
        if c.name == name and not c.available:
            raise WireError(f"the model {name!r} is not available on this backend ({c.note or 'no weights'}): "
                            "choose another in the panel, or Active Model")
    return name


# --------------------------------------------------------------------------------------------------- replies
@dataclass(frozen=True)
class PoseBoneProperty:
    """``pose.bones[bone][name] = value``, constant over a motion (e.g. Rigify's ``IK_FK`` switch)."""
    bone: str
    name: str
    value: float


@dataclass
class Motion:
    """A decoded MotionSpec. ``rotations_xyzw`` (T,B,4), ``root_translation`` (T,3) of ``root_bone``; rig space
    may add ``locations`` (T,L,3) of ``location_bones`` (each in its own bone space) and pose-bone ``properties``."""
    bones: list
    parents: list
    fps: float
    start_frame: int
    rotations_xyzw: np.ndarray
    root_translation: np.ndarray
    space: str = "rig"
    root_bone: str | None = None
    location_bones: list = field(default_factory=list)
    locations: np.ndarray | None = None
    properties: list = field(default_factory=list)  # [PoseBoneProperty]

    @property
    def num_frames(self) -> int:
        return int(self.rotations_xyzw.shape[0])


def _parse_locations(d: dict, bones: list, root_bone, T: int) -> tuple[list, np.ndarray | None]:
    names, arr = d.get("location_bones"), d.get("locations")
    if names is None and arr is None:
        return [], None
    if names is None or arr is None:
        raise WireError("the backend sent location_bones without locations (or the other way round)")
    if not isinstance(names, list) or not all(isinstance(b, str) and b for b in names):
        raise WireError("the backend's location_bones is not a list of bone names")
    loc = decode_array(arr, "motion locations")
    if loc.shape != (T, len(names), 3):
        raise WireError(f"motion locations have shape {list(loc.shape)}, expected [{T}, {len(names)}, 3]")
    if len(set(names)) != len(names):
        raise WireError("the backend's location_bones lists a bone twice")
    if root_bone is not None and root_bone in names:
        raise WireError(f"the backend lists the root bone {root_bone!r} among the location bones")
    missing = [b for b in names if b not in set(bones)]
    if missing:
        raise WireError(f"the backend's location_bones names bones the motion does not list: "
                        f"{', '.join(map(repr, missing[:5]))}")
    return list(names), loc


def _parse_properties(items) -> list:
    if items is None:
        return []
    if not isinstance(items, list):
        raise WireError("the backend's pose-bone properties are not a list")
    out, seen = [], set()
    for it in items:
        try:
            p = PoseBoneProperty(str(it["bone"]), str(it["name"]), float(it["value"]))
        except (KeyError, TypeError, ValueError):
            raise WireError("the backend sent a malformed pose-bone property (needs bone, name, value)") from None
        if not p.bone or not p.name:
            raise WireError("the backend sent a pose-bone property without a bone or a name")
        if not math.isfinite(p.value):
            raise WireError(f"the backend sent property {p.name!r} of bone {p.bone!r} with a value that is not "
                            "a number")
        if (p.bone, p.name) in seen:
            raise WireError(f"the backend lists property {p.name!r} of bone {p.bone!r} twice")
        seen.add((p.bone, p.name))
        out.append(p)
    return out


def parse_motion(d) -> Motion:
    if not isinstance(d, dict):
        raise WireError("the backend sent a motion that is not an object")
    try:
        bones = [str(b) for b in d["bones"]]
        parents = [int(p) for p in d.get("parents", [-1] * len(bones))]
        fps = float(d["fps"])
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"the backend sent a motion without a valid {e}") from None
    rot = decode_array(d.get("rotations"), "motion rotations")
    root = decode_array(d.get("root_translation"), "motion root translation")
    if rot.ndim != 3 or rot.shape[1:] != (len(bones), 4):
        raise WireError(f"motion rotations have shape {list(rot.shape)}, expected [frames, {len(bones)}, 4]")
    if root.shape != (rot.shape[0], 3):
        raise WireError(f"motion root translation has shape {list(root.shape)}, expected [{rot.shape[0]}, 3]")
    if not fps > 0:
        raise WireError(f"motion fps must be positive, got {fps}")
    root_bone = d.get("root_bone")
    location_bones, locations = _parse_locations(d, bones, root_bone, rot.shape[0])
    return Motion(bones, parents, fps, int(d.get("start_frame", 1)), rot, root, d.get("space", "canonical"),
                  root_bone, location_bones, locations, _parse_properties(d.get("properties")))


@dataclass
class BoneMapEntry:
    canonical: str
    bone: str | None
    confidence: float


def parse_bone_map(items) -> list[BoneMapEntry]:
    if not isinstance(items, list):
        raise WireError("the backend's bone map is not a list")
    out = []
    for it in items:
        try:
            out.append(BoneMapEntry(str(it["canonical"]), None if it.get("bone") is None else str(it["bone"]),
                                    float(it.get("confidence", 0.0))))
        except (KeyError, TypeError, ValueError):
            raise WireError("the backend's bone map has a malformed entry") from None
    return out


@dataclass
class Result:
    motions: list
    model: str
    bone_map: list | None = None
    info: dict = field(default_factory=dict)


@dataclass
class Event:
    """One job event (SSE ``event:`` = type, ``data:`` = JobEvent JSON)."""
    type: str
    job_id: str = ""
    seq: int = 0
    step: int | None = None
    total: int | None = None
    message: str | None = None
    partial: Motion | None = None
    result: Result | None = None

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.total:
            return None
        return max(0.0, min(1.0, self.step / self.total))


def parse_event(event_type: str | None, data: str) -> Event:
    """Decode one SSE event; raises :class:`WireError` on anything malformed."""
    try:
        d = json.loads(data)
    except (TypeError, ValueError):
        raise WireError("the backend sent an event that is not valid JSON") from None
    if not isinstance(d, dict):
        raise WireError("the backend sent an event that is not a JSON object")
    etype = d.get("type") or event_type
    if etype not in EVENT_TYPES:
        raise WireError(f"the backend sent an unknown event type {etype!r}")
    ev = Event(type=etype, job_id=str(d.get("job_id", "")), seq=int(d.get("seq", 0) or 0), step=d.get("step"),
               total=d.get("total"), message=d.get("message"))
    if d.get("partial") is not None:
        ev.partial = parse_motion(d["partial"])
    if d.get("result") is not None:
        r = d["result"]
        if not isinstance(r, dict):
            raise WireError("the backend's result is not an object")
        ev.result = Result(motions=[parse_motion(m) for m in r.get("motions", [])], model=str(r.get("model", "?")),
                           bone_map=parse_bone_map(r["bone_map"]) if r.get("bone_map") is not None else None,
                           info=dict(r.get("info") or {}))
    if etype == "result" and ev.result is None:
        raise WireError("the backend's result event carries no result")
    return ev
