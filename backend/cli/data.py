"""``python -m backend data build|stats|preview``: the motion corpus."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ..paths import CACHE, DATA, SHARED_DATA


def register(subparsers):
    p = subparsers.add_parser("data", help="build, inspect and preview the motion corpus")
    sub = p.add_subparsers(dest="data_cmd", metavar="<build|stats|audit|preview>")
    sub.required = True

    b = sub.add_parser("build", help="build the canonical corpus from ../shared/data (or user folders)")
    b.add_argument("--shared", type=Path, default=SHARED_DATA,
                   help="folder with the shared sources (default: ../shared/data)")
    b.add_argument("--out", type=Path, default=None, help="output folder (default: data/corpus_v3, or "
                   "data/user_corpus with --cmu/--bvh-folder)")
    b.add_argument("--exclude-source", action="append", default=[], metavar="NAME",
                   help="leave a source out: a motion folder of ../shared/data (e.g. cmu_iclone_cc) or a text "
                        "source (humanml3d, kitml, cmu_index, label); repeatable")
    b.add_argument("--workers", type=int, default=2, help="conversion processes (default 2)")
    b.add_argument("--cmu", type=Path, help="a user's copy of the CMU BVH set (labelled from the shipped CMU index)")
    b.add_argument("--bvh-folder", type=Path, help="any folder of BVH files (with --labels)")
    b.add_argument("--labels", type=Path, help="CSV with columns file,description for --bvh-folder")
    b.add_argument("--with-shared", action="store_true", help="with --cmu/--bvh-folder: also include ../shared/data")
    b.add_argument("--cache", type=Path, default=CACHE / "fbx_bvh",
                   help="cache for FBX conversions and the unpacked CMU archives")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("stats", help="corpus statistics")
    s.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus_v3)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_stats)

    a = sub.add_parser("audit", help="sanity checks on the corpus: walking speed by CMU subject, fps corrections")
    a.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus_v3)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(func=cmd_audit)

    v = sub.add_parser("preview", help="draw a clip as a stick-figure strip")
    v.add_argument("clip", help="clip id (e.g. cmu_asfamc/02_01 or just 02_01)")
    v.add_argument("--out", type=Path, required=True)
    v.add_argument("--frames", type=int, default=8)
    v.add_argument("--view", choices=["side", "front"], default="side")
    v.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus_v3)")
    v.add_argument("--start", type=float, default=None, help="seconds into the clip (with --end: a segment)")
    v.add_argument("--end", type=float, default=None)
    v.set_defaults(func=cmd_preview)


def _corpus_path(arg):
    from ..data.corpus import CORPUS_V3, DEFAULT_CORPUS
    if arg is not None:
        return arg
    return CORPUS_V3 if (CORPUS_V3 / "manifest.json").is_file() else DEFAULT_CORPUS


def cmd_build(args) -> int:
    from ..data.build import build_corpus, shared_raw_clips
    from ..data.sources import read_label_csv, user_bvh_folder, user_cmu_folder
    from ..data.texts import read_cmu_texts

    skipped: dict[str, str] = {}
    streams = []
    user = args.cmu or args.bvh_folder
    if args.bvh_folder and not args.labels:
        print("--bvh-folder needs --labels CSV (columns: file, description)", file=sys.stderr)
        return 2
    if args.cmu:
        if not args.cmu.is_dir():
            print(f"--cmu {args.cmu}: not a folder", file=sys.stderr)
            return 2
        streams.append(user_cmu_folder(args.cmu))
    if args.bvh_folder:
        if not args.bvh_folder.is_dir():
            print(f"--bvh-folder {args.bvh_folder}: not a folder", file=sys.stderr)
            return 2
        streams.append(user_bvh_folder(args.bvh_folder, read_label_csv(args.labels)))
    if not user or args.with_shared:
        if not args.shared.is_dir():
            print(f"shared data not found at {args.shared} (use --shared PATH)", file=sys.stderr)
            return 2
        streams.append(shared_raw_clips(args.shared, args.cache, skipped, exclude=set(args.exclude_source)))
    out = args.out or (DATA / ("user_corpus" if user else "corpus_v3"))
    sentences = read_cmu_texts(args.shared / "cmu_texts", exclude=set(args.exclude_source)) \
        if args.shared.is_dir() and (not user or args.with_shared) else {}

    def chain():
        for s in streams:
            yield from s

    command = "python -m backend data build " + " ".join(shlex.quote(a) for a in sys.argv[3:])
    try:
        build_corpus(chain(), out, command.strip(), skipped, sentences=sentences, exclude=set(args.exclude_source),
                     workers=args.workers)
    except ValueError as e:
        print(f"data build: {e}", file=sys.stderr)
        return 2
    from ..data.corpus import manifest_stats
    print(json.dumps(manifest_stats(out), indent=1))
    print(f"corpus written to {out}")
    return 0


def cmd_stats(args) -> int:
    from ..data.corpus import manifest_stats
    st = manifest_stats(_corpus_path(args.corpus))
    if args.json:
        print(json.dumps(st))
    else:
        for k, v in st.items():
            print(f"{k:>8}: {v}")
    return 0


def cmd_preview(args) -> int:
    from ..data.corpus import load_corpus
    from ..data.preview import draw_strip
    clip = load_corpus(path=_corpus_path(args.corpus)).by_id(args.clip)
    m, title = clip.motion, f"{clip.id}: {(clip.texts or [s['texts'][0] for s in clip.segments])[0]}"
    if args.start is not None:
        a = round(args.start * m.fps)
        b = m.num_frames if args.end is None else round(args.end * m.fps) + 1
        seg = next((s for s in clip.segments if abs(s["start"] - args.start) < 1e-3), None)
        m = m.slice(a, b)
        title = f"{clip.id} {args.start:g}-{args.end if args.end is not None else 'end'} s" + (
            f": {seg['texts'][0]}" if seg else "")
    out = draw_strip(m, args.out, frames=args.frames, titles=[title[:110]], view=args.view)
    print(out)
    return 0


def cmd_audit(args) -> int:
    from ..data.audit import audit
    from ..data.corpus import load_corpus
    rep = audit(load_corpus(path=_corpus_path(args.corpus)))
    if args.json:
        print(json.dumps(rep))
    else:
        print(json.dumps(rep, indent=1))
    return 0 if not rep["outside"] else 1
