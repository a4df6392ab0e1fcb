"""``python -m backend eval text2motion --split test --json``: the text-to-motion model against retrieval and real.

Samples: every clip of the split cut into windows of up to ``--window`` frames (stride ``--stride``), each paired
with the clip's first description. For each sample the model generates a motion of the same length
(``--repeats`` seeds), "retrieval" returns the nearest training clip by sentence embedding
(the served ``retrieval-baseline``, :class:`backend.models.retrieval.RetrievalBaseline`), and "real" is the held-out window itself. Scored with the
project's own evaluator (``weights/evaluator.safetensors``, trained on the train split only):

* R-precision top-3: the motion's own description among 32 candidates (31 distractors drawn from every distinct
  corpus description that is not a near-duplicate of the true one, sentence cosine <= 0.8: the split alone has
  too few distinct descriptions for batches of 32);
* FID (to the real windows) and diversity on evaluator embeddings;
* foot skating, GMD/CondMDI definition (toe below 5 cm and faster than 0.5 m/s, at 20 fps, over all frames), for
  the model with and without the foot-contact cleanup, retrieval and real;
* trajectory control: the real window's root path drawn as a timed trajectory (and as a path only), mean root
  distance to it, with foot skating beside the unguided model's, for control strengths 1, 0.5 and 0 (the fraction
  of denoising steps on which the root is overwritten with the path);
* keys: full-body keys at the first, middle and last frame from the real window (largest joint error at keys,
  cm) and one joint target (left wrist at a third of the window, cm);
* transitions: two-prompt timelines (90 + 90 frames, pairs of different descriptions), FlowMDM's peak jerk and
  area under jerk over 30 frames around the seam, against retrieval stitched with a crossfade and two independent
  model samples cut together;
* latency: median seconds for 120 frames with the default steps on ``--threads`` CPU threads.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

from ..paths import weights_file


def register(subparsers):
    p = subparsers.add_parser("text2motion", help="evaluate text-to-motion (model vs retrieval vs real)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus)")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--evaluator", type=Path, default=None)
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's default)")
    p.add_argument("--guidance-scale", type=float, default=2.5, help="classifier-free guidance scale")
    p.add_argument("--repeats", type=int, default=3, help="model samples per test window")
    p.add_argument("--window", type=int, default=120)
    p.add_argument("--stride", type=int, default=30)
    p.add_argument("--limit", type=int, default=None, help="only the first N clips (quick checks)")
    p.add_argument("--latency-runs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--write-sidecar", action="store_true", help="store the summary in the weights' sidecar")
    p.set_defaults(func=run)


def test_samples(clips, window: int, stride: int):
    """[(motion window, description, clip id)] with windows of up to ``window`` frames every ``stride``."""
    out = []
    for c in clips:
        n = c.num_frames
        starts = list(range(0, max(1, n - window + 1), stride)) or [0]
        for s in starts:
            out.append((c.motion.slice(s, s + window).canonicalized(0), c.texts[0], c.id))
    return out


def toe_skate(m) -> float:
    from ..motion.contacts import foot_skate_ratio_gmd
    from ..motion.skeleton import CANONICAL
    toes = [CANONICAL.index("left_foot"), CANONICAL.index("right_foot")]
    return foot_skate_ratio_gmd(m.positions()[:, toes], m.fps)


def polyline_distance(points, path) -> float:
    """Mean distance (m) of 2D points to a 2D polyline."""
    import numpy as np
    a, b = path[:-1], path[1:]
    ab = b - a
    L = (ab ** 2).sum(-1)
    d = []
    for p in points:
        t = np.clip(((p - a) * ab).sum(-1) / np.maximum(L, 1e-12), 0, 1)
        d.append(np.linalg.norm(a + t[:, None] * ab - p, axis=-1).min())
    return float(np.mean(d))



def retrieved_motion(retr, prompt: str, frames: int, rng):
    """Retrieval's answer for one window: the nearest training clip, fitted to the length, at the origin facing -Y."""
    from ..motion.skeleton import CANONICAL_FPS
    motion, _ = retr.clip_for(prompt, frames, CANONICAL_FPS, rng)
    return motion.canonicalized(0)


def retrieved_timeline(retr, entries, rng):
    """Retrieval's answer for a prompt timeline: each entry retrieved for its own prompt, stitched in order with
    crossfades (each part a crossfade longer, so the seams fall at the entries' starts)."""
    from ..motion.edit import CROSSFADE, stitch
    out = None
    for k, (prompt, start, end) in enumerate(entries):
        part = retrieved_motion(retr, prompt, end - start + (CROSSFADE if k < len(entries) - 1 else 0), rng)
        out = part if out is None else stitch([out, part])
    return out.slice(0, entries[-1][2])


def run(args) -> int:
    import numpy as np
    import torch

    from ..data.corpus import load_corpus
    from ..models.diffusion.cleanup import cleanup_foot_contacts
    from ..models.diffusion.control import Controls, JointTargets, Keys
    from ..models.diffusion.model import Text2MotionModel
    from ..models.diffusion.sampler import SamplingOptions
    from ..models.evaluator.encoders import load_evaluator
    from ..models.evaluator.metrics import diversity, fid, jerk_profile, transition_jerk
    from ..models.retrieval import RetrievalBaseline
    from ..models.text import default_encoder
    from ..motion.skeleton import CANONICAL

    torch.set_num_threads(max(1, args.threads))
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    t0 = time.time()
    corpus = load_corpus(path=args.corpus)
    clips = [c for c in corpus.clips if c.split == args.split][:args.limit]
    enc = default_encoder()
    model = Text2MotionModel.load(args.weights, encoder=enc)
    steps = args.steps or model.default_steps
    opts = SamplingOptions(steps=steps, guidance_scale=args.guidance_scale, seed=args.seed)
    raw = replace(opts, contact_cleanup=False)  # samples as the network makes them (the cleanup is scored apart)
    ev = load_evaluator(args.evaluator)
    retr = RetrievalBaseline(corpus.split("train"), enc)
    samples = test_samples(clips, args.window, args.stride)
    texts = [t for _, t, _ in samples]
    say(f"{len(samples)} {args.split} windows from {len(clips)} clips; {args.repeats} model samples each")

    # ---- generation
    rng = np.random.default_rng(args.seed)
    real = [m for m, _, _ in samples]
    gen_raw, gen_clean, retrieved, cleanup_frames = [], [], [], 0
    for r in range(args.repeats):
        for i, (m, text, _) in enumerate(samples):
            g, _ = model.generate_motion(text, m.num_frames, options=replace(raw, seed=args.seed + r, variation=i))
            gen_raw.append(g)
            c, info = cleanup_foot_contacts(g, contacts=g.contacts)
            cleanup_frames += info["pinned_frames"]
            gen_clean.append(c)
            retrieved.append(retrieved_motion(retr, text, m.num_frames, rng))
        say(f"  generated repeat {r + 1}/{args.repeats} ({time.time() - t0:.0f}s)")
    rep_texts = texts * args.repeats

    # ---- evaluator metrics
    all_desc = sorted({t for c in corpus.clips for t in c.texts})
    pool_emb = enc.encode(all_desc)
    enc.save()

    def rprec(motions, tx):
        zm = ev.encode_motions(motions)
        own = enc.encode(tx)
        hits, total = 0, 0
        prng = np.random.default_rng(args.seed + 7)
        zpool = ev.encode_texts(pool_emb)
        zown = ev.encode_texts(own)
        for i in range(len(motions)):
            ok = np.nonzero(pool_emb @ own[i] <= 0.8)[0]
            for _ in range(10):
                cand = prng.choice(ok, size=min(31, len(ok)), replace=False)
                sims = np.concatenate([[zown[i] @ zm[i]], zpool[cand] @ zm[i]])
                hits += int((sims > sims[0]).sum()) < 3
                total += 1
        return hits / max(total, 1), zm

    rp_model, z_model = rprec(gen_clean, rep_texts)
    rp_retr, z_retr = rprec(retrieved, rep_texts)
    rp_real, z_real = rprec(real, texts)
    drng = np.random.default_rng(args.seed + 11)
    out = {
        "split": args.split, "samples": len(samples), "repeats": args.repeats, "steps": steps,
        "guidance_scale": args.guidance_scale,
        "r_precision_top3": {"model": round(rp_model, 4), "retrieval": round(rp_retr, 4), "real": round(rp_real, 4)},
        "fid": {"model": round(fid(z_real, z_model), 4), "retrieval": round(fid(z_real, z_retr), 4)},
        "diversity": {"model": round(diversity(z_model, drng), 4), "retrieval": round(diversity(z_retr, drng), 4),
                      "real": round(diversity(z_real, drng), 4)},
        "foot_skate_ratio": {"model": round(float(np.mean([toe_skate(m) for m in gen_clean])), 4),
                             "model_no_cleanup": round(float(np.mean([toe_skate(m) for m in gen_raw])), 4),
                             "retrieval": round(float(np.mean([toe_skate(m) for m in retrieved])), 4),
                             "real": round(float(np.mean([toe_skate(m) for m in real])), 4)},
    }
    say(json.dumps(out))

    # ---- trajectory control (held-out paths): strength 1 = root imputed on every step, lower = softer
    sweep = {}
    terr_path = []
    for strength in (1.0, 0.5, 0.0):
        terr, tskate, tskate_raw = [], [], []
        for i, (m, text, _) in enumerate(samples):
            path = m.root_pos.copy()
            path[:, 2] = 0.0
            g, info = model.generate_motion(text, m.num_frames, Controls(trajectory=path, trajectory_strength=strength),
                                            replace(raw, variation=i))
            terr.append(np.linalg.norm(g.root_pos[:, :2] - path[:, :2], axis=1).mean())
            tskate_raw.append(toe_skate(g))
            tskate.append(toe_skate(cleanup_foot_contacts(g, contacts=g.contacts)[0]))
            if strength == 1.0 and np.linalg.norm(path[-1, :2] - path[0, :2]) > 0.3:
                gp, _ = model.generate_motion(text, m.num_frames,
                                              Controls(trajectory=path[::5], trajectory_timed=False),
                                              replace(opts, variation=i))
                terr_path.append(polyline_distance(gp.root_pos[:, :2], path[:, :2]))
        sweep[str(strength)] = {"error_cm": round(float(np.mean(terr)) * 100, 3),
                                "foot_skate_ratio": round(float(np.mean(tskate)), 4),
                                "foot_skate_ratio_no_cleanup": round(float(np.mean(tskate_raw)), 4)}
        say(f"  trajectory strength {strength}: {sweep[str(strength)]}")
    out["traj_error_cm"] = sweep["1.0"]["error_cm"]
    out["trajectory"] = {"timed_error_cm": sweep["1.0"]["error_cm"],
                         "path_only_error_cm": round(float(np.mean(terr_path)) * 100, 3) if terr_path else None,
                         "path_only_samples": len(terr_path),
                         "foot_skate_ratio_guided": sweep["1.0"]["foot_skate_ratio"],
                         "foot_skate_ratio_guided_no_cleanup": sweep["1.0"]["foot_skate_ratio_no_cleanup"],
                         "foot_skate_ratio_unguided": out["foot_skate_ratio"]["model"],
                         "foot_skate_ratio_unguided_no_cleanup": out["foot_skate_ratio"]["model_no_cleanup"],
                         "strength_sweep": sweep}
    say(json.dumps(out["trajectory"]))

    # ---- keys and joint targets
    kerr, jerr = [], []
    wrist = CANONICAL.index("left_wrist")
    for i, (m, text, _) in enumerate(samples):
        n = m.num_frames
        kf = np.unique([0, n // 2, n - 1])
        keys = Keys(kf, list(CANONICAL.names), m.rotations[kf], m.root_pos[kf], None, None)
        g, info = model.generate_motion(text, n, Controls(keys=keys), replace(opts, variation=i))
        kerr.append(info["key_error_max_cm"])
        f = n // 3
        tg = JointTargets()
        tg.add(wrist, f, m.positions()[f, wrist])
        g, info = model.generate_motion(text, n, Controls(joint_targets=tg), replace(opts, variation=i))
        jerr.append(info["joint_target_error_cm"])
    out["key_error_max"] = round(float(np.max(kerr)), 4)
    out["keys"] = {"key_error_max_cm": round(float(np.max(kerr)), 4), "key_error_mean_cm": round(float(
        np.mean(kerr)), 4), "joint_target_error_mean_cm": round(float(np.mean(jerr)), 3),
        "joint_target_error_max_cm": round(float(np.max(jerr)), 3)}
    say(json.dumps(out["keys"]))

    # ---- transitions (prompt timelines)
    distinct = sorted(set(texts))
    pairs = [(a, b) for k, a in enumerate(distinct) for b in distinct[k + 1:k + 2]] + \
            [(b, a) for k, a in enumerate(distinct) for b in distinct[k + 1:k + 2]]
    trng = np.random.default_rng(args.seed + 3)
    pos_model, pos_retr, pos_naive, seams = [], [], [], []
    for k, (a, b) in enumerate(pairs):
        tl = [(a, 0, 90), (b, 90, 180)]
        g, _ = model.generate_motion(a, 180, Controls(timeline=tl), replace(opts, variation=k))
        pos_model.append(g.positions())
        pos_retr.append(retrieved_timeline(retr, tl, trng).positions())
        g1, _ = model.generate_motion(a, 90, options=replace(opts, variation=k))
        g2, _ = model.generate_motion(b, 90, options=replace(opts, seed=args.seed + 1, variation=k))
        pos_naive.append(g1.concat(g2.rotated_about_z(float(g1.heading(89) - g2.heading(0)), g2.root_pos[0])
                                   .copy(root_pos=_moved(g1, g2))).positions())
        seams.append([90])
    real_prof = np.concatenate([jerk_profile(c.motion.positions(), 30.0) for c in clips if c.num_frames > 10])
    real_mean = float(real_prof.mean())
    pj_m, auj_m, _ = transition_jerk(pos_model, seams, 30.0, real_mean)
    pj_r, auj_r, _ = transition_jerk(pos_retr, seams, 30.0, real_mean)
    pj_n, auj_n, _ = transition_jerk(pos_naive, seams, 30.0, real_mean)
    # real reference: the same statistic at random frames of real motion
    rpos = [c.motion.positions() for c in clips if c.num_frames >= 60]
    rseams = [[int(trng.integers(20, len(p) - 20))] for p in rpos]
    pj_real, auj_real, _ = transition_jerk(rpos, rseams, 30.0, real_mean)
    out["transition_pj"] = round(pj_m, 2)
    out["transition_auj"] = round(auj_m, 3)
    out["transitions"] = {"pairs": len(pairs), "unit": "m/s^3 (PJ), m/s^2 (AUJ)", "real_mean_jerk": round(real_mean, 2),
                          "pj": {"model": round(pj_m, 2), "retrieval_crossfade": round(pj_r, 2),
                                 "model_independent_cut": round(pj_n, 2), "real_random_frames": round(pj_real, 2)},
                          "auj": {"model": round(auj_m, 3), "retrieval_crossfade": round(auj_r, 3),
                                  "model_independent_cut": round(auj_n, 3),
                                  "real_random_frames": round(auj_real, 3)}}
    say(json.dumps(out["transitions"]))

    # ---- latency
    lat = []
    model.generate_motion("a person walks forward", 120, options=SamplingOptions(steps=steps))  # warm-up
    for r in range(args.latency_runs):
        t1 = time.perf_counter()
        model.generate_motion("a person walks forward", 120, options=SamplingOptions(seed=r, steps=steps))
        lat.append(time.perf_counter() - t1)
    out["latency_s"] = {"model_120f": round(float(np.median(lat)), 4), "steps": steps,
                        "threads": torch.get_num_threads(), "runs": len(lat),
                        "load_average_1min": round(os.getloadavg()[0], 2)}
    out["wall_time_s"] = round(time.time() - t0, 1)
    out["verdict"] = verdict(out)
    text = json.dumps(out, indent=None if args.json else 1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    if args.write_sidecar:
        side = Path(args.weights or weights_file("text2motion")).with_suffix(".json")
        meta = json.loads(side.read_text())
        meta["eval"] = {"command": "python -m backend eval text2motion --split test --json",
                        "r_precision_top3": out["r_precision_top3"]["model"], "fid": out["fid"]["model"],
                        "foot_skate_ratio": out["foot_skate_ratio"]["model"], "traj_error_cm": out["traj_error_cm"],
                        "latency_120f_s": out["latency_s"]["model_120f"], "steps": steps, "verdict": out["verdict"]}
        side.write_text(json.dumps(meta, indent=1) + "\n")
    return 0


def _moved(g1, g2):
    """Root of g2 turned to g1's last heading, starting where g1 ends (for the naive cut)."""
    m = g2.rotated_about_z(float(g1.heading(g1.num_frames - 1) - g2.heading(0)), g2.root_pos[0])
    root = m.root_pos.copy()
    root[:, :2] += g1.root_pos[-1, :2] - root[0, :2]
    return root


def verdict(out: dict) -> str:
    rp, fd = out["r_precision_top3"], out["fid"]
    beats = []
    if rp["model"] > rp["retrieval"]:
        beats.append("R-precision")
    if fd["model"] < fd["retrieval"]:
        beats.append("FID")
    if not beats:
        return "the model beats retrieval on neither R-precision nor FID"
    return "the model beats retrieval on " + " and ".join(beats)
