"""Text descriptions for clips: the CMU motion index, and hand-written sentences for named game/DeepMimic clips."""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

CMU_INDEX = Path(__file__).parent / "resources" / "cmu_index_descriptions.csv"


@lru_cache(maxsize=1)
def cmu_index() -> dict[str, str]:
    """'SS_TT' (two-digit subject and trial, e.g. '02_01') -> CMU's description."""
    out = {}
    with open(CMU_INDEX, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            try:
                s, t = int(row["Subject"]), int(row["Trial #"])
            except (KeyError, ValueError):
                continue
            desc = (row.get("Motion Description") or "").strip()
            if desc:
                out[f"{s:02d}_{t:02d}"] = desc
    return out


def cmu_take_from_name(name: str) -> str | None:
    """Parse a CMU take id from a file name: '02_01.bvh', '002_01.bvh', '07_01_cmu.fbx', '131_03' -> 'SS_TT'."""
    m = re.match(r"^0*(\d+)_0*(\d+)", Path(name).stem)
    if not m:
        return None
    return f"{int(m.group(1)):02d}_{int(m.group(2)):02d}"


# Hand-written descriptions (what the clip shows, checked against its preview).
DEEPMIMIC_TEXTS = {
    "backflip": ["a person does a backflip", "backflip"],
    "cartwheel": ["a person does a cartwheel", "cartwheel"],
    "crawl": ["a person crawls forward on hands and knees", "crawl"],
    "dance_a": ["a person dances, swinging the arms", "dance"],
    "dance_b": ["a person dances energetically", "dance"],
    "getup_facedown": ["a person lying face down gets up", "get up from the ground"],
    "getup_faceup": ["a person lying on their back gets up", "get up from the ground"],
    "jog": ["a person jogs forward", "jog"],
    "jump": ["a person jumps forward", "jump"],
    "kick": ["a person kicks with the right leg", "kick"],
    "punch": ["a person punches with the right arm", "punch"],
    "roll": ["a person does a forward roll on the ground", "roll"],
    "run": ["a person runs forward", "run"],
    "sideflip": ["a person does a side flip", "side flip"],
    "spin": ["a person spins around in place", "spin"],
    "spinkick": ["a person spins and kicks", "spin kick"],
    "stealthy_walk": ["a person sneaks forward stealthily", "stealthy walk"],
    "walk": ["a person walks forward", "walk"],
    "zombie_walk": ["a person walks like a zombie with arms stretched out", "zombie walk"],
    "dance_spin": ["a person dances and spins", "dance spin"],
}

QUATERNIUS_TEXTS = {
    "Clapping": ["a person claps their hands", "clapping"],
    "Death": ["a person is hit and falls to the ground", "death"],
    "Idle": ["a person stands idle", "idle"],
    "Jump": ["a person jumps in place", "jump"],
    "Punch": ["a person punches", "punch"],
    "Run": ["a person runs forward", "run"],
    "Running": ["a person runs forward", "run"],
    "RunningJump": ["a person runs and jumps", "running jump"],
    "Sitting": ["a person sits", "sitting"],
    "Standing": ["a person stands up", "standing up"],
    "SwordSlash": ["a person slashes with a sword", "sword slash"],
    "Walk": ["a person walks forward", "walk"],
    "Walking": ["a person walks forward", "walk"],
    "WalkJump": ["a person walks and jumps", "walk and jump"],
    "Dance": ["a person dances", "dance"],
    "No": ["a person shakes their head no", "no"],
    "Yes": ["a person nods yes", "yes"],
    "ThumbsUp": ["a person gives a thumbs up", "thumbs up"],
    "Wave": ["a person waves with one hand", "wave"],
}
