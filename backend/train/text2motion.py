"""``python -m backend train text2motion``: train the motion diffusion denoiser on the corpus's train split.

Each step draws a batch of augmented, canonicalised 4 s windows (:class:`~.text2motion_data.WindowBank`), one
paraphrase of each window's description (embedded by the frozen sentence encoder, cached), a diffusion step, and a
random observation mask (trajectory / keys / prefix / nothing); the denoiser predicts the clean window and is trained
with :func:`backend.models.diffusion.losses.denoiser_losses`. An exponential moving average of the weights is what
gets saved. Runs on CPU by default and under ``torchrun`` (DDP, gloo on CPU / nccl on GPU) unchanged. The default
arguments reproduce the committed ``weights/text2motion.safetensors`` (same seed, same steps, 2 threads).
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "weights" / "text2motion.safetensors"
DEFAULT_PLOT = REPO / "docs" / "img" / "text2motion_loss.png"


def register(subparsers):
    p = subparsers.add_parser("text2motion", help="train the text-to-motion diffusion model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=16, help="global batch (split across DDP ranks)")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=120, help="training window in frames (30 fps)")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ff", type=int, default=384)
    p.add_argument("--patch", type=int, default=4, help="frames per transformer token")
    p.add_argument("--diffusion-steps", type=int, default=100)
    p.add_argument("--max-t", type=int, default=None,
                   help="train (and select on val) on noise levels 0..MAX_T only: a low-noise expert the sampler "
                        "uses on those steps (eDiff-I's expert denoisers); default: all levels")
    p.add_argument("--frame-head", type=int, default=0,
                   help="channels of the full-frame-rate convolutional head (0: none)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="start from these weights (their architecture and normaliser; --frame-head may add the head, "
                   "which starts at zero): fine-tuning")
    p.add_argument("--cond-dropout", type=float, default=0.1, help="probability of dropping the text (for CFG)")
    p.add_argument("--w-geo", type=float, default=1.0, help="weight of the FK losses (times the three below)")
    p.add_argument("--w-pos", type=float, default=0.1, help="FK joint positions (dm^2)")
    p.add_argument("--w-vel", type=float, default=1.0, help="FK joint velocities (dm^2 per frame^2)")
    p.add_argument("--w-foot", type=float, default=1.0, help="foot velocity on real contact frames (sliding)")
    p.add_argument("--yaw-jitter", type=float, default=15.0, help="random facing jitter in degrees")
    p.add_argument("--geo-samples", type=int, default=16, help="windows per batch that get the FK losses")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the default reproduces the weights)")
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus_v3 when built, "
                   "else data/corpus)")
    p.add_argument("--warps", default="1.0", help="comma-separated time-warp factors of the window bank (each one "
                   "costs a copy of the corpus in memory)")
    p.add_argument("--whole-take-max-seconds", type=float, default=12.0,
                   help="whole-take labels of longer takes are left out (their text describes too little of them)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this many minutes with a checkpoint (resume later with --resume)")
    p.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--val-every", type=int, default=500)
    p.set_defaults(func=run)



def run(args) -> int:
    import numpy as np
    import torch

    from ..data.corpus import load_corpus
    from ..models.diffusion.denoiser import DenoiserConfig, MotionDenoiser, denoiser_state_dict
    from ..models.diffusion.losses import denoiser_losses
    from ..models.diffusion.schedule import CosineSchedule
    from ..models.features import Normalizer
    from ..models.text import ENCODER_NAME, default_encoder
    from .checkpoint import load_checkpoint, save_checkpoint
    from .common import (
        ddp_cleanup,
        ddp_setup,
        plot_losses,
        repo_relative,
        save_weights,
        seed_everything,
        training_command,
    )
    from .text2motion_data import WindowBank, default_training_corpus, random_observation, training_clips

    torch.set_num_threads(max(1, args.threads))
    rank, world, distributed = ddp_setup()
    device = torch.device(f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu")
    seed_everything(args.seed + rank)
    log = (lambda *a: print(*a, flush=True)) if rank == 0 else (lambda *a: None)
    t_start = time.time()

    corpus = load_corpus(path=args.corpus or default_training_corpus())
    train_clips = training_clips(corpus, "train", args.whole_take_max_seconds)
    val_clips = training_clips(corpus, "val", args.whole_take_max_seconds)
    if not train_clips:
        print("the corpus has no train clips", file=sys.stderr)
        return 2
    log(f"corpus v{corpus.version}: {len(train_clips)} train / {len(val_clips)} val text clips; building windows")
    warps = tuple(float(w) for w in str(args.warps).split(","))
    bank = WindowBank(train_clips, warps=warps, log=log)
    val_bank = WindowBank(val_clips, warps=(1.0,), mirror=False) if val_clips else None
    enc = default_encoder()
    text_table = torch.tensor(enc.encode(bank.texts), device=device)
    val_text = torch.tensor(enc.encode(val_bank.texts), device=device) if val_bank else None
    enc.save()
    log(f"{len(bank.texts)} training phrasings embedded with {ENCODER_NAME}")

    init = None
    if args.init_from is not None:
        from ..models.weights import load_weights
        init = load_weights(args.init_from)
    if init is None:  # normaliser from a fixed sample of canonicalised training windows
        nrng = np.random.default_rng(12345)
        feats, real, _, _ = bank.sample(2048, args.window, nrng, np.deg2rad(args.yaw_jitter))
        normalizer = Normalizer.fit([feats[real]])
        cfg = DenoiserConfig(feature_dim=feats.shape[-1], d_model=args.d_model, layers=args.layers,
                             heads=args.heads, ff=args.ff, patch=args.patch, diffusion_steps=args.diffusion_steps,
                             max_frames=max(480, 4 * args.window), frame_head=args.frame_head)
    else:
        normalizer = Normalizer.from_state_dict(init[0])
        cfg = DenoiserConfig.from_dict({**init[1]["config"], "frame_head": args.frame_head})
        if cfg.diffusion_steps != args.diffusion_steps:
            print(f"--init-from weights use {cfg.diffusion_steps} diffusion steps, not {args.diffusion_steps}",
                  file=sys.stderr)
            return 2
    normalizer = Normalizer(normalizer.mean.to(device), normalizer.std.to(device))
    model = MotionDenoiser(cfg).to(device)
    if init is not None:
        missing, unexpected = model.load_state_dict(denoiser_state_dict(init[0]), strict=False)
        if unexpected or any(not k.startswith("frame.") for k in missing):
            print(f"--init-from {args.init_from} does not fit this architecture (missing {missing}, unexpected "
                  f"{unexpected})", file=sys.stderr)
            return 2
        log(f"initialised from {args.init_from} ({init[1].get('steps_done', '?')} steps); new: {missing}")
    ema = MotionDenoiser(cfg).to(device)
    ema.load_state_dict(model.state_dict())
    ema.eval()
    for p_ in ema.parameters():
        p_.requires_grad_(False)
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    log(f"denoiser: {model.num_parameters() / 1e6:.2f} M parameters, {cfg.to_dict()}")
    sched = CosineSchedule(args.diffusion_steps)
    w_terms = (args.w_pos, args.w_vel, args.w_foot)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    lr_at = lambda s: args.lr * min(1.0, (s + 1) / max(1, args.warmup)) * (0.5 * (1 + math.cos(math.pi * s / args.steps)) * 0.9 + 0.1)
    rng = np.random.default_rng([args.seed, rank])
    t_top = args.diffusion_steps - 1 if args.max_t is None else min(int(args.max_t), args.diffusion_steps - 1)
    if t_top < 0:
        print(f"--max-t must be at least 0, got {args.max_t}", file=sys.stderr)
        return 2
    per_rank = max(1, args.batch // world)
    yaw = np.deg2rad(args.yaw_jitter)

    def make_batch(b, r, bk, table):
        x, rl, _, tid = bk.sample(b, args.window, r, yaw)
        m = np.stack([random_observation(rl[i], r, x.shape[-1]) for i in range(b)])
        x = normalizer(torch.tensor(x, device=device))
        return x, torch.tensor(rl, device=device), torch.tensor(m, device=device), table[torch.tensor(tid)]

    val_batch = None
    if val_bank is not None:
        vr = np.random.default_rng(777)
        val_batch = make_batch(128, vr, val_bank, val_text)
        val_t = torch.tensor(np.linspace(0, t_top, 128).round().astype(np.int64), device=device)
        val_noise = torch.tensor(vr.standard_normal(tuple(val_batch[0].shape)), dtype=torch.float32, device=device)

    def evaluate(m):
        x0, rl, mask, txt = val_batch
        xt = sched.q_sample(x0, val_t, val_noise)
        with torch.no_grad():
            pred = m(xt, val_t, txt, x0, mask, rl)
            return {k: float(v) for k, v in denoiser_losses(pred, x0, rl, normalizer, args.w_geo,
                                                             w_terms=w_terms).items()}

    def save(step_done: int, final_val: dict):
        wall = time.time() - t_start + wall_before
        tensors = {f"denoiser.{k}": v for k, v in ema.state_dict().items()}
        tensors.update(normalizer.state_dict())
        meta = {"model": "text2motion-diffusion", "config": cfg.to_dict(),
                "training": {k: (repo_relative(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                             if k not in ("func",) and not k.endswith("_task") and k != "command"},
                "command": training_command(), "corpus_version": corpus.version, "seed": args.seed,
                "train_clips": len(train_clips), "train_phrasings": len(bank.texts), "text_encoder": ENCODER_NAME,
                "init_from": (None if init is None else {"weights": repo_relative(args.init_from),
                              "steps_done": init[1].get("steps_done"), "command": init[1].get("command"),
                              "wall_time_s": init[1].get("wall_time_s")}),
                "parameters": model.num_parameters(), "world_size": world, "device": str(device),
                "wall_time_s": round(wall, 1), "steps_done": step_done, "selected_step": step_done,
                "selection": "EMA weights at the step with the lowest validation loss (val split)",
                "final_val": final_val, "eval": {}}
        out = save_weights(args.out, tensors, meta)
        plot_losses(history, args.plot, title=f"text2motion denoiser ({step_done} steps)")
        (args.plot.with_suffix(".json")).write_text(json.dumps(history) + "\n")
        log(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) and {args.plot}; wall time {wall / 60:.1f} min")
        return wall

    history: dict[str, list] = {"train total": [], "train feat": [], "val total (EMA)": [], "val feat (EMA)": []}
    run_avg: dict[str, float] = {}
    best = {"val": float("inf"), "step": 0}
    wall_before, start_step = 0.0, 0
    modules = {"model": model, "ema": ema}
    if args.resume:
        start_step, st = load_checkpoint(args.out, modules, opt, rng, device)
        history, run_avg, best, wall_before = st["history"], st["run_avg"], st["best"], st["wall"]
        log(f"resumed at step {start_step} (best val {best['val']:.4f} at step {best['step']})")
    use_bf16 = device.type == "cuda"
    def checkpoint(step_done):
        save_checkpoint(args.out, step_done, modules, opt, rng, {"history": history, "run_avg": run_avg,
                                                                  "best": best, "wall": time.time() - t_start
                                                                  + wall_before})

    if val_batch is not None and start_step == 0 and init is not None and rank == 0:  # where the fine-tune starts
        v = evaluate(ema)
        history["val total (EMA)"].append((0, v["total"]))
        history["val feat (EMA)"].append((0, v["feat"]))
        log("  val at step 0 (the --init-from weights) " + "  ".join(f"{k} {x:.4f}" for k, x in v.items()))
    t0 = time.time()
    for step in range(start_step, args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x0, rl, mask, txt = make_batch(per_rank, rng, bank, text_table)
        t = torch.tensor(rng.integers(0, t_top + 1, per_rank), device=device)
        noise = torch.tensor(rng.standard_normal(tuple(x0.shape)), dtype=torch.float32, device=device)
        keep = torch.tensor(rng.random(per_rank) >= args.cond_dropout, device=device)
        xt = sched.q_sample(x0, t, noise)
        model.train()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            pred = net(xt, t, txt, x0, mask, rl, keep)
        losses = denoiser_losses(pred.float(), x0, rl, normalizer, args.w_geo, args.geo_samples, w_terms)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():  # EMA with warm-up, so early checkpoints are not mostly the initialisation
            decay = min(args.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        for k, v in losses.items():
            v = float(v.detach())
            run_avg[k] = 0.9 * run_avg.get(k, v) + 0.1 * v
        if (step + 1) % args.log_every == 0 or step == 0:
            history["train total"].append((step + 1, run_avg["total"]))
            history["train feat"].append((step + 1, run_avg["feat"]))
            el = time.time() - t0
            per = el / (step + 1 - start_step)
            log(f"step {step + 1}/{args.steps}  " + "  ".join(f"{k} {v:.4f}" for k, v in run_avg.items())
                + f"  lr {lr_at(step):.2e}  {per:.2f}s/step  eta {per * (args.steps - step - 1) / 60:.1f} min")
        if val_batch is not None and ((step + 1) % args.val_every == 0 or step + 1 == args.steps) and rank == 0:
            v = evaluate(ema)
            history["val total (EMA)"].append((step + 1, v["total"]))
            history["val feat (EMA)"].append((step + 1, v["feat"]))
            log("  val (EMA) " + "  ".join(f"{k} {x:.4f}" for k, x in v.items()))
            if v["total"] < best["val"]:  # val-based selection: the weights on disk are the best so far
                best = {"val": v["total"], "step": step + 1}
                save(step + 1, v)
        if rank == 0 and ((step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps):
            checkpoint(step + 1)
        if args.max_minutes is not None and time.time() - t0 > 60 * args.max_minutes and step + 1 < args.steps:
            if rank == 0:
                checkpoint(step + 1)
                log(f"stopped after {args.max_minutes:g} min at step {step + 1}: continue with --resume")
            break

    if rank == 0 and val_batch is None:
        save(args.steps, {})
    if rank == 0 and best["step"]:  # the curve of the whole run (the weights on disk stay the val-selected ones)
        plot_losses(history, args.plot,
                    title=f"text2motion denoiser ({step + 1} steps; selected on val: step {best['step']})")
        args.plot.with_suffix(".json").write_text(json.dumps(history) + "\n")
    if rank == 0 and args.out.with_suffix(".json").exists():
        side = json.loads(args.out.with_suffix(".json").read_text())
        side["steps_trained"] = step + 1
        side["wall_time_total_s"] = round(time.time() - t_start + wall_before, 1)
        args.out.with_suffix(".json").write_text(json.dumps(side, indent=1) + "\n")
    ddp_cleanup(distributed)
    return 0
