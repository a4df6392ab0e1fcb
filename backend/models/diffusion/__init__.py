"""Text-to-motion diffusion: denoiser (:mod:`.denoiser`), schedule and DDIM (:mod:`.schedule`), sampler with
classifier-free guidance, imputation and FK guidance (:mod:`.sampler`, :mod:`.control`), foot cleanup
(:mod:`.cleanup`), and the model object the pipelines use (:mod:`.model`): ``load_default().generate_motion(...)``
(``backend.pipelines.text2motion.LearnedText2Motion`` wraps it for the server and the CLI)."""
from .control import ControlError, JointTargets, Keys
from .model import MODEL_NAME, GenerationCancelled, Text2MotionModel, load_default

__all__ = ["MODEL_NAME", "ControlError", "GenerationCancelled", "JointTargets", "Keys", "Text2MotionModel",
           "load_default"]
