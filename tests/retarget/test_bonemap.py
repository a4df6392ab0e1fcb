"""Automatic bone mapping on real characters (hand-written expected maps) and on the conventions' corner cases."""
from __future__ import annotations

import json

import numpy as np
import pytest
from retarget_helpers import EXPECTED, load_expected, load_rig_cached

from backend.motion.skeleton import CANONICAL_JOINTS
from backend.retarget.bonemap import (
    MAJOR_JOINTS,
    BoneMap,
    BoneMapError,
    auto_bone_map,
    rig_bone_map,
    shared_prefix,
    split_side,
)

CASES = [(f.name, rig) for f in sorted(EXPECTED.glob("*.json")) for rig in json.loads(f.read_text())["rigs"]]


def _ok(expected, got) -> bool:
    return got in expected if isinstance(expected, list) else got == expected


@pytest.mark.parametrize("expected_file,rig_path", CASES, ids=[f"{e[:-5]}:{r.split('/')[-1]}" for e, r in CASES])
def test_auto_map_matches_hand_written_map(expected_file, rig_path):
    """At least 95% of the major bones right on every real character (and every joint listed, reported)."""
    exp = load_expected(expected_file)["map"]
    assert set(exp) == set(CANONICAL_JOINTS), "expected map files list all 22 canonical joints"
    rig = load_rig_cached(rig_path)
    bm = rig_bone_map(rig)
    major_ok = [j for j in MAJOR_JOINTS if _ok(exp[j], bm.bone(j))]
    wrong = {j: (bm.bone(j), exp[j]) for j in CANONICAL_JOINTS if not _ok(exp[j], bm.bone(j))}
    assert len(major_ok) / len(MAJOR_JOINTS) >= 0.95, f"wrong: {wrong}"
    # in fact every joint of these characters is right; keep it that way
    assert not wrong, f"auto map differs from the hand-written map: {wrong}"
    for j in CANONICAL_JOINTS:
        b, conf = bm.entries[j]
        assert 0.0 <= conf <= 1.0
        assert (b is None) == (conf == 0.0)
    assert all(bm.confidence(j) >= 0.5 for j in MAJOR_JOINTS if bm.bone(j) is not None)


def test_the_3dsmax_cmu_trap_collar_is_not_the_upper_arm():
    rig = load_rig_cached("cmu_bvh11_max/bvh/131_01.bvh")
    bm = rig_bone_map(rig)
    assert bm.bone("left_collar") == "LeftCollar" and bm.bone("left_shoulder") == "LeftShoulder"
    mix = load_rig_cached("anny_characters/anny_mixamo_adult_m.glb")
    bm2 = rig_bone_map(mix)
    assert bm2.bone("left_collar") == "mixamorig:LeftShoulder" and bm2.bone("left_shoulder") == "mixamorig:LeftArm"


def test_vrm_auto_map_agrees_with_the_files_own_humanoid_map():
    from retarget_helpers import DATA, need

    from backend.retarget.gltf import vrm_bone_map
    path = need(DATA / "vrm_humanoid_fixture" / "VRMC_vrm_expressions_isBinary_Overrides.vrm")
    own = vrm_bone_map(path)
    assert len(own) == 22
    bm = rig_bone_map(load_rig_cached("vrm_humanoid_fixture/VRMC_vrm_expressions_isBinary_Overrides.vrm"))
    assert bm.mapping() == own


# ------------------------------------------------------------------------------------------ synthetic rigs
def humanoid(style="ue", spine=3, neck=True, twist=False, extra=False, toe=True):
    """A T-pose humanoid (Z up, metres, left = +X) named in one convention. Returns names, parents, positions and
    the true canonical map."""
    bones, truth = [], {}

    def add(name, parent, pos, canon=None):
        bones.append((name, parent, np.array(pos, float)))
        if canon:
            truth[canon] = name
        return len(bones) - 1

    nm = {
        "ue": {"root": "root", "pelvis": "pelvis", "spine": "spine_{:02d}", "neck": "neck_01", "head": "head",
                   "collar": "clavicle_{s}", "upper": "upperarm_{s}", "fore": "lowerarm_{s}", "hand": "hand_{s}",
                   "thigh": "thigh_{s}", "shin": "calf_{s}", "foot": "foot_{s}", "toe": "ball_{s}", "side": {"l": "l", "r": "r"},
                   "twist": "upperarm_twist_01_{s}"},
        "blender": {"root": "root", "pelvis": "hips", "spine": "spine.{:03d}", "neck": "neck", "head": "head",
                        "collar": "shoulder.{s}", "upper": "upper_arm.{s}", "fore": "forearm.{s}", "hand": "hand.{s}",
                        "thigh": "thigh.{s}", "shin": "shin.{s}", "foot": "foot.{s}", "toe": "toe.{s}",
                        "side": {"l": "L", "r": "R"}, "twist": "upper_arm_roll.{s}"},
        "smplx": {"root": "root", "pelvis": "pelvis", "spine": "spine{:d}", "neck": "neck", "head": "head",
                      "collar": "{s}_collar", "upper": "{s}_shoulder", "fore": "{s}_elbow", "hand": "{s}_wrist",
                      "thigh": "{s}_hip", "shin": "{s}_knee", "foot": "{s}_ankle", "toe": "{s}_foot",
                      "side": {"l": "left", "r": "right"}, "twist": "{s}_shoulder_twist"},
        "prefixed": {"root": "Armature", "pelvis": "Bip01 Pelvis", "spine": "Bip01 Spine{:d}", "neck": "Bip01 Neck",
                         "head": "Bip01 Head", "collar": "Bip01 {s} Clavicle", "upper": "Bip01 {s} UpperArm",
                         "fore": "Bip01 {s} Forearm", "hand": "Bip01 {s} Hand", "thigh": "Bip01 {s} Thigh",
                         "shin": "Bip01 {s} Calf", "foot": "Bip01 {s} Foot", "toe": "Bip01 {s} Toe0",
                         "side": {"l": "L", "r": "R"}, "twist": "Bip01 {s} UpArmTwist"},
    }[style]
    root = add(nm["root"], -1, [0, 0, 0])
    pelvis = add(nm["pelvis"], root, [0, 0, 0.95], "pelvis")
    z = np.linspace(1.05, 1.40, spine)
    prev = pelvis
    chain = []
    for k in range(spine):
        prev = add(nm["spine"].format(k + 1), prev, [0, 0, z[k]])
        chain.append(prev)
    truth["spine1"] = bones[chain[0]][0]
    truth["spine3"] = bones[chain[-1]][0]
    if spine >= 3:
        mid = min(chain[1:-1], key=lambda j: abs(bones[j][2][2] - (z[0] + z[-1]) / 2))
        truth["spine2"] = bones[mid][0]
    chest = prev
    top = add(nm["neck"], chest, [0, 0, 1.50], "neck") if neck else chest
    add(nm["head"], top, [0, 0, 1.60], "head")
    for s, sx, canon in (("l", 1, "left"), ("r", -1, "right")):
        S = nm["side"][s]
        c = add(nm["collar"].format(s=S), chest, [0.03 * sx, 0, 1.42], f"{canon}_collar")
        u = add(nm["upper"].format(s=S), c, [0.18 * sx, 0, 1.42], f"{canon}_shoulder")
        if twist:
            add(nm["twist"].format(s=S), u, [0.30 * sx, 0, 1.42])
        f = add(nm["fore"].format(s=S), u, [0.45 * sx, 0, 1.42], f"{canon}_elbow")
        h = add(nm["hand"].format(s=S), f, [0.70 * sx, 0, 1.42], f"{canon}_wrist")
        add(f"finger_{S}" if style != "prefixed" else f"Bip01 {S} Finger0", h, [0.80 * sx, 0, 1.42])
        t = add(nm["thigh"].format(s=S), pelvis, [0.10 * sx, 0, 0.90], f"{canon}_hip")
        k = add(nm["shin"].format(s=S), t, [0.10 * sx, 0, 0.50], f"{canon}_knee")
        a = add(nm["foot"].format(s=S), k, [0.10 * sx, 0, 0.08], f"{canon}_ankle")
        if toe:
            add(nm["toe"].format(s=S), a, [0.10 * sx, -0.12, 0.02], f"{canon}_foot")
    if extra:
        add("ik_foot_root", root, [0, 0, 0])
        add("ik_foot_l", len(bones) - 1, [0.1, 0, 0.08])
        add("weapon_r", chest, [-0.7, -0.1, 1.42])
        add("camera", -1, [0, -3, 1.6])
    names = [b[0] for b in bones]
    parents = [b[1] for b in bones]
    pos = np.stack([b[2] for b in bones])
    return names, parents, pos, truth


@pytest.mark.parametrize("style", ["ue", "blender", "smplx", "prefixed"])
@pytest.mark.parametrize("spine", [2, 3, 4, 5])
def test_conventions_and_spine_lengths(style, spine):
    names, parents, pos, truth = humanoid(style, spine=spine, twist=True, extra=True)
    bm = auto_bone_map(names, parents, pos)
    got = {j: bm.bone(j) for j in truth}
    assert got == truth
    if spine == 2:
        assert bm.bone("spine2") is None


@pytest.mark.parametrize("style", ["ue", "blender"])
def test_missing_neck_maps_head_and_leaves_neck_empty(style):
    names, parents, pos, truth = humanoid(style, neck=False)
    bm = auto_bone_map(names, parents, pos)
    assert bm.bone("neck") is None
    assert bm.bone("head") == truth["head"]
    assert {j: bm.bone(j) for j in truth} == truth


def test_names_and_topology_without_positions():
    names, parents, _, truth = humanoid("ue", spine=3, twist=True, extra=True)
    bm = auto_bone_map(names, parents)
    assert {j: bm.bone(j) for j in truth} == truth


def test_shuffled_bone_order_gives_the_same_map():
    names, parents, pos, truth = humanoid("blender", spine=4, twist=True)
    perm = np.random.default_rng(0).permutation(len(names))
    inv = np.argsort(perm)
    names2 = [names[i] for i in perm]
    parents2 = [int(inv[parents[i]]) if parents[i] >= 0 else -1 for i in perm]
    bm = auto_bone_map(names2, parents2, pos[perm])
    assert {j: bm.bone(j) for j in truth} == truth


def test_twist_and_roll_bones_are_never_taken():
    names, parents, pos, _ = humanoid("blender", twist=True)
    bm = auto_bone_map(names, parents, pos)
    assert not any("roll" in (b or "") or "twist" in (b or "") for b, _ in bm.entries.values())


def test_deepmimic_names_without_positions():
    names = ["root", "chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
             "right_wrist", "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow", "left_wrist"]
    parents = [-1, 0, 1, 0, 3, 4, 1, 6, 7, 0, 9, 10, 1, 12, 13]
    bm = auto_bone_map(names, parents)
    assert bm.bone("pelvis") == "root" and bm.bone("spine3") == "chest" and bm.bone("neck") == "neck"
    assert bm.bone("head") is None
    for s in ("left", "right"):
        for j in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            assert bm.bone(f"{s}_{j}") == f"{s}_{j}"


@pytest.mark.parametrize("name,side,core", [
    ("mixamorig:LeftUpLeg", "left", "upleg"), ("CC_Base_R_Thigh", "right", "thigh"), ("thigh.L", "left", "thigh"),
    ("calf_r", "right", "calf"), ("LHipJoint", "left", "hipjoint"), ("lhand", "left", "hand"),
    ("DEF-upper_arm.R", "right", "upperarm"), ("Bip01 L Forearm", "left", "forearm"), ("Spine1", None, "spine1"),
    ("lowerback", None, "lowerback"), ("UpperLeg.L_end", "left", "upperlegend"), ("left_collar", "left", "collar")])
def test_side_and_prefix_parsing(name, side, core):
    assert split_side(name) == (side, core)


# ------------------------------------------------------------------------------------ overrides, files, errors
def test_overrides_are_taken_as_given_and_displace_auto_entries():
    names, parents, pos, _truth = humanoid("ue")
    bm = auto_bone_map(names, parents, pos, overrides={"spine3": "spine_02", "head": "neck_01"})
    assert bm.entries["spine3"] == ("spine_02", 1.0) and bm.how["spine3"] == "override"
    assert bm.entries["head"] == ("neck_01", 1.0)
    # bones claimed by an override are not used elsewhere
    others = [b for j, (b, _) in bm.entries.items() if j not in ("spine3", "head")]
    assert "spine_02" not in others and "neck_01" not in others


def test_bad_override_is_a_clear_error():
    names, parents, pos, _ = humanoid("ue")
    with pytest.raises(BoneMapError, match="not a bone of this rig"):
        auto_bone_map(names, parents, pos, overrides={"head": "Skull"})
    with pytest.raises(BoneMapError, match="unknown canonical joint"):
        auto_bone_map(names, parents, pos, overrides={"tail": "head"})


def test_saved_map_reloads_identically(tmp_path):
    names, parents, pos, _ = humanoid("blender", twist=True)
    bm = auto_bone_map(names, parents, pos, overrides={"head": "head"})
    path = bm.save(tmp_path / "map.json")
    back = BoneMap.load(path)
    assert back.entries.keys() == bm.entries.keys()
    for j in bm.entries:
        assert back.bone(j) == bm.bone(j)
        assert back.confidence(j) == pytest.approx(bm.confidence(j), abs=1e-4)
    assert back.how == bm.how
    assert back.to_list() == bm.to_list()


def test_unreadable_map_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(BoneMapError, match="cannot read"):
        BoneMap.load(p)
    p.write_text(json.dumps({"entries": []}))
    with pytest.raises(BoneMapError, match="not a MotionLoom bone map"):
        BoneMap.load(p)


def test_duplicate_and_cyclic_bone_lists_are_rejected():
    with pytest.raises(BoneMapError, match="duplicate bone name 'a'"):
        auto_bone_map(["a", "b", "a"], [-1, 0, 1])
    with pytest.raises(BoneMapError, match="cyclic parent chain"):
        auto_bone_map(["a", "b", "c"], [2, 0, 1])


# ------------------------------------------------------------------------- prefixes, off-origin rests, the DP
@pytest.mark.parametrize("prefix", ["Neo_", "mixamorig:", "Armature|", "CC_Base_", "Bip01 ", "DEF-", "Character1_",
                                    "Neo:Neo_"])
@pytest.mark.parametrize("with_positions", [True, False])
def test_any_bone_name_prefix_or_namespace_gives_the_same_map(prefix, with_positions):
    """The CMU MotionBuilder skeleton (LeftShoulder = collar, LeftArm = upper arm) under prefixes nobody listed:
    the map is the unprefixed one, bone for bone (issue 16: ``Neo_`` sent both upper arms to the clavicles)."""
    rig = load_rig_cached("cmu_bvh_mb_friendly/bvh/02_01.bvh")
    sk = rig.skeleton
    exp = load_expected("cmu_bvh_mb_friendly.json")["map"]
    names = [prefix + n for n in sk.names]
    bm = auto_bone_map(names, sk.parents, sk.rest_positions() if with_positions else None)
    wrong = {j: (bm.bone(j), e) for j, e in exp.items()
             if not _ok([prefix + x for x in e] if isinstance(e, list) else prefix + e, bm.bone(j))}
    assert not wrong
    assert shared_prefix(names) in (prefix, prefix.split(":")[-1], "")


def test_shared_prefix_never_eats_a_body_part_or_a_side():
    assert shared_prefix(["Hips", "Spine", "LeftArm", "RightArm", "LeftLeg"]) == ""
    assert shared_prefix(["Left_a", "Left_b", "Left_c", "Left_d", "x"]) == ""
    assert shared_prefix(["hand_1", "hand_2", "hand_3", "hand_4"]) == ""
    assert shared_prefix(["Neo_Hips", "Neo_Spine", "Neo_LeftArm", "Neo_RightArm", "Root"]) == "Neo_"
    assert split_side("Neo_LeftArm", "Neo_") == ("left", "arm")


@pytest.mark.parametrize("style", ["ue", "blender", "prefixed"])
def test_a_rest_pose_away_from_the_origin_and_turned_gives_the_same_map(style):
    """Centre bones of a character standing 3 m to the side were read as 'left'; a turned character as well."""
    names, parents, pos, truth = humanoid(style, spine=3, twist=True)
    for shift, yaw in (([3.0, 0, 0], 0.0), ([-2.0, 5.0, 0.3], 0.0), ([1.5, -4.0, 0], 70.0), ([0, 0, 0], 180.0)):
        c, s_ = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
        R = np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1.0]])
        bm = auto_bone_map(names, parents, pos @ R.T + np.array(shift))
        assert {j: bm.bone(j) for j in truth} == truth, (shift, yaw)


def _brute_force(path, roles, scores, required, unary=None, pairs=None, ratio=None, pos=None):
    """The search the DP replaced: every subset of roles on every increasing choice of bones, O(n^4)."""
    import itertools
    best, best_total = {}, -1e9
    for k in range(len(roles) + 1):
        for rs in itertools.combinations(range(len(roles)), k):
            for bs in itertools.combinations(range(len(path)), k):
                a = {roles[r]: path[b] for r, b in zip(rs, bs)}
                total = sum(scores(r, b) + (0.6 if r in required else -0.35) for r, b in a.items())
                total += sum(float(f(np.array(a[r]))) for r, f in (unary or {}).items() if r in a)
                total += sum(float(f(np.array(a[x]), np.array(a[y]))) for (x, y), f in (pairs or {}).items()
                             if x in a and y in a)
                if ratio is not None and all(r in a for r in ratio[:3]):
                    l1 = np.linalg.norm(pos[a[ratio[0]]] - pos[a[ratio[1]]])
                    l2 = np.linalg.norm(pos[a[ratio[1]]] - pos[a[ratio[2]]])
                    total -= ratio[3] * abs(np.log(max(l1, 1e-6)) - np.log(max(l2, 1e-6)))
                if total > best_total + 1e-9:
                    best, best_total = a, total
    return best


@pytest.mark.parametrize("seed", range(40))
def test_chain_dp_equals_the_brute_force_search(seed):
    from backend.retarget.chain_dp import assign_chain as _assign_chain
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 11))
    J = n + 3
    path = sorted(rng.choice(J, n, replace=False).tolist())
    pos = rng.normal(size=(J, 3))
    roles = ["hip", "knee", "ankle", "toe"]
    # coarse scores make exact ties common (as on rigs with unnamed bones)
    table = {(r, j): float(rng.choice([0.0, 0.0, 0.5, 0.9, 1.0])) for r in roles for j in range(J)}
    scores = lambda r, j: table[(r, j)]
    unary = {"hip": lambda j: -0.4 * (np.abs(pos[j, 0]) < 0.3)}
    pairs = {("ankle", "toe"): lambda a, t: -0.5 * (pos[t, 2] > pos[a, 2])}
    kw = {"unary": unary, "pairs": pairs, "ratio": ("hip", "knee", "ankle", 0.8), "pos": pos}
    req = {"hip", "knee"}
    assert _assign_chain(path, roles, scores, req, **kw) == _brute_force(path, roles, scores, req, **kw)
    assert _assign_chain(path, roles, scores, req) == _brute_force(path, roles, scores, req)


def test_a_225_bone_chain_maps_the_arm_it_belongs_to():
    """Issue 15 item 9: a hand carrying a 220-bone rope made the limb path 225 bones, which the old O(n^4) search
    did not finish in 300 s. The DP places the same arm (timed in ``bench retarget``, not here)."""
    names, parents, pos, truth = humanoid("ue", spine=3)
    names, parents, pos = list(names), list(parents), [p for p in pos]
    prev = names.index("hand_l")
    for k in range(220):
        names.append(f"rope_{k:03d}")
        parents.append(prev)
        pos.append(pos[prev] + np.array([0.01, 0.0, -0.004]))
        prev = len(names) - 1
    bm = auto_bone_map(names, parents, np.array(pos))
    assert {j: bm.bone(j) for j in truth} == truth
