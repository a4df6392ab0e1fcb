"""``python -m backend bench text2motion``: latency of 120 frames against the number of sampling steps.

Every number is the median of ``--runs`` calls of the full :meth:`Text2MotionModel.generate_motion` (text lookup,
DDIM with classifier-free guidance, foot cleanup) on ``--threads`` CPU threads, measured in the same run as two
baselines: the full 100-step sampler of the same model (what few-step DDIM saves) and the retrieval baseline
(nearest training clip, no generation at all). Also times a trajectory-controlled call (adds a 5-step pre-pass)
and joint-target guidance. Results print as a table or JSON; the machine's load average is reported because the
numbers depend on it.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace


def register(subparsers):
    p = subparsers.add_parser("text2motion", help="latency of text-to-motion vs sampling steps")
    p.add_argument("--steps", default="1,2,5,10,20", help="comma-separated step counts")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--weights", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _median_time(fn, runs: int) -> float:
    import numpy as np
    fn(0)  # warm-up
    ts = []
    for r in range(runs):
        t = time.perf_counter()
        fn(r + 1)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def run(args) -> int:
    import numpy as np
    import torch

    from ..data.corpus import load_corpus
    from ..eval.text2motion import retrieved_motion
    from ..models.diffusion.control import Controls, JointTargets
    from ..models.diffusion.model import Text2MotionModel
    from ..models.diffusion.sampler import SamplingOptions
    from ..models.retrieval import RetrievalBaseline
    from ..models.text import default_encoder
    from ..pipelines.text2motion import training_exemplars

    torch.set_num_threads(max(1, args.threads))
    enc = default_encoder()
    bank = training_exemplars(enc)  # the served configuration: retrieval-augmented sampling (None without corpus v3)
    model = Text2MotionModel.load(args.weights, encoder=enc, exemplars=bank)
    prompt = "a person walks forward"
    F = args.frames
    rows = {}
    full = model.schedule.num_steps
    noise = SamplingOptions(exemplar_strength=1.0)  # from pure noise: the sampler's cost per step count
    rows[f"model, {full} steps (full schedule, from noise)"] = _median_time(
        lambda s: model.generate_motion(prompt, F, options=replace(noise, seed=s, steps=full)), max(2, args.runs // 3))
    for st in [int(s) for s in args.steps.split(",")]:
        rows[f"model, {st} steps from noise"] = _median_time(
            lambda s, st=st: model.generate_motion(prompt, F, options=replace(noise, seed=s, steps=st)), args.runs)
    served = f"served (exemplar strength {model.exemplar_strength:g})" if bank is not None else "served"
    rows[f"model, {served}"] = _median_time(
        lambda s: model.generate_motion(prompt, F, options=SamplingOptions(seed=s)), args.runs)
    path = np.zeros((F, 3))
    path[:, 0] = np.linspace(0, 2.0, F) * np.sin(np.linspace(0, 1.5, F))
    path[:, 1] = -np.linspace(0, 4.0, F)
    rows[f"model, {served} + timed trajectory"] = _median_time(
        lambda s: model.generate_motion(prompt, F, Controls(trajectory=path), SamplingOptions(seed=s)), args.runs)
    tg = JointTargets()
    tg.add("left_wrist", F // 3, (0.4, -1.0, 1.3))
    rows[f"model, {served} + joint target"] = _median_time(
        lambda s: model.generate_motion(prompt, F, Controls(joint_targets=tg), SamplingOptions(seed=s)), args.runs)
    retr = bank.retriever if bank is not None else RetrievalBaseline(load_corpus("train"), enc)
    rows["retrieval baseline"] = _median_time(
        lambda s: retrieved_motion(retr, prompt, F, np.random.default_rng(s)), args.runs)
    base = rows[f"model, {full} steps (full schedule, from noise)"]
    out = {"frames": F, "threads": torch.get_num_threads(), "runs": args.runs,
           "load_average_1min": round(os.getloadavg()[0], 2),
           "median_s": {k: round(v, 4) for k, v in rows.items()},
           "speedup_vs_full_schedule": {k: round(base / v, 2) for k, v in rows.items()}}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{F} frames, {out['threads']} threads, load average {out['load_average_1min']}")
        print(f"{'configuration':42s} {'median s':>9s} {'x vs full':>9s}")
        for k, v in rows.items():
            print(f"{k:42s} {v:9.3f} {base / v:9.1f}")
    return 0
