"""Bone maps: which rig bone plays each canonical joint.

First version: exact-alias matching after normalising names (prefixes such as ``mixamorig:``, ``DEF-``,
``CC_Base_``; sides written Left/L_/.L/_l). The retargeting issue generalises this with fuzzy matching and chain
topology; the interface (``auto_bone_map(names, parents) -> BoneMap``) stays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..motion.skeleton import CANONICAL_JOINTS

# canonical joint -> aliases (normalised: lower case, no side, no separators); side handled separately
_ALIASES: dict[str, list[str]] = {
    "pelvis": ["hips", "hip", "pelvis", "root", "bip01pelvis", "hipsjoint"],
    "hip": ["upleg", "upperleg", "thigh", "femur", "hip", "leftupleg"],
    "knee": ["leg", "lowerleg", "calf", "shin", "knee", "tibia"],
    "ankle": ["foot", "ankle"],
    "foot": ["toebase", "toe", "toes", "ball", "foottoe"],
    "spine1": ["spine", "lowerback", "abdomen", "spine01", "waist", "spine1"],
    "spine2": ["spine1", "spine02", "chest", "spine2", "upperback"],
    "spine3": ["spine2", "upperchest", "chest2", "spine3", "torso", "thorax", "spine03"],
    "neck": ["neck", "neck1", "lowerneck", "necktwist01"],
    "head": ["head"],
    "collar": ["shoulder", "clavicle", "collar"],
    "shoulder": ["arm", "upperarm", "humerus", "shoulder"],
    "elbow": ["forearm", "lowerarm", "elbow", "radius"],
    "wrist": ["hand", "wrist", "palm"],
}


@dataclass
class BoneMap:
    """canonical joint -> (bone or None, confidence in [0,1])."""
    entries: dict[str, tuple[str | None, float]] = field(default_factory=dict)

    def mapping(self, min_confidence: float = 0.0) -> dict[str, str]:
        return {c: b for c, (b, conf) in self.entries.items() if b is not None and conf >= min_confidence}

    def to_list(self) -> list[dict]:
        return [{"canonical": c, "bone": b, "confidence": round(float(conf), 3)}
                for c, (b, conf) in self.entries.items()]


_PREFIXES = re.compile(r"^(mixamorig\d*[:_]|def-|org-|mch-|cc_base_|bip0?1[ _]?|b_|bn_|j_|jnt_|rl_|valvebiped\.bip01_)",
                       re.I)


def split_side(name: str) -> tuple[str | None, str]:
    """('left'|'right'|None, normalised core name)."""
    n = _PREFIXES.sub("", name)
    side = None
    pats = [(r"(?i)left", "left"), (r"(?i)right", "right"), (r"[._]L$|^L_|_L_", "left"), (r"[._]R$|^R_|_R_", "right"),
            (r"[._]l$|^l_", "left"), (r"[._]r$|^r_", "right"), (r"^L(?=[A-Z])", "left"), (r"^R(?=[A-Z])", "right"),
            (r"^l(?=(hip|femur|tibia|foot|toes|clavicle|humerus|radius|wrist|hand|fingers|thumb))", "left"),
            (r"^r(?=(hip|femur|tibia|foot|toes|clavicle|humerus|radius|wrist|hand|fingers|thumb))", "right")]
    for pat, s in pats:
        if re.search(pat, n):
            side = s
            n = re.sub(pat, "", n, count=1)
            break
    core = re.sub(r"[^a-z0-9]", "", n.lower())
    return side, core


def auto_bone_map(names: list[str], parents: list[int] | None = None) -> BoneMap:
    """Map canonical joints to bones by alias; the first alias hit in alias order wins (confidence 1.0 for the
    first alias, lower for later ones)."""
    parsed = [(n,) + split_side(n) for n in names]
    out = BoneMap()
    used: set[str] = set()
    for joint in CANONICAL_JOINTS:
        side = "left" if joint.startswith("left_") else "right" if joint.startswith("right_") else None
        key = joint.split("_", 1)[1] if side else joint
        best = (None, 0.0)
        for rank, alias in enumerate(_ALIASES.get(key, [])):
            hits = [n for n, s, core in parsed if s == side and core == alias and n not in used]
            if hits:
                best = (hits[0], max(0.5, 1.0 - 0.1 * rank))
                break
        if best[0]:
            used.add(best[0])
        out.entries[joint] = best
    return out
