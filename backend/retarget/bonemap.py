"""Bone maps: which rig bone plays each canonical (SMPL 22) joint, found from names *and* the bone tree.

Names alone fail on real rigs: CMU's 3dsMax skeleton calls the upper arm ``LeftShoulder`` (Mixamo's collar name),
Character Creator has a ``CC_Base_Pelvis`` that only carries the legs, Quaternius parents its feet to the root (IK
targets), Rigify's deform bones are ``DEF-spine.003``. So :func:`auto_bone_map` works in three steps:

1. **Names**: every bone name is normalised (prefixes ``mixamorig:``, ``DEF-``, ``CC_Base_``, ``Bip01``, ...;
   sides ``Left``/``L_``/``.L``/``_l``/``l`` prefix, or the rest position's X when the name has no side) and scored
   against aliases of each body part (exact 1.0, alias + number or filler 0.9-0.95, close spelling up to 0.8;
   twist/roll/IK/pole/end/helper bones are down-weighted).
2. **Anchors from topology**: the pelvis is the lowest common ancestor of both knees and the head (so a "Pelvis"
   bone that only carries the legs is not taken); the chest (canonical ``spine3``) is the common ancestor of both
   hands; the spine is the chain between them (2 to 5 bones: first -> ``spine1``, last -> ``spine3``, middle ->
   ``spine2``); the neck is the first bone above the chest on the way to the head (none if the head sits on the
   chest).
3. **Chains**: each limb is the tree path from its anchor out to its farthest leaf; its joints (collar, upper arm,
   forearm, hand / thigh, shin, foot, toe) are placed along that path by maximising name scores plus
   proportion priors (upper arm ~ forearm, thigh ~ shin, a hip sits off the mid-line). Bones off the path (twist
   bones, poles) are never taken. A foot that is not below its shin (IK-parented feet) is found by name on the same
   side and marked with a lower confidence.

Every entry carries a confidence in [0, 1]. User overrides (canonical joint -> bone) are taken as given with
confidence 1. :meth:`BoneMap.save` / :meth:`BoneMap.load` keep maps as JSON.

The interface ``auto_bone_map(names, parents) -> BoneMap`` and ``BoneMap.mapping()/to_list()`` are stable.
"""
from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..motion.skeleton import CANONICAL_JOINTS, ancestors, descendants
from .chain_dp import assign_chain as _assign_chain

# the joints every retarget needs and that the mapping quality is judged on ("major bones")
MAJOR_JOINTS: tuple[str, ...] = (
    "pelvis", "spine1", "spine3", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
)


class BoneMapError(ValueError):
    """A bone list that cannot be mapped (duplicates, cycles, bad overrides, unreadable map file)."""


# ------------------------------------------------------------------------------------------------ the map
@dataclass
class BoneMap:
    """canonical joint -> (bone or None, confidence in [0,1]). ``how`` says where each entry came from."""
    entries: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)  # "override" | "names+topology" | "topology" | "detached"

    def mapping(self, min_confidence: float = 0.0) -> dict[str, str]:
        return {c: b for c, (b, conf) in self.entries.items() if b is not None and conf >= min_confidence}

    def to_list(self) -> list[dict]:
        return [{"canonical": c, "bone": b, "confidence": round(float(conf), 3)}
                for c, (b, conf) in self.entries.items()]

    def bone(self, joint: str) -> str | None:
        return self.entries.get(joint, (None, 0.0))[0]

    def confidence(self, joint: str) -> float:
        return float(self.entries.get(joint, (None, 0.0))[1])

    def missing(self, joints=MAJOR_JOINTS) -> list[str]:
        return [j for j in joints if self.bone(j) is None]

    # ------------------------------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {"format": "motionloom-bonemap", "version": 1,
                "entries": [{"canonical": c, "bone": b, "confidence": round(float(conf), 4),
                             "how": self.how.get(c, "")} for c, (b, conf) in self.entries.items()]}

    @classmethod
    def from_dict(cls, d: dict) -> BoneMap:
        if not isinstance(d, dict) or d.get("format") != "motionloom-bonemap":
            raise BoneMapError("not a MotionLoom bone map (missing format: motionloom-bonemap)")
        out = cls()
        for e in d.get("entries", []):
            c = e.get("canonical")
            if c not in CANONICAL_JOINTS:
                raise BoneMapError(f"bone map names unknown canonical joint {c!r}")
            conf = float(e.get("confidence", 1.0))
            if not 0.0 <= conf <= 1.0:
                raise BoneMapError(f"confidence of {c!r} must be in [0, 1], got {conf}")
            out.entries[c] = (e.get("bone"), conf)
            out.how[c] = e.get("how", "")
        return out

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path) -> BoneMap:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise BoneMapError(f"cannot read bone map {path}: {e}") from None
        return cls.from_dict(d)

    def with_overrides(self, overrides: dict[str, str] | None, bones=None) -> BoneMap:
        """Apply user overrides (canonical -> bone, taken as given, confidence 1). A bone an override claims is
        removed from any other joint it was auto-mapped to."""
        out = BoneMap(dict(self.entries), dict(self.how))
        for c, b in (overrides or {}).items():
            if c not in CANONICAL_JOINTS:
                raise BoneMapError(f"override names unknown canonical joint {c!r} (known: {', '.join(CANONICAL_JOINTS)})")
            if b is not None and bones is not None and b not in bones:
                raise BoneMapError(f"override sends {c!r} to {b!r}, which is not a bone of this rig")
            for other, (ob, _) in list(out.entries.items()):
                if ob == b and other != c and b is not None:
                    out.entries[other] = (None, 0.0)
                    out.how[other] = "displaced by override"
            out.entries[c] = (b, 1.0)
            out.how[c] = "override"
        return out


# --------------------------------------------------------------------------------------------- names
_NAMESPACE = re.compile(r"^(?:[^:|]*[:|])+")  # mixamorig:, Armature|, Character:Skeleton:
_PREFIX = re.compile(r"^(?:mixamorig\d*[:_]?|def[-_.]|org[-_.]|mch[-_.]|cc_base_|bip0*1[ _]?|"
                     r"valvebiped\.bip01_|b_|bn_|j_|jnt_|c_|rig_|sk_)", re.IGNORECASE)
_SIDE_RULES = [
    (re.compile(r"left", re.IGNORECASE), "left"), (re.compile(r"right", re.IGNORECASE), "right"),
    (re.compile(r"(?:^|[._\-\s])L(?:$|[._\-\s\d])"), "left"), (re.compile(r"(?:^|[._\-\s])R(?:$|[._\-\s\d])"), "right"),
    (re.compile(r"(?:^|[._\-\s])l(?:$|[._\-\s\d])"), "left"), (re.compile(r"(?:^|[._\-\s])r(?:$|[._\-\s\d])"), "right"),
    (re.compile(r"^L(?=[A-Z])"), "left"), (re.compile(r"^R(?=[A-Z])"), "right"),
    (re.compile(r"[a-z]L$"), "left"), (re.compile(r"[a-z]R$"), "right"),
    (re.compile(r"^l(?=(?:hip|femur|tibia|foot|toe|clavicle|collar|humerus|radius|wrist|hand|finger|thumb|"
                r"shoulder|elbow|knee|ankle|arm|leg|upleg|forearm|thigh|shin|calf))", re.IGNORECASE), "left"),
    (re.compile(r"^r(?=(?:hip|femur|tibia|foot|toe|clavicle|collar|humerus|radius|wrist|hand|finger|thumb|"
                r"shoulder|elbow|knee|ankle|arm|leg|upleg|forearm|thigh|shin|calf))", re.IGNORECASE), "right"),
]


def split_side(name: str, prefix: str = "") -> tuple[str | None, str]:
    """('left'|'right'|None, normalised core name: lower case letters and digits, prefix and side removed).
    ``prefix``: a prefix the rig's names share (:func:`shared_prefix`), removed first (after any namespace)."""
    n = _NAMESPACE.sub("", name)
    if prefix and n.startswith(prefix) and len(n) > len(prefix):
        n = n[len(prefix):]
    n = _PREFIX.sub("", n)
    side = None
    for pat, s in _SIDE_RULES:
        m = pat.search(n)
        if m:
            side = s
            n = n[:m.start()] + re.sub(r"(?i)left|right|[LRlr]", "", m.group(0), count=1) + n[m.end():]
            break
    core = re.sub(r"[^a-z0-9]", "", n.lower())
    return side, core


def shared_prefix(names, min_share: float = 0.6) -> str:
    """A prefix that most bone names share and that names no body part or side (``Neo_``, ``Character1_``,
    ``Armature_``, ``Root_``): '' when there is none. Namespaces (``mixamorig:``, ``Armature|``) are removed before
    looking, and the prefix ends at a separator (``_ - . space``) or a lower-to-upper case step (``NeoHips``)."""
    cores = [_NAMESPACE.sub("", str(n)) for n in names]
    if len(cores) < 4:
        return ""
    counts: dict[str, int] = {}
    for n in set(cores):
        cuts = {m.end() for m in re.finditer(r"[_\-.\s]+", n)} | \
               {m.start() + 1 for m in re.finditer(r"[a-z0-9](?=[A-Z])", n)}
        for c in cuts:
            if 0 < c < len(n):
                counts[n[:c]] = counts.get(n[:c], 0) + 1
    need = min_share * len(set(cores))
    best = ""
    for pre, k in counts.items():
        if k < need or len(pre) <= len(best):
            continue
        side, core = split_side(pre)
        if side is not None:
            continue
        if core and max(name_score(r, core) for r in _ALIASES) >= 0.5:
            continue
        best = pre
    return best


_ALIASES: dict[str, list[str]] = {
    "pelvis": ["hips", "pelvis", "hip", "root", "cog", "hipsjoint", "pelvisroot"],
    "spine": ["spine", "lowerback", "upperback", "back", "abdomen", "waist", "chest", "torso", "thorax", "ribcage",
              "upperchest", "stomach", "belly"],
    "neck": ["neck", "lowerneck", "upperneck", "necklower", "cervical"],
    "head": ["head", "skull", "cranium"],
    "collar": ["clavicle", "collar", "shoulder", "collarbone", "clav", "scapula"],
    "shoulder": ["upperarm", "arm", "humerus", "shoulder", "uparm", "armupper", "bicep", "uarm"],
    "elbow": ["forearm", "lowerarm", "elbow", "radius", "ulna", "loarm", "armlower", "farm"],
    "wrist": ["hand", "wrist", "palm", "carpus"],
    "hip": ["upleg", "upperleg", "thigh", "femur", "hip", "legupper", "uleg", "thighleg"],
    "knee": ["leg", "lowerleg", "calf", "shin", "knee", "tibia", "crus", "leglower", "loleg", "shank"],
    "ankle": ["foot", "ankle", "tarsus", "heelfoot"],
    "toe": ["toebase", "toe", "toes", "ball", "foottoe", "toes1", "forefoot"],
}
_FILLERS = ("joint", "jnt", "bone", "def", "deform", "ctrl", "fk", "jt", "bn", "base", "main")
_PENALTY = ("twist", "roll", "share", "end", "nub", "ik", "pole", "target", "tweak", "helper", "socket", "attach",
            "weapon", "prop", "mch", "aux", "parent", "vis", "wgt", "offset", "dummy", "corrective", "adjust",
            "breast", "eye", "jaw", "tongue", "teeth", "hair", "tail", "ear")
_FINGER = ("finger", "thumb", "index", "middle", "mid", "ring", "pinky", "little", "carpal", "digit")
_ROLE_OF = {  # canonical joint -> (role, side)
    "pelvis": ("pelvis", None), "spine1": ("spine", None), "spine2": ("spine", None), "spine3": ("spine", None),
    "neck": ("neck", None), "head": ("head", None)}
for _s in ("left", "right"):
    for _j, _r in (("collar", "collar"), ("shoulder", "shoulder"), ("elbow", "elbow"), ("wrist", "wrist"),
                   ("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"), ("foot", "toe")):
        _ROLE_OF[f"{_s}_{_j}"] = (_r, _s)


def _has(core: str, tokens) -> bool:
    """Token test on a normalised name: long tokens anywhere, short ones (ear, end, mid) only as a whole word
    or a suffix, so that ``forearm`` is not an ear and ``legend`` ... is rare enough."""
    for t in tokens:
        if len(t) >= 4 and t in core:
            return True
        if len(t) < 4 and (core == t or re.search(rf"(?<![a-z]){t}(?![a-z])", core) or core.endswith(t)
                           and t in ("end", "nub")):
            return True
    return False


@functools.lru_cache(maxsize=65536)
def name_score(role: str, core: str) -> float:
    """How well a normalised bone name fits a body part (0..1). Pure, so cached."""
    if not core:
        return 0.0
    best = 0.0
    for rank, alias in enumerate(_ALIASES[role]):
        rank_w = 1.0 - 0.02 * rank
        if core == alias:
            s = 1.0
        elif re.fullmatch(re.escape(alias) + r"\d+", core) or re.fullmatch(r"\d+" + re.escape(alias), core):
            s = 0.9  # spine01, neck_1, palm2: the number says nothing about the part
        elif any(core == alias + f or core == f + alias for f in _FILLERS) or \
                re.fullmatch(re.escape(alias) + r"(?:" + "|".join(_FILLERS) + r")\d*", core):
            s = 0.9
        elif len(alias) >= 4 and (core.startswith(alias) or core.endswith(alias)):
            s = 0.6
        else:
            m = difflib.SequenceMatcher(None, core, alias)
            r = m.ratio() if m.real_quick_ratio() >= 0.85 and m.quick_ratio() >= 0.85 else 0.0
            s = 0.8 * r if r >= 0.85 else 0.0
        best = max(best, s * rank_w)
    if _has(core, _PENALTY):
        best *= 0.25
    if role in ("wrist", "elbow", "shoulder", "collar") and _has(core, _FINGER) and core not in ("palm", "hand"):
        best *= 0.2
    return best


# ----------------------------------------------------------------------------------------- tree helpers
class _Tree:
    def __init__(self, names, parents, positions):
        self.names = list(names)
        self.parents = [int(p) for p in parents]
        n = len(self.names)
        self.children = [[] for _ in range(n)]
        for j, p in enumerate(self.parents):
            if p >= 0:
                self.children[p].append(j)
        self.pos = None if positions is None else np.asarray(positions, np.float64)
        self.depth = [len(ancestors(self.parents, j)) for j in range(n)]
        if self.pos is not None:
            ext = self.pos.max(0) - self.pos.min(0)
            self.height = float(max(ext[2], 1e-6))
        else:
            self.height = 1.0

    def ancestors(self, j) -> list[int]:
        return ancestors(self.parents, j)

    def is_ancestor(self, a, j) -> bool:
        return a in self.ancestors(j)

    def lca(self, nodes) -> int | None:
        nodes = [n for n in nodes if n is not None]
        if not nodes:
            return None
        common = None
        for n in nodes:
            chain = [n] + self.ancestors(n)
            common = chain if common is None else [c for c in common if c in set(chain)]
        return common[0] if common else None

    def path(self, a, b) -> list[int]:
        """Bones from a (exclusive) down to b (inclusive); a must be an ancestor of b (or -1 for the root)."""
        out, k = [], b
        while k != a and k >= 0:
            out.append(k)
            k = self.parents[k]
        if k != a:
            return []
        return out[::-1]

    def subtree(self, j) -> list[int]:
        return [j] + descendants(self.children, j)

    def farthest_leaf(self, j, exclude=()) -> int:
        leaves = [k for k in self.subtree(j) if not self.children[k] and k not in exclude] or [j]
        if self.pos is not None:
            return max(leaves, key=lambda k: (np.linalg.norm(self.pos[k] - self.pos[j]), -k))
        return max(leaves, key=lambda k: (self.depth[k], -k))


# --------------------------------------------------------------------------------------------- mapping
def body_positions(positions: np.ndarray, parsed) -> np.ndarray:
    """Rest positions re-expressed about the body's own mid-line: x across (towards the left), y back, z up (kept),
    origin under the middle. The across axis and the mid-line come from bones named alike on both sides (the
    mid-points of ``UpperArm.L``/``UpperArm.R`` ...); with no such pairs, the mean of all bones and +X. A rig
    standing away from the origin, or turned, then reads the same as one at the origin facing -Y."""
    pos = np.asarray(positions, np.float64)
    by = {}
    for j, (side, core) in enumerate(parsed):
        if side is not None and core:
            by.setdefault((side, core), []).append(j)
    pairs = [(by[("left", c)][0], by[("right", c)][0]) for (sd, c) in by if sd == "left" and ("right", c) in by]
    across = np.array([1.0, 0.0, 0.0])
    if pairs:
        l, r = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        centre = 0.5 * (pos[l] + pos[r]).mean(0)
        a = (pos[l] - pos[r]).mean(0)
        a[2] = 0.0
        if np.linalg.norm(a) > 1e-9:
            across = a / np.linalg.norm(a)
    else:
        centre = pos.mean(0)
    back = np.cross(np.array([0.0, 0.0, 1.0]), across)  # across x up = forward; up x across = back
    rot = np.stack([across, back, [0.0, 0.0, 1.0]])  # rows: the new axes in world coordinates
    return (pos - np.array([centre[0], centre[1], 0.0])) @ rot.T


def _sides(tree: _Tree, parsed) -> list[str | None]:
    """Side of each bone: from its name, else from its rest position across the body, except for bones named as a
    centre part (a ``Head`` swaying off the mid-line in a rest pose that is a frame of motion is still the head)."""
    tol = 0.015 * tree.height
    out = []
    for j, (side, core) in enumerate(parsed):
        if side is None and tree.pos is not None and \
                max(name_score(r, core) for r in ("pelvis", "spine", "neck", "head")) < 0.8:
            x = tree.pos[j, 0]
            side = "left" if x > tol else "right" if x < -tol else None
        out.append(side)
    return out


def _best(cands, score) -> tuple[int | None, float]:
    best, best_s = None, 0.0
    for j in cands:
        s = score(j)
        if s > best_s + 1e-9:
            best, best_s = j, s
    return best, best_s


def _best_continuing(tree: _Tree, cands, score) -> tuple[int | None, float]:
    """Best-scoring bone; among near ties (three palms named alike), the one that best continues its parent's
    direction (the middle palm, not the index or little finger's)."""
    scored = [(score(j), j) for j in cands]
    scored = [(s, j) for s, j in scored if s > 0]
    if not scored:
        return None, 0.0
    top = max(s for s, _ in scored)
    ties = [j for s, j in scored if s >= top - 0.05]
    if len(ties) == 1 or tree.pos is None:
        return min(ties), top

    def straightness(j):
        p = tree.parents[j]
        if p < 0 or not tree.children[j]:
            return -1.0
        a = tree.pos[j] - tree.pos[p]
        b = tree.pos[tree.farthest_leaf(j)] - tree.pos[j]
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return float(a.dot(b) / (na * nb)) if na > 1e-9 and nb > 1e-9 else -1.0

    return max(ties, key=lambda j: (straightness(j), -j)), top


def auto_bone_map(names, parents=None, positions=None, overrides: dict[str, str] | None = None) -> BoneMap:
    """Map the canonical 22 joints onto a rig's bones (see module docstring).

    names: bone names; parents: parent index per bone (-1 for roots; any order); positions: optional (B,3) rest
    head positions in a Z-up, facing -Y world (enables proportion priors and sides for unsided names);
    overrides: canonical joint -> bone, taken as given.
    """
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise BoneMapError(f"duplicate bone name {dup!r}: bone names must be unique")
    if parents is None:
        parents = [-1] * len(names)
    parents = [int(p) for p in parents]
    if len(parents) != len(names):
        raise BoneMapError(f"{len(names)} bone names but {len(parents)} parents")
    for j, p in enumerate(parents):
        if p < -1 or p >= len(names) or p == j:
            raise BoneMapError(f"bone {names[j]!r} has an invalid parent index {p}")
    for j in range(len(names)):
        seen, k = set(), j
        while k >= 0:
            if k in seen:
                raise BoneMapError(f"cyclic parent chain through bone {names[j]!r}")
            seen.add(k)
            k = parents[k]
    if positions is not None:
        positions = np.asarray(positions, np.float64)
        if positions.shape != (len(names), 3) or not np.all(np.isfinite(positions)):
            raise BoneMapError(f"positions must be finite and of shape ({len(names)}, 3)")
    prefix = shared_prefix(names)
    parsed = [split_side(n, prefix) for n in names]
    if positions is not None:
        positions = body_positions(positions, parsed)
    tree = _Tree(names, parents, positions)
    side = _sides(tree, parsed)
    claimed = {b for b in (overrides or {}).values() if b is not None}
    free = [j for j in range(len(names)) if names[j] not in claimed]

    def score(role, j, want_side=None):
        if want_side is not None and side[j] != want_side:
            return 0.0
        if want_side is None and role in ("pelvis", "spine", "neck", "head") and parsed[j][0] is not None:
            return 0.0
        return name_score(role, parsed[j][1])

    out: dict[str, tuple[int | None, float, str]] = {}

    # ---- anchors: knees, hands, head
    knee = {s: _best([j for j in free if side[j] == s], lambda j, s=s: score("knee", j, s)) for s in ("left", "right")}
    wrist = {s: _best_continuing(tree, [j for j in free if side[j] == s], lambda j, s=s: score("wrist", j, s))
             for s in ("left", "right")}
    head, head_s = _best([j for j in free if side[j] is None], lambda j: score("head", j))
    neck_named, neck_s = _best([j for j in free if side[j] is None], lambda j: score("neck", j))
    if head_s < 0.5:
        head = None
    if tree.pos is not None:
        for s in ("left", "right"):  # no knee name: the middle of the lowest chain on that side
            if knee[s][1] < 0.5:
                leaves = [j for j in range(len(names)) if not tree.children[j] and side[j] == s]
                zmin = tree.pos[:, 2].min()
                if leaves:
                    leaf = min(leaves, key=lambda j: tree.pos[j, 2])
                    chain = [j for j in tree.path(-1, leaf) if side[j] == s]
                    low_enough = tree.pos[leaf, 2] <= zmin + 0.25 * tree.height  # a leg reaches the floor
                    if len(chain) >= 2 and low_enough and \
                            tree.pos[chain[0], 2] - tree.pos[leaf, 2] >= 0.3 * tree.height:
                        zmid = 0.5 * (tree.pos[chain[0], 2] + tree.pos[leaf, 2])
                        knee[s] = (min(chain, key=lambda j: abs(tree.pos[j, 2] - zmid)), 0.0)
        if head is None and neck_s < 0.5:  # no head or neck name: the highest centre leaf
            tops = [j for j in range(len(names)) if not tree.children[j] and side[j] is None]
            if tops:
                head = max(tops, key=lambda j: tree.pos[j, 2])
    up_anchor = head if head is not None else (neck_named if neck_s >= 0.5 else None)
    # a leg is found through its knee; failing that through a named thigh, then a named foot (whatever sits
    # between them on the chain is then placed by topology, with a low confidence)
    for s in ("left", "right"):
        if knee[s][0] is None or (knee[s][1] < 0.5 and tree.pos is None):
            for role in ("hip", "ankle"):
                j, js = _best([j for j in free if side[j] == s], lambda j, r=role, s=s: score(r, j, s))
                if j is not None and js >= 0.8:
                    knee[s] = (j, 0.0)
                    break
    # legs and the head the user named are anchors too (their bones are claimed, so the searches above skip them):
    # overriding the hips must not lose the pelvis found through them
    idx = {n: j for j, n in enumerate(names)}
    for s in ("left", "right"):
        for role in ("knee", "hip", "ankle"):
            b = (overrides or {}).get(f"{s}_{role}")
            if knee[s][0] is None and b in idx:
                knee[s] = (idx[b], 1.0)
    if up_anchor is None and (overrides or {}).get("head") in idx:
        up_anchor = idx[overrides["head"]]
    kl, kr = knee["left"][0], knee["right"][0]
    pelvis = tree.lca([kl, kr, up_anchor]) if kl is not None and kr is not None else None
    if pelvis is not None and pelvis in (kl, kr):
        pelvis = None
    if pelvis is None:  # fall back on the pelvis name
        p, ps = _best([j for j in free if side[j] is None], lambda j: score("pelvis", j))
        pelvis = p if ps >= 0.5 else None
    if pelvis is None:
        return _finish(names, out, overrides)
    out["pelvis"] = (pelvis, 0.55 + 0.45 * max(score("pelvis", pelvis), 0.8 if up_anchor is not None else 0.5),
                     "names+topology")

    # ---- chest (arm root) and spine chain
    wl, wr = wrist["left"][0], wrist["right"][0]
    chest = tree.lca([wl, wr]) if wl is not None and wr is not None else None
    if chest is not None and up_anchor is not None and not (chest == up_anchor or tree.is_ancestor(chest, up_anchor)):
        chest = tree.lca([chest, up_anchor])
    if chest is not None and not tree.is_ancestor(pelvis, chest):
        chest = None
    spine = tree.path(pelvis, chest) if chest is not None else []
    if spine:
        out["spine3"] = (spine[-1], 0.9, "topology")
        if len(spine) >= 2:
            out["spine1"] = (spine[0], 0.9, "topology")
        if len(spine) >= 3:
            inner = spine[1:-1]
            if tree.pos is not None:
                zmid = 0.5 * (tree.pos[spine[0], 2] + tree.pos[spine[-1], 2])
                mid = min(inner, key=lambda j: abs(tree.pos[j, 2] - zmid))
            else:
                mid = inner[(len(inner) - 1) // 2]
            out["spine2"] = (mid, 0.8, "topology")
        for c in ("spine1", "spine2", "spine3"):
            if c in out:
                j = out[c][0]
                out[c] = (j, min(1.0, out[c][1] + 0.1 * score("spine", j)), out[c][2])

    # ---- neck and head
    top = chest if chest is not None else pelvis
    if up_anchor is not None and tree.is_ancestor(top, up_anchor):
        q = tree.path(top, up_anchor)
        if head is not None:
            out["head"] = (q[-1], 0.55 + 0.45 * score("head", q[-1]), "names+topology")
            if len(q) >= 2:
                out["neck"] = (q[0], 0.75 + 0.25 * score("neck", q[0]), "topology")
        else:  # only a neck-named bone (DeepMimic): it is the neck, there is no head bone
            out["neck"] = (q[-1], 0.55 + 0.45 * score("neck", q[-1]), "names+topology")

    # ---- arms
    used = {v[0] for v in out.values()}
    for s in ("left", "right"):
        w = wrist[s][0]
        if chest is None or w is None or not tree.is_ancestor(chest, w):
            continue
        path = tree.path(chest, w)
        path = path + tree.path(w, tree.farthest_leaf(w))
        path = [j for j in path if j not in used]

        ax = None if tree.pos is None else np.abs(tree.pos[:, 0])
        a = _assign_chain(path, ["collar", "shoulder", "elbow", "wrist"], lambda r, j, s=s: score(r, j, s),
                          {"shoulder", "elbow", "wrist"},
                          pairs=None if ax is None else {("collar", "shoulder"): lambda c, u, ax=ax: -0.5 * (ax[c] > ax[u])},
                          ratio=("shoulder", "elbow", "wrist", 0.8), pos=tree.pos)
        for r, j in a.items():
            out[f"{s}_{r}"] = (j, 0.55 + 0.45 * score(r, j, s), "names+topology")

    # ---- legs
    used = {v[0] for v in out.values()}
    for s in ("left", "right"):
        k = knee[s][0]
        if k is None or not tree.is_ancestor(pelvis, k):
            continue
        path = tree.path(pelvis, k) + tree.path(k, tree.farthest_leaf(k))
        path = [j for j in path if j not in used]

        def leg_score(r, j, s=s):
            sc = score(r, j, s)
            if r == "toe" and sc < 0.5 and tree.pos is not None and tree.parents[j] >= 0 and \
                    not _has(parsed[j][1], _PENALTY):
                # an unnamed toe: a bone below the ankle that points forward and sits low
                pj = tree.parents[j]
                v = tree.pos[j] - tree.pos[pj]
                if v[1] < -0.02 * tree.height and v[2] <= 0.01 * tree.height:
                    sc = 0.5
            return sc

        if tree.pos is None:
            a = _assign_chain(path, ["hip", "knee", "ankle", "toe"], leg_score, {"hip", "knee"})
        else:
            x, z, h = tree.pos[:, 0], tree.pos[:, 2], tree.height
            # a thigh starts off the mid-line (CMU's LHipJoint sits on it); a toe is not above its ankle
            a = _assign_chain(path, ["hip", "knee", "ankle", "toe"], leg_score, {"hip", "knee"},
                              unary={"hip": lambda j, x=x, h=h: -0.4 * (np.abs(x[j]) < 0.02 * h)},
                              pairs={("ankle", "toe"): lambda an, t, z=z, h=h: -0.5 * (z[t] > z[an] + 0.01 * h)},
                              ratio=("hip", "knee", "ankle", 0.8), pos=tree.pos)
        if "knee" in a and "hip" not in a and "ankle" not in a and tree.parents[a["knee"]] == pelvis:
            # a whole leg in one bone (blocky characters): it hangs off the hips, so it plays the hip
            a = {"hip": a["knee"], **{r: j for r, j in a.items() if r not in ("hip", "knee")}}
        for r, j in a.items():
            out[f"{s}_{r if r != 'toe' else 'foot'}"] = (j, 0.55 + 0.45 * leg_score(r, j, s), "names+topology")
        # IK-style rigs: the foot bone hangs off the root, not the shin
        if f"{s}_ankle" not in out or score("ankle", out[f"{s}_ankle"][0], s) < 0.5:
            taken = {v[0] for v in out.values()}
            f, fs = _best([j for j in free if side[j] == s and j not in taken], lambda j, s=s: score("ankle", j, s))
            if f is not None and fs >= 0.8:
                out[f"{s}_ankle"] = (f, 0.8 * fs, "detached")
                toes = [j for j in tree.subtree(f) if j != f and j not in taken]
                t, ts = _best(toes, lambda j, s=s: score("toe", j, s))
                if t is not None and ts >= 0.8:
                    out[f"{s}_foot"] = (t, 0.8 * ts, "detached")
    return _finish(names, out, overrides)


def _finish(names, out, overrides) -> BoneMap:
    bm = BoneMap()
    for c in CANONICAL_JOINTS:
        if c in out:
            j, conf, how = out[c]
            bm.entries[c] = (names[j], float(np.clip(conf, 0.0, 1.0)))
            bm.how[c] = how
        else:
            bm.entries[c] = (None, 0.0)
            bm.how[c] = "unmapped"
    return bm.with_overrides(overrides, set(names)) if overrides else bm


def rig_bone_map(rig, overrides: dict[str, str] | None = None) -> BoneMap:
    """:func:`auto_bone_map` for a :class:`~backend.retarget.rig.Rig` (uses its rest positions)."""
    sk = rig.skeleton
    return auto_bone_map(sk.names, sk.parents, sk.rest_positions(), overrides)
