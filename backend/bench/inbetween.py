"""``python -m backend bench inbetween [--json]``: CPU latency of the learned in-betweener beside SLERP, same run.

Three shapes through the same ``fill(keys, out_frames)`` seam the service uses, one thread, median of ``--repeats``
calls after warm-up: the benchmark transition (10 context frames, 30 missing, 1 target), a 300-frame gap, and a
1000-frame shot keyed every 30 frames (filled in cross-faded windows). Reported as milliseconds and as the ratio
model / SLERP. Keys come from the longest test take of the eval's corpus (corpus v3 where it is built, ``--corpus``
for another).
"""
from __future__ import annotations

import json


def register(subparsers):
    p = subparsers.add_parser("inbetween", help="in-betweening latency: model vs SLERP (CPU, one thread)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None)
    p.add_argument("--corpus", default=None, help="corpus folder (default: the eval's, data/corpus_v3 when built)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    import torch

    from ..data.corpus import load_corpus
    from ..eval.inbetween import default_corpus
    from ..models.features import NUM_JOINTS
    from ..models.inbetween.baseline import SlerpInbetweener
    from ..models.inbetween.evaluate import latency_ms, variant
    from ..models.inbetween.keys import CanonicalKeys
    from ..models.inbetween.model import DEFAULT_WEIGHTS, Inbetweener

    torch.set_num_threads(1)
    model = Inbetweener.load(args.weights or DEFAULT_WEIGHTS)
    corpus = load_corpus("test", path=args.corpus or default_corpus())
    m = max(corpus.clips, key=lambda c: c.num_frames).motion

    def keys_at(frames):
        src = np.asarray(frames) % m.num_frames
        return CanonicalKeys(np.asarray(frames), m.rotations[src], m.root_pos[src],
                             np.ones((len(frames), NUM_JOINTS), bool), np.ones(len(frames), bool))

    cases = {"transition_30": (list(range(10)) + [40], 41), "gap_300": (list(range(10)) + [310], 311),
             "shot_1000_keys_every_30": (list(range(0, 1000, 30)) + [999], 1000)}
    rows = {}
    for name, (frames, T) in cases.items():
        k, out = keys_at(frames), np.arange(T)
        a = latency_ms(model.fill, k, out, args.repeats)
        with variant(model, plant=False):  # what the foot planting costs
            c = latency_ms(model.fill, k, out, args.repeats)
        b = latency_ms(SlerpInbetweener().fill, k, out, args.repeats)
        rows[name] = {"frames": T, "model_ms": round(a, 2), "model_no_plant_ms": round(c, 2), "slerp_ms": round(b, 2),
                      "ratio": round(a / b, 2)}
    res = {"threads": 1, "repeats": args.repeats, "weights": model.meta.get("name", "inbetween"),
           "corpus": f"v{corpus.version} ({corpus.path.name}), keys from {m.meta.get('name')}", "cases": rows}
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for name, r in rows.items():
            print(f"{name:<26} {r['frames']:>5} frames   model {r['model_ms']:8.2f} ms (no foot planting "
                  f"{r['model_no_plant_ms']:.2f})   slerp {r['slerp_ms']:8.2f} ms   x{r['ratio']}")
    return 0
