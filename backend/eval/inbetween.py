"""``python -m backend eval inbetween``: the LaFAN1 in-betweening benchmark on the held-out split.

Runs the model and both classical baselines (SLERP + linear root, zero velocity) in the same run, on windows of
10 context frames + n transition frames + 1 target frame (n = 5, 15, 30, 45), every ``--stride`` frames of every
test clip. Reports L2P, L2Q, NPSS (see :mod:`backend.models.inbetween.protocol`), the largest key error of the full
fill path, foot skating (GMD/CondMDI ratio) of the 30-frame transitions beside the ground truth's, and the median
CPU latency of a 30-frame transition beside SLERP. ``--lafan1 PATH`` runs the standard LaFAN1 table instead
(subjects 1-4 for statistics, subject 5 for test, native skeleton; see :mod:`backend.eval.lafan1`).
"""
from __future__ import annotations

import json
import sys


def register(subparsers):
    p = subparsers.add_parser("inbetween", help="LaFAN1-protocol benchmark of the in-betweening model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--weights", default=None, help="safetensors weights (default: weights/inbetween.safetensors)")
    p.add_argument("--lafan1", default=None, help="a folder of LaFAN1 BVH files: run the standard LaFAN1 table")
    p.add_argument("--stride", type=int, default=None, help="frames between windows (default 20; LaFAN1: 40)")
    p.add_argument("--repeats", type=int, default=50, help="latency repeats")
    p.add_argument("--baselines-only", action="store_true", help="no model: the two baselines only")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", default=None, help="also write the JSON result to this file")
    p.set_defaults(func=main)


def load_model(path):
    from backend.models.inbetween.model import DEFAULT_WEIGHTS, Inbetweener
    return Inbetweener.load(path or DEFAULT_WEIGHTS)


def key_error_max(model, root, rot, n_past: int = 10, limit: int = 64) -> float:
    """Largest difference between the keys given and the keys returned by ``model.fill`` (quaternion components,
    sign-aligned, and root metres) over benchmark windows."""
    import numpy as np

    from backend.models.inbetween.keys import CanonicalKeys
    worst = 0.0
    for w in range(min(limit, len(root))):
        T = root.shape[1]
        frames = np.array(list(range(n_past)) + [T - 1])
        keys = CanonicalKeys(frames, rot[w, frames], root[w, frames], np.ones((len(frames), 22), bool),
                             np.ones(len(frames), bool))
        m = model.fill(keys, np.arange(T), 30.0)
        q = m.rotations[frames]
        dq = np.minimum(np.abs(q - keys.rotations).max(-1), np.abs(q + keys.rotations).max(-1)).max()
        dr = np.abs(m.root_pos[frames] - keys.root).max()
        worst = max(worst, float(dq), float(dr))
    return worst


def latency(model, repeats: int, n_past: int = 10, n_trans: int = 30) -> dict:
    """Median ms of one 30-frame transition (10 context frames + target keyed) for the model and SLERP, one thread."""
    import numpy as np
    import torch

    from backend.data.corpus import load_corpus
    from backend.models.inbetween.baseline import SlerpFill
    from backend.models.inbetween.evaluate import latency_ms
    from backend.models.inbetween.keys import CanonicalKeys
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    m = max(load_corpus("test").clips, key=lambda c: c.num_frames).motion
    T = n_past + n_trans + 1
    frames = np.array(list(range(n_past)) + [T - 1])
    keys = CanonicalKeys(frames, m.rotations[frames], m.root_pos[frames], np.ones((len(frames), 22), bool),
                         np.ones(len(frames), bool))
    out = np.arange(T)
    res = {"slerp": round(latency_ms(SlerpFill().fill, keys, out, repeats), 3)}
    if model is not None:
        res["model"] = round(latency_ms(model.fill, keys, out, repeats), 3)
    res["frames"] = T
    res["threads"] = 1
    torch.set_num_threads(threads)
    return res


def main(args) -> int:
    import torch
    torch.set_num_threads(2)
    if args.lafan1:
        from backend.eval.lafan1 import run_lafan1
        res = run_lafan1(args.lafan1, None if args.baselines_only else load_model(args.weights),
                         stride=args.stride or 40)
    else:
        res = run_corpus(args)
    text = json.dumps(res, indent=1)
    if args.out:
        from pathlib import Path
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print_table(res, file=sys.stdout)
    return 0


def run_corpus(args) -> dict:
    from backend.data.corpus import load_corpus
    from backend.models.inbetween import evaluate as E
    from backend.models.inbetween import protocol as P
    model = None if args.baselines_only else load_model(args.weights)
    corpus = load_corpus()
    motions = [c.motion for c in corpus.clips if c.split == args.split]
    stats = E.position_stats([c.motion for c in corpus.clips if c.split == "train"])
    stride = args.stride or P.TEST_WINDOW_STRIDE
    res = E.evaluate(model, motions, stats, stride=stride)
    root, rot, _ = E.clip_windows(motions, P.N_PAST + 30 + 1, stride)
    res["key_error_max"] = key_error_max(model, root, rot) if model is not None else None
    res["latency_ms"] = latency(model, args.repeats)
    res["split"] = args.split
    res["data"] = f"corpus v{corpus.version}: {len(motions)} {args.split} clips"
    res["window_stride"] = stride
    if model is not None:
        res["weights"] = model.meta.get("name", "inbetween")
        res["reduction_vs_slerp"] = {k: round(1 - res["model"]["l2p"][k] / res["slerp"]["l2p"][k], 4)
                                     for k in res["model"]["l2p"]}
    return res


def print_table(res: dict, file=sys.stdout) -> None:
    lengths = res["lengths"]
    rows = [r for r in ("zerovel", "slerp", "model") if r in res]
    names = {"zerovel": "Zero-Vel", "slerp": "SLERP", "model": "Model"}
    for metric, fmt in (("l2q", "{:6.3f}"), ("l2p", "{:6.3f}"), ("npss", "{:6.4f}")):
        print(f"=== {metric.upper()} ===", file=file)
        print("{:<10}".format("Length") + "".join(f" | {n:>6}" for n in lengths), file=file)
        for r in rows:
            vals = [res[r][metric].get(str(n)) for n in lengths]
            print("{:<10}".format(names[r]) + "".join(" | " + (fmt.format(v) if v is not None else "   n/a")
                                                      for v in vals), file=file)
        print(file=file)
    if "windows" in res:
        print("windows per length: " + ", ".join(f"{k}: {v}" for k, v in res["windows"].items()), file=file)
    for k in ("foot_skate", "latency_ms", "key_error_max"):
        if k in res:
            print(f"{k}: {res[k]}", file=file)
