"""``python -m backend eval t2m_fidelity``: how much of its input the text-to-motion denoiser hands back.

At a low noise level the noisy window is nearly the clean one, so a denoiser that predicts x0 should return it
almost exactly; retrieval-augmented sampling (a few steps from a noised exemplar) keeps only what the network can
hand back. For each weights file, ``--windows`` val windows (seeded, canonicalised as in training, no observations)
are noised to each level of ``--levels`` and the x0 estimate is scored against the clean window: mean squared error
in normalised feature units over real frames, beside the error of the noisy input itself rescaled by its noise
level (``x_t / sqrt(abar)``), the bar a perfect copy would meet. And the distance the root travels in the x0
estimate (first to last real frame, on the ground) over the clean window's own, by how far the window goes (stop
26 found the network caps the root's reach: a 10 m run came back as 5 m). One JSON line per weights file.
"""
from __future__ import annotations

import json
from pathlib import Path


def register(subparsers):
    p = subparsers.add_parser("t2m_fidelity", help="x0 error of the text-to-motion denoiser at low noise levels",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, nargs="+",
                   default=[Path("weights/text2motion_v3_base.safetensors"), Path("weights/text2motion.safetensors")])
    p.add_argument("--corpus", default=None, help="corpus folder (default: corpus v3 when built)")
    p.add_argument("--split", default="val")
    p.add_argument("--windows", type=int, default=64)
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--clips", type=int, default=120, help="the split's first N text clips the windows come from")
    p.add_argument("--levels", type=int, nargs="+", default=[0, 10, 30])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=run)


def x0_errors(model, feats, real, texts, levels, seed: int = 0) -> list[dict]:
    """Normalised x0 MSE of ``model``'s denoiser on clean windows ``feats`` (B, T, D) with real-frame mask ``real``
    (B, T) and sentences ``texts`` at each noise level; beside it the rescaled noisy input's own MSE."""
    import torch

    x0 = model.normalizer(torch.as_tensor(feats))
    fm = torch.as_tensor(real)
    w = fm[..., None].float()
    emb = torch.as_tensor(model.encoder.encode(list(texts)))
    zeros = torch.zeros_like(x0)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for level in levels:
        t = torch.full((x0.shape[0],), int(level))
        xt = model.schedule.q_sample(x0, t, torch.randn(x0.shape, generator=gen))
        with torch.no_grad():
            pred = model.denoiser(xt, t, emb, zeros, zeros, fm)
        scaled = xt / model.schedule.abar(t)[:, None, None].sqrt()
        norm = w.sum() * x0.shape[-1]
        out.append({"level": int(level), "x0_mse": round(float((((pred - x0) ** 2) * w).sum() / norm), 4),
                    "input_mse": round(float((((scaled - x0) ** 2) * w).sum() / norm), 4),
                    **distance_kept(model.normalizer.inverse(pred).numpy(), feats, real)})
    return out


def distance_kept(pred, feats, real, bins=(0.5, 2.0, 4.0, 6.0)) -> dict:
    """Ground distance from the first to the last real frame of the root in ``pred`` over ``feats``' own (both
    (B, T, D) un-normalised features, root x, y first; ``real`` (B, T)), binned by the window's own distance in
    metres (``bins``: lower edges; windows below the first do not move and are not counted): per bin the median
    ratio and the count."""
    import numpy as np

    last = np.asarray(real).sum(1) - 1
    rows = np.arange(len(last))
    span = lambda f: np.linalg.norm(f[rows, last, :2] - f[:, 0, :2], axis=-1)
    own, got = span(np.asarray(feats)), span(np.asarray(pred))
    out = {}
    for lo, hi in zip(bins, (*bins[1:], np.inf)):
        sel = (own >= lo) & (own < hi)
        name = f"{lo:g}-{hi:g} m" if np.isfinite(hi) else f"over {lo:g} m"
        out[name] = {"windows": int(sel.sum()),
                     "median_kept": round(float(np.median(got[sel] / own[sel])), 3) if sel.any() else None}
    return {"distance_kept": out}


def run(args) -> int:
    import numpy as np
    import torch

    from ..data.corpus import load_corpus
    from ..models.diffusion.model import Text2MotionModel
    from ..models.text import default_encoder
    from ..train.text2motion_data import WindowBank, default_training_corpus, training_clips

    torch.set_num_threads(max(1, args.threads))
    clips = training_clips(load_corpus(path=args.corpus or default_training_corpus()), args.split)[:args.clips]
    if not clips:
        raise SystemExit(f"no text clips in the {args.split!r} split")
    bank = WindowBank(clips, warps=(1.0,), mirror=False)
    feats, real, _, text_ids = bank.sample(args.windows, args.frames, np.random.default_rng(args.seed))
    texts = [bank.texts[i] for i in text_ids]
    enc = default_encoder()
    for path in args.weights:
        model = Text2MotionModel.load(path, encoder=enc)
        print(json.dumps({"weights": str(path), "frame_head": model.denoiser.cfg.frame_head,
                          "split": args.split, "windows": args.windows, "frames": args.frames,
                          "levels": x0_errors(model, feats, real, texts, args.levels, args.seed)}), flush=True)
    return 0
