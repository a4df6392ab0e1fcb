"""Skeletons: joint names, parents and rest offsets, plus the canonical 22-joint SMPL body tree.

A :class:`Skeleton` is BVH-like: at rest every local rotation is identity, so joint frames are aligned with the world
axes and ``offsets[j]`` is joint j's rest position relative to its parent, in world axes. Rigs whose bones carry rest
orientations (Blender, glTF, FBX) are converted to this form by :mod:`backend.retarget.rig`.

World convention (canonical and Blender): Z up, metres, the character faces -Y, its left side is +X.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from smplx.joint_names import JOINT_NAMES as _SMPLX_JOINT_NAMES


class SkeletonError(ValueError):
    """A skeleton description that cannot be used (cycles, duplicates, bad shapes)."""


@dataclass(frozen=True, eq=False)
class Skeleton:
    names: tuple[str, ...]
    parents: np.ndarray  # (J,) int, -1 for roots; parents[j] < j (topological order)
    offsets: np.ndarray  # (J,3) rest offset from the parent, world axes; a root's offset is its rest position
    end_sites: dict = field(default_factory=dict)  # joint index -> (3,) offset of a BVH "End Site" leaf

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        parents = np.asarray(self.parents, dtype=np.int64).reshape(-1)
        offsets = np.asarray(self.offsets, dtype=np.float64)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "offsets", offsets)
        validate_tree(names, parents)
        if offsets.shape != (len(names), 3):
            raise SkeletonError(f"offsets must have shape ({len(names)}, 3), got {offsets.shape}")
        if not np.all(np.isfinite(offsets)):
            raise SkeletonError("skeleton offsets contain NaN or infinity")

    # ---------------------------------------------------------------------------------------------- structure
    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @cached_property
    def index_of(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def index(self, name: str) -> int:
        try:
            return self.index_of[name]
        except KeyError:
            raise KeyError(f"unknown joint {name!r}; this skeleton has {len(self.names)} joints "
                           f"({', '.join(self.names[:6])}, ...)") from None

    def children(self, j: int) -> list[int]:
        return [int(c) for c in np.nonzero(self.parents == j)[0]]

    def ancestors(self, j: int) -> list[int]:
        """Joints above ``j``, nearest first."""
        return ancestors(self.parents, j)

    def descendants(self, j: int) -> list[int]:
        """Joints below ``j`` (depth first)."""
        return descendants(self.children, j)

    @cached_property
    def roots(self) -> list[int]:
        return [int(j) for j in np.nonzero(self.parents < 0)[0]]

    def rest_positions(self) -> np.ndarray:
        """(J,3) world positions at rest."""
        pos = np.zeros_like(self.offsets)
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos

    def bone_lengths(self) -> np.ndarray:
        return np.linalg.norm(self.offsets, axis=-1) * (self.parents >= 0)

    def chain_length(self, joints: list[str]) -> float:
        """Sum of rest lengths along consecutive joints (e.g. hip -> knee -> ankle)."""
        pos = self.rest_positions()
        idx = [self.index(n) for n in joints]
        return float(sum(np.linalg.norm(pos[a] - pos[b]) for a, b in itertools.pairwise(idx)))

    @cached_property
    def mirror_indices(self) -> np.ndarray:
        """Index of each joint's left/right counterpart (itself for centre joints), found from the names."""
        out = np.arange(len(self.names))
        for i, n in enumerate(self.names):
            m = mirror_name(n)
            if m != n and m in self.index_of:
                out[i] = self.index_of[m]
        return out

    def scaled(self, factor: float) -> Skeleton:
        return Skeleton(self.names, self.parents, self.offsets * factor,
                        {k: np.asarray(v) * factor for k, v in self.end_sites.items()})

    def subset(self, keep: list[str]) -> tuple[Skeleton, np.ndarray]:
        """Skeleton restricted to ``keep`` (ancestors are collapsed: offsets are re-accumulated).

        Returns the new skeleton and the source indices of its joints. Only valid for poses where the removed
        joints have identity local rotation (use :func:`backend.motion.kinematics` to bake otherwise).
        """
        idx = [self.index(n) for n in keep]
        idx_set = set(idx)
        if sorted(idx) != idx:
            idx = sorted(idx)
        rest = self.rest_positions()
        new_parents = []
        for j in idx:
            p = self.parents[j]
            while p >= 0 and p not in idx_set:
                p = self.parents[p]
            new_parents.append(idx.index(p) if p >= 0 else -1)
        new_offsets = np.array([rest[j] - (rest[idx[p]] if p >= 0 else 0.0) for j, p in zip(idx, new_parents)])
        return Skeleton(tuple(self.names[j] for j in idx), np.array(new_parents), new_offsets), np.array(idx)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "parents": self.parents.tolist(), "offsets": self.offsets.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Skeleton:
        return cls(tuple(d["names"]), np.array(d["parents"]), np.array(d["offsets"]))

    def same_as(self, other: Skeleton, atol: float = 1e-6) -> bool:
        return (self.names == other.names and np.array_equal(self.parents, other.parents)
                and np.allclose(self.offsets, other.offsets, atol=atol))


def validate_tree(names, parents) -> None:
    """Raise :class:`SkeletonError` for duplicate names, bad parent indices, cycles or non-topological order."""
    n = len(names)
    if n == 0:
        raise SkeletonError("skeleton has no joints")
    if len(parents) != n:
        raise SkeletonError(f"{n} joint names but {len(parents)} parent indices")
    seen = {}
    for i, name in enumerate(names):
        if not name:
            raise SkeletonError(f"joint {i} has an empty name")
        if name in seen:
            raise SkeletonError(f"duplicate joint name {name!r} (joints {seen[name]} and {i})")
        seen[name] = i
    for j, p in enumerate(parents):
        if p < -1 or p >= n:
            raise SkeletonError(f"joint {names[j]!r} has parent index {p}, outside 0..{n - 1}")
        if p == j:
            raise SkeletonError(f"joint {names[j]!r} is its own parent")
    # cycle check (independent of ordering), then order check
    for j in range(n):
        seen_path, k = set(), j
        while k >= 0:
            if k in seen_path:
                raise SkeletonError(f"cyclic parent chain through joint {names[j]!r}")
            seen_path.add(k)
            k = parents[k]
    for j, p in enumerate(parents):
        if p >= j:
            raise SkeletonError(f"joints are not in topological order: {names[j]!r} comes before its parent "
                                f"{names[p]!r}; use topological_order() first")


def ancestors(parents, j: int) -> list[int]:
    """Indices above ``j`` in the tree given by ``parents`` (-1 ends a chain; any order), nearest first: the one
    tree walk every skeleton, rig and bone map uses."""
    out, k = [], int(parents[j])
    while k >= 0:
        out.append(k)
        k = int(parents[k])
    return out


def descendants(children, j: int) -> list[int]:
    """Indices below ``j``, depth first (last child first); ``children(k)`` (or ``children[k]``) lists ``k``'s."""
    kids = children if callable(children) else children.__getitem__
    out, stack = [], list(kids(j))
    while stack:
        k = stack.pop()
        out.append(k)
        stack.extend(kids(k))
    return out


def topological_order(parents) -> list[int]:
    """A parent-before-child ordering of an arbitrary parent list (raises on cycles)."""
    parents = list(parents)
    n = len(parents)
    depth = []
    for j in range(n):
        d, k = 0, parents[j]
        while k >= 0:
            d += 1
            k = parents[k]
            if d > n:
                raise SkeletonError(f"cyclic parent chain through joint index {j}")
        depth.append(d)
    return sorted(range(n), key=lambda j: (depth[j], j))


def mirror_name(name: str) -> str:
    """Name of the left/right counterpart: handles Left/Right, left_/right_, L_/R_, .L/.R, _l/_r, l/r prefixes."""
    for pat, a, b in ((r"Left", "Left", "Right"), (r"Right", "Right", "Left"), (r"left", "left", "right"),
                      (r"right", "right", "left"), (r"LEFT", "LEFT", "RIGHT"), (r"RIGHT", "RIGHT", "LEFT")):
        if pat in name:
            return name.replace(a, b)
    rules = [
        (r"\.L$", ".R"), (r"\.R$", ".L"), (r"_L$", "_R"), (r"_R$", "_L"), (r"\.l$", ".r"), (r"\.r$", ".l"),
        (r"_l$", "_r"), (r"_r$", "_l"), (r"^L_", "R_"), (r"^R_", "L_"), (r"_L_", "_R_"), (r"_R_", "_L_"),
        (r"\.L\.", ".R."), (r"\.R\.", ".L."), (r"^l_", "r_"), (r"^r_", "l_"), (r"^L(?=[A-Z])", "R"),
        (r"^R(?=[A-Z])", "L"), (r"^l(?=[a-z])", "r"), (r"^r(?=[a-z])", "l"),
    ]
    for pat, rep in rules:
        if re.search(pat, name):
            return re.sub(pat, rep, name, count=1)
    return name


# ------------------------------------------------------------------------------------------- canonical skeleton
CANONICAL_FPS = 30.0
CANONICAL_JOINTS: tuple[str, ...] = tuple(_SMPLX_JOINT_NAMES[:22])
CANONICAL_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19])

# Approximate SMPL neutral rest joints (metres, SMPL's own Y-up frame, facing +Z). Used when no SMPL model file is
# given; exact joints come from the user's model files via backend.motion.smpl_model. Symmetrised below so that
# mirroring maps the canonical skeleton onto itself.
_SMPL_NEUTRAL_J_YUP = np.array([
    [-0.0018, -0.2233, 0.0282], [0.0695, -0.3142, 0.0239], [-0.0677, -0.3145, 0.0215], [-0.0043, -0.1144, 0.0015],
    [0.1025, -0.6896, 0.0169], [-0.1060, -0.6960, 0.0150], [0.0016, 0.0204, 0.0026], [0.0883, -1.0873, -0.0265],
    [-0.0919, -1.0941, -0.0275], [0.0027, 0.0718, 0.0284], [0.1196, -1.1435, 0.0962], [-0.1181, -1.1431, 0.0988],
    [-0.0136, 0.2895, -0.0149], [0.0772, 0.1944, -0.0038], [-0.0787, 0.1921, -0.0092], [0.0102, 0.3568, 0.0414],
    [0.1722, 0.2333, -0.0187], [-0.1740, 0.2314, -0.0180], [0.4210, 0.2225, -0.0384], [-0.4225, 0.2219, -0.0429],
    [0.6673, 0.2291, -0.0438], [-0.6707, 0.2282, -0.0464],
])

# Canonical end effectors used for bone tips and drawing (head top, hand tips, toe tips), as offsets from the joint.
CANONICAL_END_SITES = {15: (0.0, -0.01, 0.10), 20: (0.08, 0.0, 0.0), 21: (-0.08, 0.0, 0.0),
                       10: (0.0, -0.05, 0.0), 11: (0.0, -0.05, 0.0)}

# Joints used throughout for feet, facing and scale.
FOOT_JOINTS = ("left_ankle", "left_foot", "right_ankle", "right_foot")
LEFT_RIGHT_HIPS = ("left_hip", "right_hip")
LEFT_RIGHT_SHOULDERS = ("left_shoulder", "right_shoulder")


def yup_to_zup(v: np.ndarray) -> np.ndarray:
    """Convert points from a Y-up/faces-+Z frame to Z-up/faces--Y (rotation of +90 degrees about X)."""
    v = np.asarray(v, np.float64)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def _canonical_rest_positions(joints_yup: np.ndarray) -> np.ndarray:
    pos = yup_to_zup(joints_yup)
    idx = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
    flip = np.array([-1.0, 1.0, 1.0])
    sym = pos.copy()
    for n, i in idx.items():
        if n.startswith("left_"):
            k = idx[mirror_name(n)]
            sym[i] = (pos[i] + pos[k] * flip) / 2
            sym[k] = sym[i] * flip
        elif not n.startswith("right_"):
            sym[i, 0] = 0.0
    # Put the toes 2 cm above the floor (z = 0) and the pelvis on the Y = 0 plane.
    sym[:, 2] -= sym[[idx["left_foot"], idx["right_foot"]], 2].min() - 0.02
    sym[:, 1] -= sym[0, 1]
    return sym


def skeleton_from_rest_positions(names, parents, rest_pos) -> Skeleton:
    parents = np.asarray(parents)
    rest_pos = np.asarray(rest_pos, np.float64)
    offsets = np.array([rest_pos[j] - (rest_pos[p] if p >= 0 else 0.0) for j, p in enumerate(parents)])
    return Skeleton(tuple(names), parents, offsets)


def canonical_skeleton(joints_yup: np.ndarray | None = None) -> Skeleton:
    """The canonical SMPL 22-joint skeleton (Z-up, metres, T-pose at rest, facing -Y, feet on z=0).

    ``joints_yup`` may be exact SMPL/SMPL-X rest joints (22,3) in SMPL's own frame; by default an approximate SMPL
    neutral body is used.
    """
    pos = _canonical_rest_positions(_SMPL_NEUTRAL_J_YUP if joints_yup is None else np.asarray(joints_yup)[:22])
    sk = skeleton_from_rest_positions(CANONICAL_JOINTS, CANONICAL_PARENTS, pos)
    object.__setattr__(sk, "end_sites", {k: np.array(v) for k, v in CANONICAL_END_SITES.items()})
    return sk


CANONICAL = canonical_skeleton()
