"""``python -m backend train inbetween``: train the in-betweening transformer on the canonical corpus.

Windows of ``--window`` frames are cut from augmented copies of every training clip (mirrored or not, time-warped
by 0.8-1.25, random facing) and given a random key layout (:mod:`backend.models.inbetween.layouts`). The loss is
taken on unkeyed channels only: L1 on normalised features, L1 on forward-kinematics joint positions (metres) and
on their frame-to-frame velocities. Runs on CPU as is and on several GPUs under ``torchrun`` (DDP; each rank
draws its own windows). The default command reproduces the committed ``weights/inbetween.safetensors``.

Data: the committed corpus by default, or ``--data PATH``: a folder of BVH files (e.g. LaFAN1, CMU) or AMASS-style
``.npz`` files (see :mod:`backend.data.user_corpus`).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

DEFAULT_OUT = "weights/inbetween.safetensors"


def register(subparsers):
    p = subparsers.add_parser("inbetween", help="train the in-betweening model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="a folder of BVH or AMASS .npz files (default: the corpus)")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training frames (one epoch = train frames / (batch * window/2) steps)")
    p.add_argument("--steps", type=int, default=2400, help="optimiser steps (ignored when --epochs is given)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--head-lr-mult", type=float, default=5.0)
    p.add_argument("--clip", type=float, default=5.0, help="gradient norm clip")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--no-residual", action="store_true", help="predict poses directly (ablation)")
    p.add_argument("--fraction", type=float, default=1.0, help="use this fraction of the training clips")
    p.add_argument("--fk-weight", type=float, default=4.0)
    p.add_argument("--vel-weight", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--val-every", type=int, default=400, help="validation benchmark every N steps (0: never)")
    p.add_argument("--val-clips", type=int, default=40, help="validate on this many val clips (longest first)")
    p.add_argument("--speeds", default="1.0", help="comma-separated time-warp factors of the window pool (each "
                   "costs a copy of the training data in memory; corpus v2 used 0.8,0.8944,1.0,1.118,1.25)")
    p.add_argument("--corpus", default=None, help="corpus folder (default: data/corpus_v3 when built)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this many minutes with a checkpoint (resume later with --resume)")
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--plot", default="docs/img/inbetween_loss.png")
    p.add_argument("--no-eval", action="store_true", help="skip the final test-split benchmark in the sidecar")
    p.set_defaults(func=main)


# --------------------------------------------------------------------------------------------------- data
class WindowPool:
    """Augmented copies of the training clips as feature arrays; windows are slices of them.

    Every clip is stored mirrored and not, at five time-warp factors (0.8 to 1.25, log-spaced), so drawing a
    window costs a slice instead of a resample. Random facing is applied per window in the batch."""
    SPEEDS = (0.8, 0.8944, 1.0, 1.118, 1.25)

    def __init__(self, motions, window: int, speeds: tuple[float, ...] | None = None):
        import numpy as np

        from backend.models.features import motion_to_features
        self.SPEEDS = tuple(speeds) if speeds else self.SPEEDS
        self.window = window
        self.feats = []
        for m in motions:
            for mirror in (False, True):
                mm = m.mirrored() if mirror else m
                for s in self.SPEEDS:
                    v = mm if s == 1.0 else mm.copy(fps=mm.fps / s).resample(mm.fps)
                    if v.num_frames >= 2:
                        self.feats.append(motion_to_features(v))
        n = np.array([max(1, len(f) - window + 1) for f in self.feats], np.float64)
        self.weights = n / n.sum()
        self.frames = sum(m.num_frames for m in motions)

    def sample(self, rng, batch: int):
        import numpy as np
        T = self.window
        out = np.empty((batch, T, self.feats[0].shape[1]), np.float32)
        real = np.zeros(batch, np.int64)
        for b, i in enumerate(rng.choice(len(self.feats), size=batch, p=self.weights)):
            f = self.feats[i]
            s = int(rng.integers(0, max(1, len(f) - T + 1)))
            w = f[s:s + T]
            out[b, :len(w)] = w
            out[b, len(w):] = w[-1]
            real[b] = len(w)
        return out, real


def make_batch(pool: WindowPool, rng, batch: int):
    import numpy as np
    import torch

    from backend.models.inbetween.frames import rotate_translate
    from backend.models.inbetween.layouts import sample_layout
    feats, real = pool.sample(rng, batch)
    T = pool.window
    jm = np.zeros((batch, T, 22), bool)
    rm = np.zeros((batch, T), bool)
    valid = np.zeros((batch, T), bool)
    for b in range(batch):
        jm[b], rm[b], valid[b] = sample_layout(rng, T, int(real[b]))
    x = torch.from_numpy(feats)
    yaw = torch.from_numpy(rng.uniform(-math.pi, math.pi, batch)).float()
    x = rotate_translate(x, yaw, torch.zeros(batch, 3), inverse=True)  # random facing
    return x, torch.from_numpy(jm), torch.from_numpy(rm), torch.from_numpy(valid)


def fit_normalizer(pool: WindowPool, seed: int, n: int = 2048):
    """Feature statistics of canonical-frame windows under the training layouts."""
    import numpy as np

    from backend.models.features import Normalizer
    from backend.models.inbetween.model import prepare
    rng = np.random.default_rng(seed + 12345)
    chunks = []
    for _ in range(max(1, n // 256)):
        x, jm, rm, valid = make_batch(pool, rng, 256)
        p = prepare(x, jm, rm)
        chunks.append(p.feats[valid].numpy())
    return Normalizer.fit(chunks)


def losses(model, net, x, jm, rm, valid, fk_weight: float, vel_weight: float):
    import torch

    from backend.models.inbetween.frames import fk_positions
    from backend.models.inbetween.model import prepare
    from backend.motion.skeleton import CANONICAL
    p = prepare(x, jm, rm)
    pred = model.predict_prepared(p, pad=~valid, net=net)
    gt = p.feats
    free = (~p.chan_keyed) & valid.unsqueeze(-1)
    # raw feature units (metres, 6D): normalised units would weight near-constant channels up to 100x
    rec = ((pred - gt).abs() * free).sum() / free.sum().clamp(min=1)
    B, T = x.shape[:2]
    offsets = torch.as_tensor(CANONICAL.offsets, dtype=x.dtype)
    pp = fk_positions(pred[..., 3:].reshape(B, T, 22, 6), pred[..., :3], offsets, CANONICAL.parents)
    with torch.no_grad():
        gp = fk_positions(gt[..., 3:].reshape(B, T, 22, 6), gt[..., :3], offsets, CANONICAL.parents)
    frame_free = free.any(-1)
    fk = ((pp - gp).abs().mean((-1, -2)) * frame_free).sum() / frame_free.sum().clamp(min=1)
    pair = (valid[:, 1:] & valid[:, :-1] & (frame_free[:, 1:] | frame_free[:, :-1])).float()
    vel = (((pp[:, 1:] - pp[:, :-1]) - (gp[:, 1:] - gp[:, :-1])).abs().mean((-1, -2)) * pair).sum() / \
        pair.sum().clamp(min=1)
    total = rec + fk_weight * fk + vel_weight * vel * 10
    return total, {"rec": float(rec.detach()), "fk_m": float(fk.detach()), "vel_m": float(vel.detach())}


# --------------------------------------------------------------------------------------------------- main
def main(args) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from backend.models.inbetween import evaluate as E
    from backend.models.inbetween.model import build
    from backend.models.inbetween.network import NetConfig
    from backend.train.common import (
        REPO,
        ddp_cleanup,
        ddp_setup,
        plot_losses,
        save_weights,
        seed_everything,
        training_command,
    )

    t_start = time.time()
    rank, world, distributed = ddp_setup()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed + rank)
    device = torch.device(f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu")

    train_m, val_m, test_m, data_version, data_desc = load_data(args.data, args.fraction, args.seed, args.corpus)
    val_m = sorted(val_m, key=lambda m: -m.num_frames)[:args.val_clips]
    pool = WindowPool(train_m, args.window, tuple(float(v) for v in str(args.speeds).split(",")))
    steps_per_epoch = max(1, math.ceil(pool.frames / (args.batch * args.window / 2)))
    steps = args.epochs * steps_per_epoch if args.epochs else args.steps
    if rank == 0:
        print(f"data: {data_desc}; {len(train_m)} train clips ({pool.frames} frames), {len(val_m)} val; "
              f"{len(pool.feats)} augmented copies; {steps} steps of {args.batch} x {args.window} frames"
              f"{f' on {world} ranks' if distributed else ''}", flush=True)

    cfg = NetConfig(d_model=args.d_model, layers=args.layers, heads=args.heads, dropout=args.dropout)
    normalizer = fit_normalizer(pool, args.seed)
    model = build(cfg, normalizer, use_residual=not args.no_residual)
    torch.manual_seed(args.seed)  # same initial weights on every rank
    model.net = type(model.net)(cfg)
    net = model.net.to(device)
    model.normalizer = type(normalizer)(normalizer.mean.to(device), normalizer.std.to(device))
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    # the zero-initialised residual head learns 5x faster, so the model leaves the SLERP start sooner
    head = [p for n, p in net.named_parameters() if "head." in n]
    rest = [p for n, p in net.named_parameters() if "head." not in n]
    opt = torch.optim.AdamW([{"params": rest}, {"params": head, "lr": args.lr * args.head_lr_mult}], lr=args.lr,
                            weight_decay=1e-4)
    warm = min(300, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, warm)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))

    from backend.train.checkpoint import load_checkpoint, save_checkpoint

    stats = E.position_stats(train_m)
    rng = np.random.default_rng(args.seed * 1000 + rank)
    history: dict[str, list] = {"train": [], "val L2P@30 (x0.1)": []}
    val_log = []
    run = 0.0
    best = {"l2p30": float("inf"), "step": 0}
    out = Path(args.out)
    out = out if out.is_absolute() else REPO / out
    start, wall_before = 0, 0.0
    if args.resume:
        start, st = load_checkpoint(out, {"net": model.net}, opt, rng, device)
        sched.last_epoch = start - 1
        sched.step()
        history, val_log, run, best, wall_before = st["history"], st["val_log"], st["run"], st["best"], st["wall"]
        print(f"resumed at step {start}", flush=True)
    best_state = None
    t_loop = time.time()
    bar = tqdm(range(start, steps), disable=rank != 0, desc="train inbetween", dynamic_ncols=True, mininterval=5)
    stopped = False
    for step in bar:
        net.train()
        x, jm, rm, valid = (t.to(device) for t in make_batch(pool, rng, args.batch))
        loss, parts = losses(model, net, x, jm, rm, valid, args.fk_weight, args.vel_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip)
        opt.step()
        sched.step()
        lv = loss.item()
        run = lv if step == 0 else 0.98 * run + 0.02 * lv
        if step % 20 == 0:
            history["train"].append((step, run))
            bar.set_postfix(loss=f"{run:.4f}", fk_cm=f"{100 * parts['fk_m']:.2f}")
        if rank == 0 and val_m and args.val_every > 0 and ((step + 1) % args.val_every == 0 or step + 1 == steps):
            net.eval()
            model.net = net.module if distributed else net
            r = E.evaluate(model, val_m, stats, lengths=(5, 30), foot_length=-1)
            val_log.append({"step": step + 1, "l2p": r["model"]["l2p"], "slerp_l2p": r["slerp"]["l2p"]})
            history["val L2P@30 (x0.1)"].append((step + 1, 0.1 * r["model"]["l2p"]["30"]))
            tqdm.write(f"step {step + 1}: val L2P@5 {r['model']['l2p']['5']:.3f} (slerp {r['slerp']['l2p']['5']:.3f})"
                       f"  L2P@30 {r['model']['l2p']['30']:.3f} (slerp {r['slerp']['l2p']['30']:.3f})")
            if r["model"]["l2p"]["30"] < best["l2p30"]:  # val-based selection
                best = {"l2p30": r["model"]["l2p"]["30"], "step": step + 1}
                best_state = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
        done = step + 1
        over = args.max_minutes is not None and time.time() - t_loop > 60 * args.max_minutes and done < steps
        if rank == 0 and (done % args.checkpoint_every == 0 or done == steps or over):
            save_checkpoint(out, done, {"net": model.net}, opt, rng, {
                "history": history, "val_log": val_log, "run": run, "best": best,
                "wall": time.time() - t_start + wall_before})
            if best_state is not None:  # the best-by-val weights travel with the checkpoint
                from safetensors.torch import save_file
                save_file({k: v.contiguous().cpu() for k, v in best_state.items()},
                          str(out.with_name(out.stem + ".best.safetensors")))
        if over:
            print(f"stopped after {args.max_minutes:g} min at step {done}: continue with --resume", flush=True)
            stopped = True
            break
    if stopped:
        ddp_cleanup(distributed)
        return 0
    best_file = out.with_name(out.stem + ".best.safetensors")
    if best_state is None and best_file.exists() and best["step"]:
        from safetensors.torch import load_file
        best_state = load_file(str(best_file))
    if best_state is not None:
        (net.module if distributed else net).load_state_dict(best_state)
    model.net = (net.module if distributed else net).cpu().eval()
    model.normalizer = type(normalizer)(model.normalizer.mean.cpu(), model.normalizer.std.cpu())
    wall = time.time() - t_start + wall_before
    if rank == 0:
        meta = {"model": "inbetween", "name": model.name, "selected_step": best["step"] or steps,
                "selection": "network weights at the validation step with the lowest L2P@30 (val split)",
                "config": {"net": cfg.to_dict(), "use_residual": not args.no_residual, "window": args.window,
                           "batch": args.batch, "steps": steps, "lr": args.lr, "fk_weight": args.fk_weight,
                           "vel_weight": args.vel_weight, "head_lr_mult": args.head_lr_mult, "clip": args.clip, "fraction": args.fraction, "threads": args.threads,
                           "world_size": world},
                "command": training_command(), "data": data_desc, "data_version": data_version,
                "seed": args.seed, "train_wall_s": round(wall, 1), "train_clips": len(train_m),
                "train_frames": pool.frames, "val": val_log,
                "parameters": sum(p.numel() for p in model.net.parameters())}
        if not args.no_eval and test_m:
            r = E.evaluate(model, test_m, stats)
            meta["eval"] = {"split": "test", **{f"l2p@{k}": round(v, 4) for k, v in r["model"]["l2p"].items()},
                            **{f"slerp_l2p@{k}": round(v, 4) for k, v in r["slerp"]["l2p"].items()},
                            "foot_skate": r["foot_skate"].get("model"),
                            "foot_skate_ground_truth": r["foot_skate"].get("ground_truth")}
        save_weights(out, {k: v.half() if v.is_floating_point() and k.startswith("net.") else v
                           for k, v in model.state_dict().items()}, meta)
        if args.plot:
            plot = Path(args.plot)
            plot_losses(history, plot if plot.is_absolute() else REPO / plot, title=f"in-betweening ({out.name})")
        print(json.dumps({"weights": str(out), "wall_s": round(wall, 1), **meta.get("eval", {})}, indent=1))
    if distributed:
        import torch.distributed as dist
        dist.barrier()  # other ranks wait while rank 0 evaluates and saves
    ddp_cleanup(distributed)
    return 0


def load_data(data: str | None, fraction: float, seed: int, corpus: str | None = None):
    """(train, val, test motions, data version, description). A user folder is split by file: 10% val, no test."""
    import numpy as np
    if data is None:
        from backend.data.corpus import load_corpus
        from backend.train.text2motion_data import default_training_corpus
        c = load_corpus(path=corpus or default_training_corpus())
        split = {s: [cl.motion for cl in c.clips if cl.split == s] for s in ("train", "val", "test")}
        version, desc = f"corpus v{c.version}", f"corpus v{c.version} ({c.path.name})"
    else:
        from backend.data.user_corpus import load_folder
        clips = load_folder(Path(data))
        split = {s: [cl.motion for cl in clips if cl.split == s] for s in ("train", "val", "test")}
        version, desc = f"folder {Path(data).name}: {len(clips)} clips", f"user folder {data}"
    train = split["train"]
    if fraction < 1.0:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.permutation(len(train))[:max(1, round(fraction * len(train)))])
        train = [train[i] for i in keep]
        desc += f", {fraction:.0%} of the training clips"
    return train, split["val"], split["test"], version, desc
