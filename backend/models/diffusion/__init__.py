"""Text-to-motion diffusion: denoiser (:mod:`.denoiser`), schedule and DDIM (:mod:`.schedule`), sampler with
classifier-free guidance, imputation and FK guidance (:mod:`.sampler`, :mod:`.control`), foot cleanup
(:mod:`.cleanup`), and the model object the pipelines use (:mod:`.model`):
``load_default().generate_motion(prompt, frames, Controls(...), SamplingOptions(...))``
(``backend.pipelines.text2motion.LearnedText2Motion`` wraps it for the server and the CLI)."""
from .control import ControlError, Controls, JointTargets, Keys
from .model import MODEL_NAME, GenerationCancelled, Text2MotionModel, load_default
from .sampler import SamplingOptions

__all__ = ["MODEL_NAME", "ControlError", "Controls", "GenerationCancelled", "JointTargets", "Keys", "SamplingOptions",
           "Text2MotionModel", "load_default"]
