"""``python -m backend train evaluator``: the TMR-style text-motion evaluator, on the train split only.

Batches of augmented, canonicalised windows of random length (1 to 4 s) paired with one paraphrase of their
description; symmetric InfoNCE between the motion encoder and the text head, with near-duplicate texts (sentence
cosine above ``--dup-threshold``, or the same clip) masked out as negatives. Validation: R-precision top-3 (batches
of 32) on windows of the val split. The default arguments reproduce ``weights/evaluator.safetensors``.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def register(subparsers):
    p = subparsers.add_parser("evaluator", help="train the text-motion evaluator (contrastive, TMR-style)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=120)
    p.add_argument("--min-frames", type=int, default=30)
    p.add_argument("--dup-threshold", type=float, default=0.8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus_v3 when built)")
    p.add_argument("--warps", default="1.0", help="comma-separated time-warp factors of the window bank")
    p.add_argument("--whole-take-max-seconds", type=float, default=12.0)
    p.add_argument("--out", type=Path, default=REPO / "weights" / "evaluator.safetensors")
    p.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "evaluator_loss.png")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--val-every", type=int, default=250)
    p.set_defaults(func=run)



def run(args) -> int:
    import numpy as np
    import torch

    from ..data.corpus import load_corpus
    from ..models.diffusion.losses import positions
    from ..models.evaluator.encoders import Evaluator, EvaluatorConfig, contrastive_loss, motion_inputs_from_positions
    from ..models.evaluator.metrics import r_precision
    from ..models.text import ENCODER_NAME, default_encoder
    from .common import (
        ddp_cleanup,
        ddp_setup,
        plot_losses,
        repo_relative,
        save_weights,
        seed_everything,
        training_command,
    )
    from .text2motion_data import WindowBank, default_training_corpus, training_clips

    torch.set_num_threads(max(1, args.threads))
    rank, world, distributed = ddp_setup()
    seed_everything(args.seed + rank)
    log = (lambda *a: print(*a, flush=True)) if rank == 0 else (lambda *a: None)
    t_start = time.time()
    corpus = load_corpus(path=args.corpus or default_training_corpus())
    train = training_clips(corpus, "train", args.whole_take_max_seconds)
    val = training_clips(corpus, "val", args.whole_take_max_seconds)
    if not train:
        print("the corpus has no train clips", file=sys.stderr)
        return 2
    bank = WindowBank(train, warps=tuple(float(w) for w in str(args.warps).split(",")), log=log)
    enc = default_encoder()
    text_emb = enc.encode(bank.texts)
    enc.save()
    text_t = torch.tensor(text_emb)
    rng = np.random.default_rng([args.seed, rank])

    def batch_inputs(b, r, bk, crop=True):
        x, real, clip, tid = bk.sample(b, args.window, r)
        if crop:  # random lengths: 1..4 s
            for i in range(b):
                n = int(r.integers(args.min_frames, args.window + 1))
                real[i, n:] = False
        with torch.no_grad():
            pos = positions(torch.tensor(x))
        xin, m = motion_inputs_from_positions(pos, torch.tensor(real))
        return xin, m, torch.tensor(clip), torch.tensor(tid)

    # input standardisation from a fixed sample
    x0, m0, _, _ = batch_inputs(512, np.random.default_rng(1), bank)
    flat = x0[m0]
    model = Evaluator(EvaluatorConfig())
    model.in_mean.copy_(flat.mean(0))
    model.in_std.copy_(flat.std(0).clamp(min=1e-2))
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    val_set = None
    if val:
        vbank = WindowBank(val, warps=(1.0,), mirror=False)
        vr = np.random.default_rng(5)
        # every val clip: a few windows, its first description
        ids = np.repeat(np.arange(len(val)), 6)
        vx, vreal, _, _ = vbank.sample(len(ids), args.window, vr, clip_ids=ids)
        with torch.no_grad():
            vin, vm = motion_inputs_from_positions(positions(torch.tensor(vx)), torch.tensor(vreal))
        vtexts = [val[i].texts[0] for i in ids]
        vtemb = enc.encode(vtexts)
        enc.save()
        val_set = (vin, vm, vtexts, vtemb)

    def validate() -> float:
        vin, vm, vtexts, vtemb = val_set
        model.eval()
        with torch.no_grad():
            zm = model.encode_motion_inputs(vin, vm).numpy()
            zt = model.text(torch.tensor(vtemb)).numpy()
        return r_precision(zm, zt, vtexts, np.random.default_rng(0), batch=32, top=3, repeats=5)

    history = {"train InfoNCE": [], "val R@3 (1 - value)": []}
    avg = None
    per_rank = max(2, args.batch // world)
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        xin, m, clip, tid = batch_inputs(per_rank, rng, bank)
        emb = text_t[tid]  # near-duplicate texts are not negatives (per batch: a corpus-wide matrix is 30k x 30k)
        same = (emb @ emb.T > args.dup_threshold) | (clip[:, None] == clip[None, :])
        model.train()
        zm = net.module.encode_motion_inputs(xin, m) if distributed else model.encode_motion_inputs(xin, m)
        zt = model.text(text_t[tid])
        loss = contrastive_loss(zm, zt, model.log_temp.exp().clamp(min=0.01), same)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = float(loss.detach())
        avg = lv if avg is None else 0.95 * avg + 0.05 * lv
        if (step + 1) % args.log_every == 0:
            history["train InfoNCE"].append((step + 1, avg))
            log(f"step {step + 1}/{args.steps}  loss {avg:.4f}  temp {float(model.log_temp.exp()):.3f}")
        if val_set is not None and rank == 0 and ((step + 1) % args.val_every == 0 or step + 1 == args.steps):
            rp = validate()
            history["val R@3 (1 - value)"].append((step + 1, max(1e-3, 1 - rp)))
            log(f"  val R-precision top-3 (32): {rp:.3f}")
    wall = time.time() - t_start
    if rank == 0:
        val_rp = validate() if val_set is not None else None
        meta = {"model": "text-motion-evaluator", "config": model.cfg.to_dict(), "command": training_command(),
                "training": {k: (repo_relative(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                             if k != "func" and not k.endswith("_task")},
                "corpus_version": corpus.version, "seed": args.seed, "splits_used": ["train"],
                "text_encoder": ENCODER_NAME, "wall_time_s": round(wall, 1),
                "eval": {"val_r_precision_top3": val_rp}}
        save_weights(args.out, model.state_dict(), meta)
        plot_losses(history, args.plot, title="text-motion evaluator")
        log(f"saved {args.out}; val R-precision top-3 {val_rp}; wall time {wall / 60:.1f} min")
    ddp_cleanup(distributed)
    return 0
