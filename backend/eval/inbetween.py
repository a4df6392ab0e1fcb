"""``python -m backend eval inbetween``: the LaFAN1 in-betweening benchmark on the held-out split, plus sparse walk keys.

Corpus v3 by default (``data/corpus_v3``, whole takes; the committed demo corpus where v3 is not built; ``--corpus``
picks another). Two parts, all rows from the same run:

1. **LaFAN1 protocol** (:mod:`backend.models.inbetween.protocol`): windows of 10 context frames + n transition frames
   + 1 target frame (n = 5, 15, 30, 45) every ``--stride`` frames of every take of the split; L2P, L2Q, NPSS
   normalised with statistics of the *train* split; rows ``model``, ``spline`` (the model with its network switched
   off: the velocity-continuing spline its residual sits on), ``slerp`` (SLERP + linear root) and ``zerovel``; foot
   skating of the 30-frame transitions beside the ground truth's.
2. **Sparse walk** (:mod:`backend.models.inbetween.sparse_walk`): the walk / run / jog spans of the split's takes in
   181-frame windows, full-body keys every 30 frames and no context block, filled through ``fill`` by the model, the
   spline and SLERP: toe skating / the real motion's, contact count error per foot per 30 frames, acceleration at the
   keys / the real motion's median.

``key_error_max`` is the largest key error over every evaluated transition (benchmark windows of the model and the
spline, and every sparse-walk fill). Also: the median CPU latency of a 30-frame transition beside SLERP, one thread.
``--limit N`` keeps N takes of the split and N sparse-walk windows (quick runs; statistics still come from the whole
train split). ``--lafan1 PATH`` runs the standard LaFAN1 table instead (subjects 1-4 for statistics, subject 5 for
test, native skeleton; see :mod:`backend.eval.lafan1`).
"""
from __future__ import annotations

import json
import sys


def register(subparsers):
    p = subparsers.add_parser("inbetween", help="LaFAN1-protocol benchmark of the in-betweening model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--corpus", default=None,
                   help="corpus folder (default: data/corpus_v3, or the committed demo corpus where v3 is not built)")
    p.add_argument("--limit", type=int, default=None,
                   help="quick run: at most N takes of the split and N sparse-walk windows")
    p.add_argument("--weights", default=None, help="safetensors weights (default: weights/inbetween.safetensors)")
    p.add_argument("--lafan1", default=None, help="a folder of LaFAN1 BVH files: run the standard LaFAN1 table")
    p.add_argument("--stride", type=int, default=None, help="frames between windows (default 20; LaFAN1: 40)")
    p.add_argument("--repeats", type=int, default=50, help="latency repeats")
    p.add_argument("--baselines-only", action="store_true", help="no model: the classical baselines only")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", default=None, help="also write the JSON result to this file")
    p.add_argument("--figure", default=None, help="also draw one 30-frame transition (GT / SLERP / model) here")
    p.add_argument("--no-matching", action="store_true",
                   help="leave out the matching-base rows (matching, model_matching) and their train-split index")
    p.add_argument("--plant-speed", type=float, default=None,
                   help="foot planting threshold in m/s (default: the model's, chosen on val); for val sweeps")
    p.add_argument("--match-k", type=int, default=None, help="matching: windows blended (default: MatchConfig's)")
    p.add_argument("--blend-tau", type=float, default=None,
                   help="matching: blend weight temperature, 0 = uniform (default: MatchConfig's)")
    p.add_argument("--no-protocol", action="store_true",
                   help="skip the LaFAN1-protocol windows: sparse walk keys and latency only (quick val sweeps)")
    p.add_argument("--strips", default=None, metavar="PATTERN",
                   help="draw three sparse-walk windows as stick-figure strips, e.g. docs/img/inbetween_strips_{n}.png")
    p.add_argument("--threads", type=int, default=2, help="torch threads (latency is always measured on one)")
    p.add_argument("--learning-curve", nargs="+", default=None, metavar="WEIGHTS",
                   help="weights trained on growing fractions of the data (train --fraction): L2P@5/30 of each on the "
                        "split beside SLERP, plotted to --figure")
    p.set_defaults(func=main)


def load_model(path):
    from ..models.inbetween.model import DEFAULT_WEIGHTS, Inbetweener
    return Inbetweener.load(path or DEFAULT_WEIGHTS)


def latency(model, repeats: int, motions, n_past: int = 10, n_trans: int = 30, matching: bool = False) -> dict:
    """Median ms of one 30-frame transition (10 context frames + target keyed) for the model and SLERP (and with
    ``matching`` the matching rows, warm, plus one cold call of ``model_matching``), one thread, on the longest of
    ``motions``."""
    import numpy as np
    import torch

    from ..models.features import NUM_JOINTS
    from ..models.inbetween.baseline import SlerpInbetweener
    from ..models.inbetween.evaluate import latency_ms
    from ..models.inbetween.keys import CanonicalKeys
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    m = max(motions, key=lambda m: m.num_frames)
    T = n_past + n_trans + 1
    frames = np.array(list(range(n_past)) + [T - 1])
    keys = CanonicalKeys(frames, m.rotations[frames], m.root_pos[frames],
                         np.ones((len(frames), NUM_JOINTS), bool), np.ones(len(frames), bool))
    out = np.arange(T)
    res = {"slerp": round(latency_ms(SlerpInbetweener().fill, keys, out, repeats), 3)}
    if model is not None:
        res["model"] = round(latency_ms(model.fill, keys, out, repeats), 3)
        if matching:
            import time

            from ..models.inbetween.evaluate import MODEL_ROWS, variant
            for row in ("matching", "model_matching"):
                with variant(model, *MODEL_ROWS[row]):
                    res[row] = round(latency_ms(model.fill, keys, out, repeats), 3)
            # cold: the first gap of a length the index has not seen yet builds that length's candidate table
            with variant(model, *MODEL_ROWS["model_matching"]):
                model.matcher._per_len.clear()
                t = time.perf_counter()
                model.fill(keys, out)
                res["model_matching_cold"] = round((time.perf_counter() - t) * 1000, 3)
    res["frames"] = T
    res["threads"] = 1
    torch.set_num_threads(threads)
    return res


def main(args) -> int:
    import torch
    torch.set_num_threads(args.threads)
    if args.learning_curve:
        res = learning_curve(args)
    elif args.lafan1:
        from ..eval.lafan1 import run_lafan1
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


def default_corpus():
    from ..train.text2motion_data import default_training_corpus
    return default_training_corpus()


def run_corpus(args) -> dict:
    import time

    from ..data.corpus import load_corpus
    from ..models.inbetween import evaluate as E
    from ..models.inbetween import protocol as P
    wall, t0 = {}, time.perf_counter()

    def lap(name):
        nonlocal t0
        wall[name] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
    model = None if args.baselines_only else load_model(args.weights)
    if model is not None and args.plant_speed is not None:
        model.plant_speed = float(args.plant_speed)
    match_cfg = None  # the matching knobs: MatchConfig's unless the sweep flags say otherwise
    if args.match_k is not None or args.blend_tau is not None:
        from dataclasses import replace

        from ..models.inbetween.matching import MatchConfig
        match_cfg = MatchConfig()
        match_cfg = replace(match_cfg, k=args.match_k or match_cfg.k,
                            blend_tau=match_cfg.blend_tau if args.blend_tau is None else float(args.blend_tau))
    corpus = load_corpus(path=args.corpus or default_corpus())
    clips = [c for c in corpus.clips if c.split == args.split][:args.limit]
    motions = [c.motion for c in clips]
    lap("load")
    stats = E.position_stats([c.motion for c in corpus.clips if c.split == "train"])
    lap("train_stats")
    stride = args.stride or P.TEST_WINDOW_STRIDE
    # the spline row is the model with its network off; a model that predicts poses directly has no spline under it
    spline = model is not None and getattr(model, "use_residual", True)
    matching = spline and not args.no_matching
    walk_clips = [c for c in corpus.clips if c.split == args.split]
    if matching:  # the index: the train split of the same corpus, never a clip under test
        from ..models.inbetween import sparse_walk as S
        from ..models.inbetween.matching import train_index
        exclude = set()
        if args.split == "train":
            exclude = {c.id for c in clips} | {m.meta["name"].rsplit("@", 1)[0]
                                               for m in S.locomotion_windows(walk_clips, limit=args.limit)}
        model.matcher = train_index(corpus.path, match_cfg, exclude=exclude)
        res_index = {"frames": model.matcher.num_frames, "candidates": len(model.matcher.starts),
                     "splits": list(model.matcher.splits), "config": dict(model.matcher.config.__dict__),
                     "excluded_clips": len(exclude)}
        lap("matching_index")
    elif match_cfg is not None and model is not None:  # the served base with the sweep's knobs
        from ..models.inbetween.matching import train_index
        model.matcher = train_index(corpus.path, match_cfg)
    if args.no_protocol:
        res = {}
    else:
        res = E.evaluate(model, motions, stats, stride=stride, with_spline=spline, with_matching=matching)
    lap("protocol")
    res["sparse_walk"] = sparse_walk(model, walk_clips, limit=args.limit, spline=spline, matching=matching,
                                     strips=args.strips)
    if matching:
        res["matching_index"] = res_index
    lap("sparse_walk")
    if model is not None:
        res["key_error"] = {"benchmark_windows": res.get("key_error_max"),
                            "sparse_walk_fill": res["sparse_walk"].pop("key_error_max")}
        res["key_error_max"] = max(v for v in res["key_error"].values() if v is not None)
    else:
        res["key_error_max"] = None
    res["latency_ms"] = latency(model, args.repeats, motions, matching=matching)
    lap("latency")
    if args.figure and model is not None:
        res["figure"] = draw_figure(model, motions, args.figure)
    res["wall_s"] = wall
    res["split"] = args.split
    res["data"] = f"corpus v{corpus.version} ({corpus.path.name}): {len(motions)} {args.split} takes" + \
        (f" (--limit {args.limit})" if args.limit else "")
    res["stats"] = "global joint positions of the train split, windows of 50 frames every 20"
    res["window_stride"] = stride
    if model is not None:
        res["weights"] = model.meta.get("name", "inbetween")
        res["served_base"] = model.base
        res["plant_speed"] = model.plant_speed if model.plant else None
        for base in ("slerp", "spline"):
            if base in res:
                res[f"l2p_ratio_vs_{base}"] = {k: round(res["model"]["l2p"][k] / res[base]["l2p"][k], 4)
                                              for k in res["model"]["l2p"]}
        for row in ("model_no_plant", "matching", "model_matching"):
            for base in ("slerp", "spline"):
                if row in res and base in res:
                    res[f"{row}_l2p_ratio_vs_{base}"] = {k: round(res[row]["l2p"][k] / res[base]["l2p"][k], 4)
                                                         for k in res[row]["l2p"]}
    return res


def sparse_walk(model, clips, limit: int | None = None, spline: bool = True, window: int | None = None,
                every: int | None = None, matching: bool = False, strips: str | None = None) -> dict:
    """Keys every ``every`` frames (full body, no context block) on the locomotion windows of ``clips``, filled by
    SLERP, the model, its spline (network off) and, with ``matching``, its matching base (network off and on)
    through ``fill``; each scored against the real windows. ``strips``: a path pattern with ``{n}``, where
    :func:`draw_strips` draws three of the windows."""
    import numpy as np

    from ..models.inbetween import sparse_walk as S
    from ..models.inbetween.baseline import SlerpInbetweener
    from .t2m_protocol import toe_skate
    window, every = window or S.WINDOW, every or S.KEY_EVERY
    real = S.locomotion_windows(clips, window, limit=limit)
    res: dict = {"windows": len(real), "takes": len({m.meta["name"].split("@")[0] for m in real}),
                 "window_frames": window, "key_every": every, "texts": S.LOCOMOTION.pattern}
    if not real:
        return res
    frames = S.key_frames(window, every)
    skate_real = float(np.mean([toe_skate(m) for m in real]))
    res["real"] = {"skate": round(skate_real, 4), "key_accel_ratio": round(S.key_accel_ratio(real, real, every), 4),
                   "contact_onsets_per_foot_per_30": round(float(np.mean(
                       [S.contact_onsets(m) / ((m.num_frames - 1) / every) for m in real])), 4),
                   "median_accel_m_s2": round(float(np.nanmedian(np.concatenate([S.acceleration(m) for m in real]))),
                                              3)}
    from ..models.inbetween.evaluate import MODEL_ROWS, variant
    fillers = {"slerp": SlerpInbetweener()}
    if model is not None:
        fillers["model"] = fillers["model_no_plant"] = model
        if spline:
            fillers["spline"] = model
        if matching:
            fillers["matching"] = fillers["model_matching"] = model
    worst = 0.0
    fills = {}
    for name, filler in fillers.items():
        if name == "slerp":
            gen = [filler.fill(S.full_body_keys(m, frames), np.arange(m.num_frames), m.fps) for m in real]
        else:
            with variant(model, *MODEL_ROWS[name]):
                gen = [filler.fill(S.full_body_keys(m, frames), np.arange(m.num_frames), m.fps) for m in real]
        fills[name] = gen
        if name != "slerp":
            for g, m in zip(gen, real):
                q, k = g.rotations[frames], m.rotations[frames]
                dq = np.minimum(np.abs(q - k).max(-1), np.abs(q + k).max(-1)).max()
                worst = max(worst, float(dq), float(np.abs(g.root_pos[frames] - m.root_pos[frames]).max()))
        skate = float(np.mean([toe_skate(g) for g in gen]))
        res[name] = {"skate": round(skate, 4),
                     "skate_ratio_vs_real": round(skate / skate_real, 4) if skate_real > 0 else None,
                     "contact_count_error": round(S.contact_count_error(gen, real, every), 4),
                     "key_accel_ratio": round(S.key_accel_ratio(gen, real, every), 4)}
    if model is not None:
        res["key_error_max"] = worst
    if strips:
        res["strips"] = draw_strips(real, fills, strips, every)
    return res


STRIP_ROWS = (("model", "model (served default)"), ("spline", "spline (network off)"),
              ("matching", "matching base (network off)"), ("model_matching", "matching + network"),
              ("slerp", "SLERP"))


def strip_windows(n: int, count: int = 3) -> list[int]:
    """Which of ``n`` sparse-walk windows the strips show: first, middle and last (spread, not picked by score)."""
    import numpy as np
    return sorted({round(float(x)) for x in np.linspace(0, n - 1, min(count, n))}) if n else []


def draw_strips(real, fills: dict, pattern: str, every: int, span: int = 61, poses: int = 13) -> list[str]:
    """Stick-figure strips (:func:`backend.data.preview.draw_strip`) of three sparse-walk windows: the first
    ``span`` frames (keys on 0, 30, 60), every 5th frame, rows ground truth then each fill. Returns the paths."""
    from ..data.preview import draw_strip
    out = []
    for n, w in enumerate(strip_windows(len(real)), 1):
        rows = [real[w].slice(0, span)]
        titles = ["ground truth"]
        for name, label in STRIP_ROWS:
            if name in fills:
                rows.append(fills[name][w].slice(0, span))
                titles.append(label)
        path = pattern.format(n=n)
        draw_strip(rows, path, frames=poses, titles=titles,
                   title=f"{real[w].meta['name']}: full-body keys on frames 0, {every}, {2 * every} (side view, "
                         f"poses every {(span - 1) // (poses - 1)} frames, each centred on its root)")
        out.append(path)
    return out


def learning_curve(args) -> dict:
    """L2P of models trained on fractions of the training clips, on one split, beside SLERP (same windows)."""
    from ..data.corpus import load_corpus
    from ..models.inbetween import evaluate as E
    from ..models.inbetween.model import Inbetweener
    corpus = load_corpus(path=args.corpus or default_corpus())
    motions = [c.motion for c in corpus.clips if c.split == args.split][:args.limit]
    stats = E.position_stats([c.motion for c in corpus.clips if c.split == "train"])
    rows = []
    for w in args.learning_curve:
        model = Inbetweener.load(w)
        r = E.evaluate(model, motions, stats, lengths=(5, 30), stride=args.stride or 20, foot_length=-1)
        rows.append({"weights": str(w), "fraction": model.meta["config"].get("fraction"),
                     "train_clips": model.meta.get("train_clips"), "train_frames": model.meta.get("train_frames"),
                     "steps": model.meta["config"].get("steps"), "l2p": r["model"]["l2p"], "slerp_l2p": r["slerp"]["l2p"]})
    rows.sort(key=lambda r: r["train_frames"])
    res = {"split": args.split, "learning_curve": rows}
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        x = [r["train_frames"] / 30 / 60 for r in rows]
        for n, st in (("30", "o-"), ("5", "s-")):
            ax.plot(x, [r["l2p"][n] for r in rows], "C0" + st, label=f"model L2P@{n}")
            ax.plot(x, [r["slerp_l2p"][n] for r in rows], "C1" + st[0] + "--", label=f"SLERP L2P@{n}")
        ax.set_xlabel("training data (minutes of motion)")
        ax.set_ylabel(f"L2P on the {args.split} split")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"learning curve ({rows[0]['steps']} steps each)")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=90)
        plt.close(fig)
    return res


def print_table(res: dict, file=sys.stdout) -> None:
    if "learning_curve" in res:
        for r in res["learning_curve"]:
            print(f"{r['train_clips']:>4} clips {r['train_frames']:>6} frames: L2P@5 {r['l2p']['5']:.3f} "
                  f"(SLERP {r['slerp_l2p']['5']:.3f})  L2P@30 {r['l2p']['30']:.3f} (SLERP {r['slerp_l2p']['30']:.3f})",
                  file=file)
        return
    lengths = res.get("lengths", [])  # none with --no-protocol
    rows = [r for r in ("zerovel", "slerp", "spline", "model", "model_no_plant", "matching", "model_matching")
            if r in res]
    names = {"zerovel": "Zero-Vel", "slerp": "SLERP", "spline": "Spline", "model": "Model",
             "model_no_plant": "No plant", "matching": "Matching", "model_matching": "Match+net"}
    for metric, fmt in (("l2q", "{:6.3f}"), ("l2p", "{:6.3f}"), ("npss", "{:6.4f}")) if lengths else ():
        print(f"=== {metric.upper()} ===", file=file)
        print("{:<10}".format("Length") + "".join(f" | {n:>6}" for n in lengths), file=file)
        for r in rows:
            vals = [res[r][metric].get(str(n)) for n in lengths]
            print(f"{names[r]:<10}" + "".join(" | " + (fmt.format(v) if v is not None else "   n/a")
                                                      for v in vals), file=file)
        print(file=file)
    if "windows" in res:
        print("windows per length: " + ", ".join(f"{k}: {v}" for k, v in res["windows"].items()), file=file)
    for k in ("foot_skate", "latency_ms", "key_error_max"):
        if k in res:
            print(f"{k}: {res[k]}", file=file)
    sw = res.get("sparse_walk") or {}
    if sw.get("windows"):
        print(f"=== sparse walk: {sw['windows']} windows of {sw['window_frames']} frames from {sw['takes']} takes, "
              f"full-body keys every {sw['key_every']} ===", file=file)
        print(f"{'':<10} | skate/real | contact err | key accel", file=file)
        for r in ("slerp", "spline", "model", "model_no_plant", "matching", "model_matching"):
            if r in sw:
                v = sw[r]
                print(f"{names[r]:<10} | {v['skate_ratio_vs_real'] if v['skate_ratio_vs_real'] is not None else 'n/a':>10} "
                      f"| {v['contact_count_error']:>11.3f} | {v['key_accel_ratio']:>9.2f}", file=file)
        print(f"real: {sw['real']}", file=file)


def draw_figure(model, motions, path, n_trans: int = 30) -> str:
    """Top view of the root path and height of both toes over one benchmark window: ground truth, SLERP, model.
    The window is the one where the model's gain over SLERP is the median gain (a typical case, not the best)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..models.inbetween import evaluate as E
    from ..models.inbetween import protocol as P
    from ..motion.skeleton import CANONICAL
    root, rot, where = E.clip_windows(motions, P.N_PAST + n_trans + 1, P.TEST_WINDOW_STRIDE)
    preds = {"SLERP": P.interpolation(root, rot), "model": E.model_windows(model, root, rot)}
    pos = {k: P.global_pose(r, q, CANONICAL.offsets, CANONICAL.parents)[1] for k, (r, q) in preds.items()}
    gt = P.global_pose(root, rot, CANONICAL.offsets, CANONICAL.parents)[1]
    err = {k: np.linalg.norm(v - gt, axis=-1)[:, P.N_PAST:-1].mean((1, 2)) for k, v in pos.items()}
    gain = err["SLERP"] - err["model"]
    w = int(np.argsort(gain)[len(gain) // 2])
    toes = [CANONICAL.index("left_foot"), CANONICAL.index("right_foot")]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    t = np.arange(root.shape[1])
    for name, p_, style in (("ground truth", gt, "k-"), ("SLERP", pos["SLERP"], "C1--"), ("model", pos["model"], "C0-")):
        a.plot(p_[w, :, 0, 0], p_[w, :, 0, 1], style, label=name)
        for k, toe in enumerate(toes):
            b.plot(t, p_[w, :, toe, 2], style, alpha=1.0 if k == 0 else 0.5, label=name if k == 0 else None)
    for ax in (a, b):
        ax.grid(alpha=0.3)
    a.plot(root[w, :P.N_PAST, 0], root[w, :P.N_PAST, 1], "ko", ms=3, label="context keys")
    a.plot(root[w, -1, 0], root[w, -1, 1], "ks", ms=6, label="target key")
    a.set_aspect("equal")
    a.set_title("root path (top view, m)")
    a.legend(fontsize=8)
    b.axvspan(P.N_PAST - 0.5, root.shape[1] - 1.5, color="0.92")
    b.set_title("toe heights (m): left solid, right faded; grey = filled")
    b.set_xlabel("frame")
    clip, start = where[w]
    fig.suptitle(f"test window {w} ({motions[clip].meta.get('name', clip)}, frames {start}-{start + root.shape[1] - 1})"
                 f": joint error SLERP {100 * err['SLERP'][w]:.1f} cm, model {100 * err['model'][w]:.1f} cm")
    fig.tight_layout()
    from pathlib import Path
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)
