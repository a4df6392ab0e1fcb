"""``python -m backend eval t2m_sheet``: a contact sheet of prompts an artist would type, model beside retrieval.

For each prompt, 4 s (120 frames at 30 fps) from the text-to-motion model (retrieval-augmented sampling at the
model's strength, or ``--exemplar-strength``) and from the retrieval baseline (the nearest training clip by text,
the same retrieval the model draws its exemplar from). Stick-figure strips go to ``--out`` (five prompts per PNG,
two rows each), and one JSON line per prompt gives what a person checks by eye, in numbers: root travel, lowest
head height, highest wrist, and how far the model's motion is from its exemplar (mean joint distance, cm), so a
result that merely replays the exemplar shows up as ~0 cm.
"""
from __future__ import annotations

import json
from pathlib import Path

PROMPTS = [
    "a person walks forward", "a person runs forward", "a person walks backwards", "a person sits down",
    "a person waves with the left hand", "a person jumps twice", "a person turns around", "a person kicks",
    "a person throws a ball", "a person crawls on the floor", "a person does a cartwheel", "a person does a backflip",
    "a person dances", "a person picks something up from the floor", "a person punches like a boxer",
    "a person hops on one leg", "a person lies down on the floor", "a person stretches their arms",
    "a person walks in a circle", "a person climbs a ladder",
]


def register(subparsers):
    p = subparsers.add_parser("t2m_sheet", help="contact sheet of artist prompts: model beside retrieval",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, default=None, help="text-to-motion weights (default: the served model)")
    p.add_argument("--exemplar-strength", type=float, default=None)
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompts", nargs="*", default=None, help="prompts (default: the 20 of docs/text2motion.md)")
    p.add_argument("--out", type=Path, default=Path("docs/img/t2m_sheet"))
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=run)


def describe(m, exemplar=None) -> dict:
    """What a person looks for in a strip, in numbers (metres / cm)."""
    import numpy as np

    from ..motion.skeleton import CANONICAL
    pos = m.positions()
    head = pos[:, CANONICAL.index("head"), 2]
    wrists = pos[:, [CANONICAL.index("left_wrist"), CANONICAL.index("right_wrist")], 2]
    out = {"travel_m": round(float(np.linalg.norm(m.root_pos[-1, :2] - m.root_pos[0, :2])), 2),
           "path_m": round(float(np.linalg.norm(np.diff(m.root_pos[:, :2], axis=0), axis=1).sum()), 2),
           "head_min_m": round(float(head.min()), 2), "wrist_max_m": round(float(wrists.max()), 2),
           "pelvis_min_m": round(float(m.root_pos[:, 2].min()), 2)}
    if exemplar is not None:
        out["from_exemplar_cm"] = round(float(np.linalg.norm(pos - exemplar.positions(), axis=-1).mean() * 100), 1)
    return out


def run(args) -> int:
    import numpy as np
    import torch

    from ..data.corpus import load_corpus
    from ..data.preview import draw_strip
    from ..models.diffusion.model import Text2MotionModel
    from ..models.diffusion.sampler import SamplingOptions
    from ..models.features import features_to_motion
    from ..models.text import default_encoder
    from ..paths import weights_file
    from ..pipelines.text2motion import training_exemplars
    from ..train.text2motion_data import default_training_corpus
    from .text2motion import retrieved_motion

    torch.set_num_threads(max(1, args.threads))
    enc = default_encoder()
    bank = training_exemplars(enc, load_corpus(path=default_training_corpus()))
    retr = bank.retriever  # the retrieval rows and the model's exemplars: one training-split retrieval
    model = Text2MotionModel.load(args.weights or weights_file("text2motion"), encoder=enc, exemplars=bank)
    strength = model.exemplar_strength if args.exemplar_strength is None else args.exemplar_strength
    prompts = args.prompts or PROMPTS
    args.out.mkdir(parents=True, exist_ok=True)
    rows, titles, lines = [], [], []
    for i, prompt in enumerate(prompts):
        opts = SamplingOptions(seed=args.seed, exemplar_strength=strength)
        g, info = model.generate_motion(prompt, args.frames, options=opts)
        ex = bank.exemplar(prompt, args.frames, seed=args.seed) if strength < 1.0 else None
        r = retrieved_motion(retr, prompt, args.frames, np.random.default_rng([args.seed, i]))
        match = retr.rank(prompt)[0]
        line = {"prompt": prompt, "model": describe(g, None if ex is None else features_to_motion(ex.features)),
                "retrieval": describe(r), "exemplar_text": info.get("exemplar_text"),
                "retrieval_text": match.text, "retrieval_similarity": round(match.score, 3)}
        lines.append(line)
        print(json.dumps(line), flush=True)
        rows += [g, r]
        titles += [f"{i + 1}. \"{prompt}\": model (strength {strength:g})",
                   f"{i + 1}. retrieval: nearest training text \"{match.text[:60]}\""]
    per = 5
    for s in range(0, len(prompts), per):
        draw_strip(rows[2 * s:2 * (s + per)], args.out / f"sheet_{s // per + 1}.png", frames=8,
                   titles=titles[2 * s:2 * (s + per)])
    (args.out / "sheet.json").write_text(json.dumps({"exemplar_strength": strength, "frames": args.frames,
                                                     "seed": args.seed, "prompts": lines}, indent=1) + "\n")
    return 0
