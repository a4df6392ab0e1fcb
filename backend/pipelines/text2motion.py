"""The ``text2motion`` task: the learned diffusion model when its weights are present, else a classical baseline.

This module wires requests to the models (:mod:`backend.models.diffusion`, :mod:`backend.models.retrieval`): it binds
the request's rig, moves what the artist placed in the scene (a drawn path, joint targets, rig-space keys) into
canonical space, runs the model per variation and converts the result back onto the rig, keys written back bit for
bit.

``text2motion-diffusion`` (learned): an MDM-style denoiser sampled with few-step DDIM and classifier-free guidance,
honouring trajectories (timed or path only), keys (exact), joint targets and prompt timelines. It streams one
``progress`` event per denoising step and the current clean-motion estimate as a ``partial`` (on the request's rig
when there is one; at most one per 1/20 of the steps, down-sampled in time, see :mod:`backend.pipelines.preview`),
and refuses requests over its work budget before they are queued (:func:`check`). Rig-space keys are moved to the canonical skeleton through the rig's bone map
before sampling; joint targets may name canonical joints or mapped rig bones. A prompt far from every training
sentence (best sentence-embedding cosine below the threshold chosen on the val split,
:mod:`backend.models.text.vocabulary`) gets ``info["out_of_vocabulary"]``, a sentence naming the closest training
text. See :class:`LearnedText2Motion`.

``retrieval-baseline``: nearest-clip retrieval over the training corpus (``backend.data.corpus``, train split),
fitted to the length, bent onto the trajectory and split by the timeline
(:class:`backend.models.retrieval.RetrievalBaseline`). ``keys`` and ``joint_targets`` are not honoured by the
baseline (the result's ``info`` says so). It stays registered under its name (``GET /v1/models``) and serves when
the learned weights are missing.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ..models.retrieval import MODEL_NAME, RetrievalBaseline
from ..models.timeline import TimelineError
from ..motion.motion import Motion
from ..motion.skeleton import CANONICAL_JOINTS
from ..schema import JobResult, Text2MotionRequest
from .context import JobContext, RequestError
from .convert import canonical_motion_to_spec, check_canonical_bones, key_masks, write_keys_exactly
from .preview import downsample_motion
from .rigs import RigBinding

__all__ = ["LEARNED_NAME", "MODEL_NAME", "LearnedText2Motion", "check", "corpus_available", "learned_available",
           "load_retrieval_baseline", "run"]

LEARNED_NAME = "text2motion-diffusion"
LEARNED_TRAINING_DATA = ("corpus v3 (9.3 hours of CMU mocap with HumanML3D / KIT-ML sentences), train split; "
                         "trained by `python -m backend train text2motion`")
LEARNED_NOTE = ("learned: MDM-style diffusion denoiser (x0 prediction), DDIM with classifier-free guidance, "
                "retrieval-augmented: denoising starts part-way down the schedule from the prompt's nearest training "
                "clip (bent onto the path, through the keys); trajectory / key / joint-target control, prompt "
                "timelines (docs/text2motion.md)")

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


def load_retrieval_baseline(encoder=None) -> RetrievalBaseline:
    """The served baseline: retrieval over the train split of the built corpus (``data/corpus``)."""
    if not corpus_available():
        raise RequestError("text-to-motion needs the motion corpus (backend.data.corpus), which this installation "
                           "does not have yet")
    from ..data.corpus import load_corpus
    try:
        return RetrievalBaseline(load_corpus("train"), encoder)
    except ValueError as e:
        raise RequestError(str(e)) from None


def training_exemplars(encoder=None, corpus=None):
    """The default model's exemplar bank (:mod:`backend.models.diffusion.exemplar`): retrieval over the text
    clips of ``corpus``'s train split (default corpus v3, the data the model was trained on; never val or test).
    None when no corpus is given and corpus v3 is not installed (the model then samples from noise). Its
    ``retriever`` is the retrieval baseline the eval and the bench compare against."""
    from types import SimpleNamespace

    from ..data.corpus import CORPUS_V3, load_corpus
    from ..models.diffusion.exemplar import ExemplarBank
    from ..train.text2motion_data import training_clips
    if corpus is None:
        if not (CORPUS_V3 / "manifest.json").is_file():
            return None
        corpus = load_corpus(path=CORPUS_V3)
    clips = training_clips(corpus, "train")
    bank = ExemplarBank(RetrievalBaseline(SimpleNamespace(clips=clips), encoder))
    if encoder is not None and hasattr(encoder, "save"):
        encoder.save()  # the training sentences' embeddings, cached for the next start
    return bank


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
_UNCHECKED = object()


def work(request: Text2MotionRequest) -> tuple[int, int, int]:
    """(model frames, denoising steps, frame-steps) of a request, checked before it is queued. The model generates at
    30 fps, so a low ``fps`` means many more model frames than requested frames; frame-steps are model frames x steps
    x variations (the retrieval baseline does about one step's worth, counted the same way)."""
    model_frames = max(2, round((request.frames - 1) * MODEL_FPS / request.fps) + 1)
    steps = request.steps or DEFAULT_STEPS
    return model_frames, steps, model_frames * steps * request.num_variations


def check(request: Text2MotionRequest) -> RigBinding | None:
    """Refuse requests that cannot be served (over the work budget, bad keys or targets); returns the rig's binding
    (None without a rig), which :func:`run` then uses instead of binding the rig again."""
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
        check_canonical_bones(request.keys.bones, "keys")
    if request.keys is not None:
        lo, hi = request.start_frame, request.start_frame + request.frames - 1
        bad = [f for f in request.keys.frames if not lo <= f <= hi]
        if bad:
            raise RequestError(f"keys at frames {bad[:5]} fall outside the generated range {lo}..{hi}")
    for t in request.joint_targets:
        _target_joint(t.joint, binding)
    return binding


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


def _timeline(request: Text2MotionRequest):
    return [(e.prompt, e.start, e.end) for e in request.timeline] if request.timeline else None


def run(request: Text2MotionRequest, ctx: JobContext, model=None, binding=_UNCHECKED) -> JobResult:
    """Generate ``request.num_variations`` motions with ``model`` (default: the retrieval baseline). ``binding``:
    what :func:`check` returned for this request (checked here when not given)."""
    if binding is _UNCHECKED:
        binding = check(request)
    model = model or load_retrieval_baseline()
    request = controls_to_canonical(request, binding)
    if getattr(model, "streams_steps", False):
        return _run_learned(request, ctx, model, binding)
    total = request.num_variations * 2
    ctx.progress(0, total, "retrieving")
    motions, info = [], {}
    trajectory = None if request.trajectory is None else request.trajectory.numpy()
    for v in range(request.num_variations):
        try:
            motion, vinfo = model.generate(
                request.prompt, request.frames, request.fps, seed=request.seed, variation=v,
                timeline=_timeline(request), trajectory=trajectory, trajectory_timed=request.trajectory_timed,
                on_partial=lambda m: ctx.partial(canonical_motion_to_spec(downsample_motion(m),
                                                                          start_frame=request.start_frame))
                if ctx.partial_due() else None)
        except TimelineError as e:
            raise RequestError(str(e)) from None
        ctx.progress(2 * v + 1, total, f"variation {v + 1}: {vinfo.get('clip', '')}")
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


V2_NAME = "text2motion-diffusion-v2"
V2_TRAINING_DATA = ("corpus v2 (10 minutes: CMU mocap, DeepMimic and Quaternius clips with text descriptions and "
                    "deterministic paraphrases), train split")
V2_NOTE = ("the previous default, trained on corpus v2 (10 minutes of motion): samples from noise; kept for "
           "comparison, choose it by name")


def v2_weights():
    from ..paths import weights_file
    return weights_file("text2motion_v2")


def v2_available() -> bool:
    return v2_weights().is_file()


class LearnedText2Motion:
    """Pipeline face of :class:`backend.models.diffusion.Text2MotionModel` (loaded once, kept warm)."""
    name = LEARNED_NAME
    streams_steps = True

    def __init__(self, model=None, vocabulary=_UNCHECKED):
        if model is None:
            from ..models.diffusion.model import load_default
            model = load_default()
        self.model = model
        if vocabulary is _UNCHECKED:  # the training sentences beside the weights (None when not built)
            from ..models.text.vocabulary import load_vocabulary
            vocabulary = load_vocabulary()
        self.vocabulary = vocabulary

    @classmethod
    def served(cls) -> LearnedText2Motion:
        """The default model with its exemplar bank (retrieval-augmented sampling over corpus v3's train split)."""
        from ..models.diffusion.model import Text2MotionModel, load_default
        base = load_default()  # shared, and left as it is (from noise): the served copy holds the bank
        model = Text2MotionModel(base.denoiser, base.normalizer, base.meta, base.encoder,
                                 exemplars=training_exemplars(base.encoder))
        return cls(model)

    @classmethod
    def v2(cls) -> LearnedText2Motion:
        """The corpus-v2 weights (``weights/text2motion_v2.safetensors``) behind the same pipeline, from noise."""
        from ..models.diffusion.model import Text2MotionModel
        served = cls(Text2MotionModel.load(v2_weights()), vocabulary=None)
        served.name = V2_NAME
        return served

    def out_of_vocabulary(self, request: Text2MotionRequest) -> str | None:
        """A sentence when the prompt (or a timeline entry's) is far from every training text, else None
        (:meth:`backend.models.text.vocabulary.Vocabulary.note`)."""
        if self.vocabulary is None:
            return None
        prompts = [request.prompt] + [e.prompt for e in request.timeline or []]
        return self.vocabulary.note(prompts, self.model.encoder)

    def controls(self, request: Text2MotionRequest, binding: RigBinding | None):
        """The request's :class:`~backend.models.diffusion.Controls` on the canonical skeleton (frames counted from
        ``start_frame``; positions placed in the scene were already moved into canonical space by
        :func:`controls_to_canonical`)."""
        from ..models.diffusion.control import Controls, JointTargets, Keys
        out = Controls(trajectory=None if request.trajectory is None else request.trajectory.numpy(),
                       trajectory_timed=request.trajectory_timed, timeline=_timeline(request))
        start = request.start_frame
        if request.keys is not None:
            k = request.keys
            frames = np.asarray(k.frames) - start
            q = k.rotations.numpy().astype(np.float64)
            mask, root_mask = key_masks(k)
            root = k.root_translation.numpy().astype(np.float64)
            if binding is None:
                out.keys = Keys(frames, list(k.bones), q, root, mask, root_mask)
            else:  # rig channels -> canonical pose, keyed where a keyed bone carries the joint
                from ..retarget.api import RigPose
                locs = {k.root_bone or binding.translation_bone: root}
                if k.location_bones:
                    lv = k.locations.numpy().astype(np.float64)
                    locs.update({b: lv[:, i] for i, b in enumerate(k.location_bones)})
                canon = binding.to_canonical(RigPose(tuple(k.bones), q / np.linalg.norm(q, axis=-1, keepdims=True),
                                                     locs, request.fps))
                out.keys = Keys(frames, list(CANONICAL_JOINTS), canon.rotations, canon.root_pos,
                                   binding.canonical_key_mask(k.bones, mask), root_mask)
        if request.joint_targets:
            tg = JointTargets()
            for t in request.joint_targets:  # positions in canonical space (controls_to_canonical)
                tg.add(_target_joint(t.joint, binding), t.frame - start, t.position)
            out.joint_targets = tg
        return out


def _run_learned(request: Text2MotionRequest, ctx: JobContext, model: LearnedText2Motion,
                 binding: RigBinding | None) -> JobResult:
    from ..models.diffusion.control import ControlError
    from ..models.diffusion.sampler import SamplingOptions


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
            options = SamplingOptions(steps=request.steps, guidance_scale=request.guidance_scale, seed=request.seed,
                                      variation=v, exemplar_strength=request.exemplar_strength)
            motion, vinfo = model.model.generate_motion(
                request.prompt, request.frames, controls, options, fps=request.fps, on_progress=progress,
                on_partial=preview)
        except ControlError as e:
            raise RequestError(str(e)) from None
        ctx.check_cancelled()
        spec = to_spec(motion)
        if binding is not None and request.keys is not None:
            spec = write_keys_exactly(spec, request.keys)
        motions.append(spec)
        for k, val in vinfo.items():
            if isinstance(val, (int, float, str)):
                info[k if v == 0 else f"{k}_{v}"] = val
    note = model.out_of_vocabulary(request) if hasattr(model, "out_of_vocabulary") else None
    if note:
        info["out_of_vocabulary"] = note
    return JobResult(motions=motions, bone_map=None if binding is None else binding.bone_map_entries(),
                     model=model.name, info=info)
