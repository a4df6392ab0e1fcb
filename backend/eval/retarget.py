"""``python -m backend eval retarget``: retarget held-out clips onto real characters; MotionLoom vs naive copy.

Source clips: the corpus's **test** split (``backend.data.corpus``); if no corpus is built, five CMU clips from two
skeletons (``cmu_bvh_mb_friendly`` 02_01 walk, 05_06 dance; ``cmu_bvh11_max`` 131_01/131_02 walk, 131_03 hop),
brought to the canonical skeleton with :func:`backend.retarget.api.to_canonical`, resampled to 30 fps and grounded.
The character files and the fallback clips are read from ``--data`` (default ``../shared/data``; the tests pass the
small copies in ``tests/fixtures/data``, which keep the same relative paths).

Characters (each placed standing on z = 0, as an artist's scene has them): Anny Mixamo adult / child, Anny CMU-named
heavy, Quaternius male and robot (Blender .L/.R, IK-parented feet), the VRM humanoid sample, Rigify's generated rig
(written on its FK controls), the canonical SMPL skeleton, the CMU BVH skeleton.

Methods, all in the same run on the same clips and bone maps:

* ``motionloom``: :func:`backend.retarget.api.from_canonical` (rest-offset transfer + contact cleanup);
* ``motionloom_no_cleanup``: the transfer alone (shows what the contact cleanup adds);
* ``naive``: per-bone Copy Rotation + Copy Location on the hips (:mod:`backend.retarget.naive`).

Metrics per character (frame-weighted over clips), all measured on the target's world joint positions:

* ``foot_skate_cm_s``: mean horizontal speed (cm/s) of the target's ankles and toes on the frames where the
  *source's* ankle / toe is planted (contacts of :mod:`backend.motion.contacts`);
* ``penetration_cm``: mean over frames of the deepest foot joint's depth below its rest height over the floor (cm);
* ``ee_error``: mean distance of the target's ankles and wrists from the source's, scaled into the target's world
  (``ground_d + s C (p_s - ground_s)``), divided by the target's leg length;
* ``roundtrip_deg``: canonical -> rig -> canonical, mean angle (degrees) between original and returned local
  rotations of the 22 canonical joints (transfer only: the cleanup edits legs on purpose;
  ``roundtrip_with_cleanup_deg`` reports the round trip through the cleaned result, ``roundtrip_mapped_deg`` only
  over the canonical joints the rig has bones for, ``roundtrip_world_deg`` on world rotations;
  ``roundtrip_position_cm`` the mean joint position distance and ``roundtrip_extremities_cm_max`` the largest of the
  head, wrists and ankles: where the round trip's angles land in the picture).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..paths import SHARED_DATA as DATA
from ..paths import TESTS

FIXTURES = TESTS / "fixtures" / "rigs"

FALLBACK_CLIPS = [("cmu_bvh_mb_friendly/bvh/02_01.bvh", "walk"), ("cmu_bvh_mb_friendly/bvh/05_06.bvh", "dance"),
                  ("cmu_bvh11_max/bvh/131_01.bvh", "start walk stop"), ("cmu_bvh11_max/bvh/131_02.bvh", "start walk stop"),
                  ("cmu_bvh11_max/bvh/131_03.bvh", "start hop stop")]


def register(subparsers):
    p = subparsers.add_parser("retarget", help="retarget held-out clips onto real characters (MotionLoom vs naive)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print the full results as JSON")
    p.add_argument("--characters", nargs="*", help="subset of character names")
    p.add_argument("--max-clips", type=int, default=None, help="use at most this many test clips")
    p.add_argument("--max-frames", type=int, default=600, help="cut each clip to this many frames (30 fps)")
    p.add_argument("--figure", type=str, default=None, help="write a side-by-side picture (PNG) here")
    p.add_argument("--out", type=str, default=None, help="also write the JSON results to this file")
    p.add_argument("--data", type=Path, default=DATA,
                   help="folder with the characters and fallback clips, laid out as ../shared/data (its default)")
    p.set_defaults(func=main)


# ------------------------------------------------------------------------------------------------ characters
def _standing(rig):
    """The same rig moved so its rest pose's lowest joint is at z = 0 (floor at z = 0)."""
    from ..retarget.rig import Rig
    lift = -float(rig.skeleton.rest_positions()[:, 2].min())
    mw = rig.matrix_world
    mw[2, 3] += lift
    names, parents = rig.caller_hierarchy()
    rest = rig.reorder_to_caller(rig.rest_local, axis=0)
    tails = None if rig.tails is None else rig.reorder_to_caller(rig.to_armature_space(rig.tails), axis=0)
    out = Rig.from_matrices(names, parents, rest, matrix_world=mw, tails=tails,
                            controls=rig.controls, name=rig.name)
    out.floor = 0.0
    return out


def character_loaders(data: Path = DATA) -> dict:
    from ..motion.formats.bvh import load_bvh
    from ..motion.skeleton import CANONICAL, Skeleton
    from ..retarget.rig import Rig
    from ..retarget.rig_files import load_rig

    def bvh_standing():
        sk = load_bvh(data / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh").skeleton
        off = sk.offsets.copy()
        off[0, 2] -= sk.rest_positions()[:, 2].min()
        r = Rig.from_skeleton(Skeleton(sk.names, sk.parents, off, sk.end_sites), "cmu_bvh_mb_friendly")
        r.floor = 0.0
        return r

    def canonical():
        r = Rig.from_skeleton(CANONICAL, "smpl_canonical")
        r.floor = 0.0
        return r

    anny = data / "anny_characters"
    return {
        "anny_mixamo_adult_m": lambda: _standing(load_rig(anny / "anny_mixamo_adult_m.glb")),
        "anny_mixamo_child": lambda: _standing(load_rig(anny / "anny_mixamo_child.glb")),
        "anny_cmu_mb_heavy_f": lambda: _standing(load_rig(anny / "anny_cmu_mb_heavy_f.glb")),
        "quaternius_male": lambda: _standing(load_rig(FIXTURES / "quaternius_male_casual.json")),
        "quaternius_robot": lambda: _standing(load_rig(FIXTURES / "quaternius_robot.json")),
        "vrm_humanoid": lambda: _standing(load_rig(data / "vrm_humanoid_fixture" /
                                                   "VRMC_vrm_expressions_isBinary_Overrides.vrm")),
        "rigify_basic_human": lambda: _standing(load_rig(FIXTURES / "rigify_basic_human.json")),
        "smpl_canonical": canonical,
        "cmu_bvh_mb_friendly": bvh_standing,
    }


# ------------------------------------------------------------------------------------------------------ clips
def test_clips(max_clips=None, max_frames=600, data: Path = DATA) -> tuple[list, str]:
    """[(clip id, canonical Motion)], description of where they came from."""
    clips, source = [], ""
    try:
        from ..data.corpus import load_corpus  # lands with the corpus issue
        corpus = load_corpus(split="test")
        clips = [(c.id, c.motion) for c in corpus.clips]
        source = "corpus test split"
    except (ImportError, FileNotFoundError, OSError):
        from ..retarget.api import to_canonical
        from ..retarget.rig_files import bvh_rig_and_pose
        for rel, _ in FALLBACK_CLIPS[:max_clips] if max_clips else FALLBACK_CLIPS:
            rig, pose = bvh_rig_and_pose(data / rel, fps=30.0)
            clips.append((Path(rel).stem, to_canonical(rig, pose).motion.grounded()))
        source = "CMU BVH fallback (corpus not available)"
    if max_clips:
        clips = clips[:max_clips]
    clips = [(cid, m.slice(0, max_frames) if m.num_frames > max_frames else m) for cid, m in clips]
    return clips, source


# ---------------------------------------------------------------------------------------------------- metrics
def foot_joints(prep):
    """Driving-skeleton indices of the target's (ankle, toe-or-None) per side, and of its wrists."""
    drv = prep.driving
    feet = []
    for s in ("left", "right"):
        a = drv.index(prep.mapping[f"{s}_ankle"])
        t = prep.mapping.get(f"{s}_foot")
        feet.append((a, drv.index(t) if t is not None else None))
    hands = [drv.index(prep.mapping[f"{s}_wrist"]) for s in ("left", "right") if f"{s}_wrist" in prep.mapping]
    return feet, hands


def clip_metrics(prep, al, src, out, contacts) -> dict:
    """Metrics of one retargeted clip (sums and counts, so clips can be frame-weighted)."""
    from ..motion.contacts import horizontal_speed
    from ..motion.rotations import np_quat_apply
    drv = prep.driving
    p_dst = out.positions()
    p_src = src.positions()
    ground = prep.ground
    rest = drv.rest_positions()
    feet, _hands = foot_joints(prep)
    sk_s = src.skeleton
    # skating on source-planted frames
    skate_sum, skate_n = 0.0, 0
    depth = np.zeros(out.num_frames)
    for k, (a, t) in enumerate(feet):
        for col, j in ((0, a), (1, t)):
            if j is None:
                continue
            sp = horizontal_speed(p_dst[:, [j]], out.fps)[:, 0]
            c = contacts[:, k, col]
            skate_sum += float(sp[c].sum())
            skate_n += int(c.sum())
            clear = rest[j, 2] - ground
            depth = np.maximum(depth, np.maximum(0.0, ground + clear - p_dst[:, j, 2]))
    # end effectors against the scaled source
    pairs = [(drv.index(prep.mapping[f"{s}_{j}"]), sk_s.index(f"{s}_{j}")) for s in ("left", "right")
             for j in ("ankle", "wrist") if f"{s}_{j}" in prep.mapping]
    ref = np_quat_apply(al.heading, p_src - np.array([0, 0, al.src_ground])) * al.scale + np.array([0, 0, ground])
    leg = sum(np.linalg.norm(rest[drv.index(prep.mapping[f"left_{a}"])] - rest[drv.index(prep.mapping[f"left_{b}"])])
              for a, b in (("hip", "knee"), ("knee", "ankle")))
    ee = np.mean([np.linalg.norm(p_dst[:, d] - ref[:, s], axis=-1) for d, s in pairs], axis=0) / leg
    return {"skate_sum": skate_sum, "skate_n": skate_n, "depth_sum": float(depth.sum()), "ee_sum": float(ee.sum()),
            "frames": out.num_frames, "pops": foot_pops(prep, src, out), "below": below_floor(prep, out)}


def foot_pops(prep, src, out, factor: float = 3.0, floor_deg: float = 3.0) -> int:
    """Frames on which a target ankle turns (world rotation, frame to frame) more than ``factor`` times its source
    ankle's turn and more than ``floor_deg`` degrees: the one-frame snaps a contact cleanup must not make."""
    from ..motion.rotations import np_quat_angle
    g_out = out.global_rotations_and_positions()[0]
    g_src = src.global_rotations_and_positions()[0]
    drv, sk = prep.driving, src.skeleton
    bad = np.zeros(max(out.num_frames - 1, 0), bool)
    for s in ("left", "right"):
        a, b = drv.index(prep.mapping[f"{s}_ankle"]), sk.index(f"{s}_ankle")
        turn = np.degrees(np_quat_angle(g_out[1:, a], g_out[:-1, a]))
        ref = np.degrees(np_quat_angle(g_src[1:, b], g_src[:-1, b]))
        bad |= (turn > factor * ref) & (turn > floor_deg)
    return int(bad.sum())


def below_floor(prep, out) -> float:
    """Deepest any body point (bone head or leaf tail) goes below the floor over the clip (m; a point whose rest
    height is under the floor, from there)."""
    from ..retarget.api import floor_points
    from ..retarget.cleanup import point_heights
    pts, low = floor_points(prep, feet_at_rest_height=False)
    return float(max(0.0, (low[None, :] - point_heights(out, pts)).max()))


def roundtrip_deg(a, b, joints=None, world=False) -> float:
    """Mean angle (degrees) between the local (or world) rotations of two canonical motions (all joints, or
    ``joints``)."""
    from ..motion.rotations import np_quat_angle
    if world:
        err = np.degrees(np_quat_angle(a.global_rotations_and_positions()[0], b.global_rotations_and_positions()[0]))
    else:
        err = np.degrees(np_quat_angle(a.rotations, b.rotations))
    if joints is not None:
        err = err[:, [a.skeleton.index(j) for j in joints]]
    return float(err.mean())


EXTREMITIES = ("head", "left_wrist", "right_wrist", "left_ankle", "right_ankle")


def roundtrip_cm(a, b) -> tuple[float, float]:
    """What an artist sees of a round trip: (mean joint position distance in cm over frames and joints, and the
    largest distance of the head, wrists or ankles) between two canonical motions, positions by forward
    kinematics in the world."""
    pa, pb = a.positions(), b.positions()
    d = np.linalg.norm(pa - pb, axis=-1) * 100.0
    ext = [a.skeleton.index(j) for j in EXTREMITIES]
    return float(d.mean()), float(d[:, ext].max())


def evaluate(characters=None, max_clips=None, max_frames=600, log=print, data: Path = DATA,
             floor_work=True) -> dict:
    import torch
    torch.set_num_threads(1)
    from ..retarget.api import from_canonical, prepare, source_contacts, to_canonical
    from ..retarget.naive import naive_from_canonical, naive_to_canonical

    clips, source = test_clips(max_clips, max_frames, data)
    floor_clips = floor_work_clips(max_frames) if floor_work else []
    loaders = character_loaders(data)
    names = characters or list(loaders)
    unknown = [n for n in names if n not in loaders]
    if unknown:
        raise SystemExit(f"unknown characters {unknown}; known: {sorted(loaders)}")
    results = {}
    for name in names:
        t0 = time.time()
        rig = loaders[name]()
        prep = prepare(rig)
        acc = {m: {"skate_sum": 0.0, "skate_n": 0, "depth_sum": 0.0, "ee_sum": 0.0, "frames": 0, "pops": 0,
                   "below": 0.0, "rt": [],
                   "rt_clean": [], "rt_mapped": [], "rt_world": [], "rt_cm": [], "rt_ext_cm": 0.0} for m in ("motionloom", "motionloom_no_cleanup", "naive")}
        for cid, src in clips:
            contacts = source_contacts(src)
            full = from_canonical(rig, src, prepared=prep)
            bare = from_canonical(rig, src, prepared=prep, contact_cleanup_on=False)
            npose, nmot = naive_from_canonical(prep, src)
            for key, res_motion in (("motionloom", full.motion), ("motionloom_no_cleanup", bare.motion),
                                    ("naive", nmot)):
                m = clip_metrics(prep, full.alignment, src, res_motion, contacts)
                for k, v in m.items():
                    acc[key][k] = max(acc[key][k], v) if k == "below" else acc[key][k] + v
            n = src.num_frames
            back = to_canonical(rig, bare.pose, prepared=prep).motion
            acc["motionloom"]["rt"].append((roundtrip_deg(src, back), n))
            acc["motionloom"]["rt_mapped"].append((roundtrip_deg(src, back, list(prep.bone_map.mapping())), n))
            acc["motionloom"]["rt_world"].append((roundtrip_deg(src, back, world=True), n))
            cm_mean, cm_ext = roundtrip_cm(src, back)
            acc["motionloom"]["rt_cm"].append((cm_mean, n))
            acc["motionloom"]["rt_ext_cm"] = max(acc["motionloom"]["rt_ext_cm"], cm_ext)
            acc["motionloom"]["rt_clean"].append((roundtrip_deg(src, to_canonical(rig, full.pose,
                                                                                   prepared=prep).motion), n))
            acc["motionloom_no_cleanup"]["rt"] = acc["motionloom"]["rt"]
            acc["naive"]["rt"].append((roundtrip_deg(src, naive_to_canonical(prep, npose)), n))
        out = {}
        for key, a in acc.items():
            w = sum(n for _, n in a["rt"])
            out[key] = {
                "foot_skate_cm_s": round(100 * a["skate_sum"] / max(a["skate_n"], 1), 3),
                "penetration_cm": round(100 * a["depth_sum"] / max(a["frames"], 1), 3),
                "ee_error": round(a["ee_sum"] / max(a["frames"], 1), 4),
                "roundtrip_deg": round(sum(r * n for r, n in a["rt"]) / max(w, 1), 3),
                "foot_pop_frames": int(a["pops"]),
                "below_floor_cm_max": round(100 * a["below"], 2),
            }
            if a["rt_clean"]:
                out[key]["roundtrip_with_cleanup_deg"] = round(sum(r * n for r, n in a["rt_clean"]) / max(w, 1), 3)
                out[key]["roundtrip_mapped_deg"] = round(sum(r * n for r, n in a["rt_mapped"]) / max(w, 1), 3)
                out[key]["roundtrip_world_deg"] = round(sum(r * n for r, n in a["rt_world"]) / max(w, 1), 3)
                out[key]["roundtrip_position_cm"] = round(sum(r * n for r, n in a["rt_cm"]) / max(w, 1), 3)
                out[key]["roundtrip_extremities_cm_max"] = round(a["rt_ext_cm"], 3)
        if floor_clips:
            out["floor_work"] = _floor_work(rig, prep, floor_clips)
        ml, nv = out["motionloom"], out["naive"]
        out["skate_ratio_vs_naive"] = round(ml["foot_skate_cm_s"] / max(nv["foot_skate_cm_s"], 1e-9), 3)
        out["bones"] = len(rig.names)
        out["scale"] = round(float(full.alignment.scale), 4)
        out["bone_map"] = {c: b for c, b in prep.mapping.items()}
        results[name] = out
        log(f"[eval retarget] {name}: skate {ml['foot_skate_cm_s']:.2f} vs naive {nv['foot_skate_cm_s']:.2f} cm/s, "
            f"round trip {ml['roundtrip_deg']:.2f} deg ({time.time() - t0:.1f} s)")
    return {"source": source, "clips": [cid for cid, _ in clips], "frames": int(sum(m.num_frames for _, m in clips)),
            "floor_work_clips": [cid for cid, _ in floor_clips], "characters": results}


FLOOR_WORK = ("deepmimic/crawl", "deepmimic/getup_facedown", "deepmimic/roll")


def floor_work_clips(max_frames=600) -> list:
    """Floor work from the corpus (any split): a crawl, a get-up from lying face down, a forward roll. [] without a
    corpus."""
    try:
        from ..data.corpus import load_corpus
        corpus = load_corpus()
    except (ImportError, FileNotFoundError, OSError):
        return []
    out = []
    for cid in FLOOR_WORK:
        try:
            m = corpus.by_id(cid).motion
        except KeyError:
            continue
        out.append((cid, m.slice(0, max_frames) if m.num_frames > max_frames else m))
    return out


def _floor_work(rig, prep, clips) -> dict:
    """Feet and floor on the floor-work clips: pops, deepest point below the floor, skating, foot penetration."""
    from ..retarget.api import from_canonical, source_contacts
    from ..retarget.naive import naive_from_canonical
    acc = {k: {"pops": 0, "below": 0.0, "skate_sum": 0.0, "skate_n": 0, "depth_sum": 0.0, "frames": 0}
           for k in ("motionloom", "motionloom_no_cleanup", "naive")}
    for _, src in clips:
        contacts = source_contacts(src)
        full = from_canonical(rig, src, prepared=prep)
        for key, mot in (("motionloom", full.motion),
                         ("motionloom_no_cleanup", from_canonical(rig, src, prepared=prep,
                                                                  contact_cleanup_on=False).motion),
                         ("naive", naive_from_canonical(prep, src)[1])):
            m = clip_metrics(prep, full.alignment, src, mot, contacts)
            a = acc[key]
            a["pops"] += m["pops"]
            a["below"] = max(a["below"], m["below"])
            for k in ("skate_sum", "skate_n", "depth_sum", "frames"):
                a[k] += m[k]
    return {key: {"foot_pop_frames": int(a["pops"]), "below_floor_cm_max": round(100 * a["below"], 2),
                  "foot_skate_cm_s": round(100 * a["skate_sum"] / max(a["skate_n"], 1), 3),
                  "penetration_cm": round(100 * a["depth_sum"] / max(a["frames"], 1), 3)} for key, a in acc.items()}


def markdown_table(res: dict) -> str:
    rows = [("| character | bones | method | foot skate (cm/s) | penetration (cm) | end-effector error (/leg) | "
            "round trip (deg) |"), "|---|---|---|---|---|---|---|"]
    for name, r in res["characters"].items():
        for key, label in (("motionloom", "MotionLoom"), ("motionloom_no_cleanup", "transfer only"),
                           ("naive", "naive copy")):
            m = r[key]
            rows.append(f"| {name} | {r['bones']} | {label} | {m['foot_skate_cm_s']:.2f} | {m['penetration_cm']:.2f} "
                        f"| {m['ee_error']:.3f} | {m['roundtrip_deg']:.2f} |")
    return "\n".join(rows)


def _draw_rows(rows, path, frames=7, title=""):
    """rows: [(label, positions (T,J,3), parents, scale, floor)]; each row drawn at canonical size (positions divided
    by the row's scale), side view (forward to the right), poses one metre apart, floor line at each row's floor."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.6 * frames, 2.3 * len(rows)), squeeze=False)
    for ax, (label, pos, parents, scale, floor, color) in zip(axes[:, 0], rows):
        idx = np.linspace(0, len(pos) - 1, frames).round().astype(int)
        for k, t in enumerate(idx):
            p = (pos[t] - np.array([0, 0, floor])) / scale
            x = -p[:, 1] + p[:, 1].mean() + k * 1.0  # each pose centred on its own joints
            for j, par in enumerate(parents):
                if par >= 0:
                    ax.plot([x[par], x[j]], [p[par, 2], p[j, 2]], color=color(j), lw=1.5)
            ax.text(k * 1.0, -0.16, str(t), ha="center", fontsize=7, color="#666")
        ax.axhline(0.0, color="#999", lw=0.6)
        ax.set_aspect("equal")
        ax.set_xlim(-0.7, frames - 0.3)
        ax.set_ylim(-0.25, 2.0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=9, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)


def draw_figure(path, clip_index=0, characters=("anny_mixamo_child", "quaternius_male", "rigify_basic_human"),
                data: Path = DATA):
    """Source clip and its retargets (MotionLoom and naive) side by side, each row at canonical size, legs and
    spine only coloured by side (left red, right blue)."""
    from ..retarget.api import from_canonical, prepare
    from ..retarget.naive import naive_from_canonical
    clips, _ = test_clips(max_clips=clip_index + 1, max_frames=90, data=data)
    cid, src = clips[clip_index]

    def colours(names):
        def c(j):
            n = names[j].lower()
            if "left" in n or n.endswith((".l", "_l")) or n.startswith(("l_", "lhip", "lthumb")):
                return "#d62728"
            if "right" in n or n.endswith((".r", "_r")) or n.startswith(("r_", "rhip", "rthumb")):
                return "#1f77b4"
            return "#333333"
        return c

    rows = [(f"source: CMU {cid} on the canonical SMPL skeleton", src.positions(), src.skeleton.parents, 1.0,
             0.0, colours(src.skeleton.names))]
    loaders = character_loaders(data)
    for name in characters:
        rig = loaders[name]()
        prep = prepare(rig)
        res = from_canonical(rig, src, prepared=prep)
        naive = naive_from_canonical(prep, src)[1]
        drv = prep.driving
        s = res.alignment.scale
        # draw the bones that carry the motion (mapped, chain, location bones), each joined to its nearest drawn
        # ancestor: IK poles, props and finger tips would only clutter the picture
        keep = [drv.index(b) for b in prep.written if b in drv.index_of]
        keep_set = set(keep)
        parents = []
        for j in keep:
            p = drv.parents[j]
            while p >= 0 and p not in keep_set:
                p = drv.parents[p]
            parents.append(keep.index(p) if p >= 0 else -1)
        names = [drv.names[j] for j in keep]
        for label, m in ((f"{name} ({len(rig.names)} bones): MotionLoom", res.motion),
                         (f"{name}: naive Copy Rotation + Copy Location", naive)):
            rows.append((label, m.positions()[:, keep], parents, s, prep.ground, colours(names)))
    return _draw_rows(rows, path, title="retargeting: source and targets side by side (each row at canonical size)")


def main(args) -> int:
    res = evaluate(args.characters, args.max_clips, args.max_frames,
                   log=lambda s: print(s, file=sys.stderr), data=args.data)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    if args.figure:
        draw_figure(args.figure, data=args.data)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"source: {res['source']} ({res['frames']} frames)")
        print(markdown_table(res))
    return 0
