"""``python -m backend eval vocabulary``: choose the out-of-vocabulary threshold on the val split.

Embeds the train split's distinct sentences (the vocabulary), finds each val sentence's best cosine similarity to
them, prints that distribution, and chooses the threshold as its ``--quantile`` (default 1%) rounded down to 0.01
(:func:`backend.models.text.vocabulary.choose_threshold`). A few probe prompts, in and out of the corpus, are scored
beside it. ``--write`` stores the vocabulary and threshold beside the weights (``weights/text2motion_vocabulary.npz``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

PROBES = ("a person walks forward", "a person does a cartwheel", "someone sits down on a chair",
          "a person waves with the left hand", "the stock market closed higher today",
          "a recipe for chocolate cake with vanilla frosting", "zxqv blorp fnord")


def register(subparsers):
    p = subparsers.add_parser("vocabulary", help="choose the text-to-motion out-of-vocabulary threshold on val",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: corpus v3 when built)")
    p.add_argument("--split", default="val", choices=["val", "test"], help="held-out split to choose it on")
    p.add_argument("--quantile", type=float, default=0.01)
    p.add_argument("--write", action="store_true", help="store the table beside the weights")
    p.add_argument("--out", type=Path, default=None, help="table path (default weights/text2motion_vocabulary.npz)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from ..models.text import default_encoder
    from ..models.text.vocabulary import VOCABULARY_FILE, Vocabulary, choose_threshold, split_sentences
    from ..train.text2motion_data import default_training_corpus
    corpus = Path(args.corpus or default_training_corpus())
    enc = default_encoder()
    train = split_sentences(corpus, "train")
    held = split_sentences(corpus, args.split)
    if not train or not held:
        raise SystemExit(f"the corpus at {corpus} has {len(train)} train and {len(held)} {args.split} sentences")
    vocab = Vocabulary.build(train, enc)
    _, sims = vocab.best(enc.encode(held))
    threshold = choose_threshold(sims, args.quantile)
    vocab.threshold = threshold
    pcts = (0, 1, 2, 5, 10, 25, 50)
    probes = {}
    for p in PROBES:
        i, s = vocab.best(enc.encode([p]))
        probes[p] = {"similarity": round(float(s[0]), 3), "closest": vocab.texts[int(i[0])][:80],
                     "flagged": bool(s[0] < threshold)}
    man = json.loads((corpus / "manifest.json").read_text())
    vocab.meta = {"command": f"python -m backend eval vocabulary --split {args.split} --quantile {args.quantile}",
                  "corpus": corpus.name, "corpus_version": str(man.get("version")),
                  "corpus_sha256": man.get("sha256", {}).get("corpus.npz"), "train_sentences": len(train),
                  "chosen_on": args.split, "quantile": args.quantile, "threshold": threshold,
                  "built": time.strftime("%Y-%m-%d", time.gmtime())}
    out = {**vocab.meta, f"{args.split}_sentences": len(held),
           f"{args.split}_similarity_percentiles": {str(q): round(float(np.percentile(sims, q)), 3) for q in pcts},
           f"{args.split}_flagged_fraction": round(float((sims < threshold).mean()), 4), "probes": probes}
    enc.save()
    if args.write:
        out["written"] = str(vocab.save(args.out or VOCABULARY_FILE))
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=1))
    return 0
