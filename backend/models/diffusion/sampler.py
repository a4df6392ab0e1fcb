"""Few-step DDIM sampling with classifier-free guidance, imputation and joint-target guidance.

One window of at most the model's training length is sampled per call. Every step:

1. the denoiser predicts the clean motion x0 with and without the text (one batched call) and the two are mixed,
   ``x0 = x0_uncond + s (x0_text - x0_uncond)`` (classifier-free guidance, scale ``s``);
2. observed channels (keys, trajectory, prefix) are written into x0 (imputation: keys overwritten every step);
3. joint targets pull x0 through differentiable FK (:func:`.control.guide_x0`), observed channels stay fixed;
4. ``on_step(step, total, x0)`` reports progress with the current x0 (a preview), and may raise to cancel;
5. DDIM moves the noisy sample to the next noise level with that x0.

The result is the last x0: observed channels hold exactly the observed values.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .control import JointTargets, Observation, guide_x0
from .denoiser import MotionDenoiser
from .exemplar import warp_to_observation
from .schedule import CosineSchedule

StepCallback = Callable[[int, int, torch.Tensor], None]
DEFAULT_GUIDANCE = 2.5  # the guidance scale of weights whose sidecar names none (the served one names its own)


@dataclass(frozen=True)
class SamplingOptions:
    """How a generation samples (what it must honour is :class:`.control.Controls`)."""
    steps: int | None = None  # denoising steps; None: the model's default
    # classifier-free guidance: x0 = x0_uncond + guidance_scale (x0_text - x0_uncond); None: the model's own default,
    # its sidecar's ``sampling.guidance_scale`` when sampling from an exemplar (chosen on val with the strength),
    # DEFAULT_GUIDANCE from noise or for sidecars that name none
    guidance_scale: float | None = None
    seed: int = 0
    variation: int = 0  # a second number mixed into the seed: variations of one request differ
    contact_cleanup: bool = True  # pin planted feet afterwards (:mod:`backend.motion.foot_plant`)
    # along a drawn path: turn the body towards the facing the prompt asks for, low-passed over this many frames
    # (0: off), so the slow drift and the lag into turns go and the gait's own sway stays; 61 (2 s) chosen on val
    # (docs/text2motion.md)
    face_path_window: int = 61
    # retrieval-augmented sampling (:mod:`.exemplar`): the noise level, as a fraction of the schedule, at which
    # denoising starts from the prompt's training exemplar. 1.0: from pure noise (no exemplar); None: the model's
    # own default (its sidecar's ``sampling.exemplar_strength``, chosen on val)
    exemplar_strength: float | None = None


@dataclass(frozen=True)
class Denoising:
    """What sampling needs from the weights: the denoiser, its noise schedule and the feature normaliser."""
    denoiser: MotionDenoiser
    schedule: CosineSchedule
    normalizer: object  # backend.models.features.Normalizer


@dataclass
class WindowConditions:
    """What one window is sampled under. ``text``: (384,) or (batch, 384) sentence embedding; ``obs``: observed
    (imputed) channels; ``targets``: joint targets (FK guidance). ``soft`` (frames, D) marks observed channels that
    are imputed only during the first ``soft_steps`` steps (the network still sees them as observations
    throughout): weaker control, e.g. a trajectory the body may deviate from. ``guide`` (frames, D) un-normalised
    model-frame features: a motion to start from (noised to ``guide_strength`` of the schedule, SDEdit-style;
    :mod:`.exemplar`)."""
    text: torch.Tensor
    obs: Observation | None = None
    targets: JointTargets | None = None
    soft: np.ndarray | None = None
    soft_steps: int = 0
    guide: np.ndarray | None = None
    guide_strength: float = 1.0


@torch.no_grad()
def sample_window(net: Denoising, frames: int, cond: WindowConditions, *, steps: int = 10,
                  guidance_scale: float = DEFAULT_GUIDANCE, generator: torch.Generator | None = None,
                  on_step: StepCallback | None = None, batch: int = 1, init_noise: torch.Tensor | None = None,
                  guide_iters: int = 4, final_guide_iters: int = 300) -> torch.Tensor:
    """Sample ``batch`` windows of ``frames`` frames under ``cond``. Returns normalised features (batch, frames,
    D)."""
    model, schedule, normalizer = net.denoiser, net.schedule, net.normalizer
    text, obs, targets, soft, soft_steps = cond.text, cond.obs, cond.targets, cond.soft, cond.soft_steps
    D = model.cfg.feature_dim
    if frames < 1 or frames > model.cfg.max_frames:
        raise ValueError(f"a window must have 1..{model.cfg.max_frames} frames, got {frames}")
    text = text.reshape(-1, text.shape[-1]).float()
    if text.shape[0] == 1 and batch > 1:
        text = text.expand(batch, -1)
    if obs is None:
        obs = Observation.empty(frames, D)
    if obs.frames != frames:
        raise ValueError(f"observation has {obs.frames} frames, the window {frames}")
    mask = torch.tensor(obs.mask, dtype=torch.float32).expand(batch, -1, -1)
    obs_n = normalizer(torch.tensor(obs.values, dtype=torch.float32)) * mask
    hard = mask if soft is None else mask * (1.0 - torch.tensor(soft, dtype=torch.float32))
    targets = targets or JointTargets()
    x = init_noise if init_noise is not None else torch.randn(batch, frames, D, generator=generator)
    ts = schedule.timesteps(steps)
    if cond.guide is not None and cond.guide_strength < 1.0:  # start part-way down, from the noised guide
        ts = schedule.timesteps_from(cond.guide_strength, steps)
        g = normalizer(torch.as_tensor(np.asarray(cond.guide, np.float32))).expand(batch, -1, -1)
        g = g * (1.0 - mask) + obs_n * mask  # observed channels as observed
        x = schedule.q_sample(g, torch.full((batch,), ts[0], dtype=torch.long), x)
    use_cfg = guidance_scale != 1.0
    keep = torch.cat([torch.ones(batch, dtype=torch.bool), torch.zeros(batch, dtype=torch.bool)]) if use_cfg \
        else torch.ones(batch, dtype=torch.bool)
    x0 = x
    for i, t in enumerate(ts):
        tt = torch.full((batch,), t, dtype=torch.long)
        if use_cfg:
            out = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([text, text]), torch.cat([obs_n, obs_n]),
                        torch.cat([mask, mask]), text_keep=keep)
            x0_c, x0_u = out[:batch], out[batch:]
            x0 = x0_u + guidance_scale * (x0_c - x0_u)
        else:
            x0 = model(x, tt, text, obs_n, mask, text_keep=keep)
        imp = mask if i < soft_steps else hard  # channels overwritten on this step
        # bend the estimate through the observations first, so the frames beside a key agree with it
        x0 = torch.stack([torch.from_numpy(warp_to_observation(x0[b].numpy(), obs_n[b].numpy(), imp[b].numpy()))
                          for b in range(batch)])
        x0 = x0 * (1.0 - imp) + obs_n * imp
        last = i == len(ts) - 1
        if len(targets):
            with torch.enable_grad():
                x0 = guide_x0(x0, targets, normalizer, 1.0 - imp, iters=final_guide_iters if last else guide_iters,
                              tol=0.003 if last else 0.0)
        if on_step is not None:
            on_step(i + 1, len(ts), x0)
        x = schedule.ddim_step(x, x0, t, ts[i + 1] if not last else None)
    return x0


def seeded_generator(seed: int, variation: int = 0) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(np.random.SeedSequence([int(seed), int(variation)]).generate_state(1)[0]))
    return g
