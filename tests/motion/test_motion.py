"""Motion editing: mirroring, resampling, slicing/concatenation, grounding, facing; contact detection."""
import numpy as np
import pytest

from backend.motion.contacts import detect_contacts, foot_skate_ratio_gmd
from backend.motion.motion import Motion, MotionError
from backend.motion.skeleton import CANONICAL, Skeleton, SkeletonError, mirror_name


def _random_motion(T=20, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(T, 22, 4)) * 0.2 + np.array([0, 0, 0, 1.0])
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return Motion(CANONICAL, 30, rng.normal(size=(T, 3)), q)


def test_mirror_twice_is_identity_and_swaps_sides():
    m = _random_motion()
    mm = m.mirrored().mirrored()
    np.testing.assert_allclose(mm.positions(), m.positions(), atol=1e-10)
    p, pm = m.positions(), m.mirrored().positions()
    li, ri = CANONICAL.index("left_wrist"), CANONICAL.index("right_wrist")
    np.testing.assert_allclose(pm[:, ri], p[:, li] * [-1, 1, 1], atol=1e-10)


def test_resample_keeps_ends_and_slerps():
    m = _random_motion(31)
    r = m.resample(60)
    assert r.num_frames == 61 and r.fps == 60
    np.testing.assert_allclose(r.positions()[0], m.positions()[0], atol=1e-10)
    np.testing.assert_allclose(r.positions()[-1], m.positions()[-1], atol=1e-10)
    np.testing.assert_allclose(r.positions()[2::2], m.positions()[1:], atol=1e-9)  # every other frame is original
    back = r.resample(30)
    np.testing.assert_allclose(back.positions(), m.positions(), atol=1e-9)


def test_slice_concat_roundtrip():
    m = _random_motion(40)
    c = m.slice(0, 15).concat(m.slice(15))
    np.testing.assert_allclose(c.positions(), m.positions(), atol=1e-10)
    with pytest.raises(MotionError, match="resample"):
        m.concat(m.resample(60))


def test_ground_and_canonical_facing():
    m = _random_motion().rotated_about_z(1.0)
    g = m.grounded()
    assert np.percentile(g.positions()[..., 2].min(1), 5) == pytest.approx(0.02, abs=1e-9)
    c = m.canonicalized()
    assert abs(c.heading(0)) < 1e-9 and np.allclose(c.root_pos[0, :2], 0)
    np.testing.assert_allclose(c.positions()[..., 2], m.positions()[..., 2], atol=1e-10)  # heights unchanged


def test_bad_motion_is_rejected_clearly():
    m = _random_motion(5)
    bad = m.rotations.copy()
    bad[2, 3, 0] = np.nan
    with pytest.raises(MotionError, match="NaN"):
        Motion(CANONICAL, 30, m.root_pos, bad)
    with pytest.raises(MotionError, match="fps"):
        Motion(CANONICAL, 0, m.root_pos, m.rotations)
    with pytest.raises(MotionError, match="unit quaternion"):
        Motion(CANONICAL, 30, m.root_pos, m.rotations * 2)


def test_skeleton_validation():
    with pytest.raises(SkeletonError, match="duplicate"):
        Skeleton(("a", "a"), np.array([-1, 0]), np.zeros((2, 3)))
    with pytest.raises(SkeletonError, match="cyclic"):
        Skeleton(("a", "b", "c"), np.array([2, 0, 1]), np.zeros((3, 3)))
    assert mirror_name("mixamorig:LeftUpLeg") == "mixamorig:RightUpLeg"
    assert mirror_name("thigh_fk.L") == "thigh_fk.R"
    assert mirror_name("CC_Base_L_Thigh") == "CC_Base_R_Thigh"


def test_canonical_skeleton_is_smpl_tree():
    assert CANONICAL.names[0] == "pelvis" and len(CANONICAL) == 22
    assert CANONICAL.names[CANONICAL.parents[CANONICAL.index("left_wrist")]] == "left_elbow"
    rest = CANONICAL.rest_positions()
    assert rest[CANONICAL.index("head"), 2] > 1.4 and rest[CANONICAL.index("left_foot"), 2] == pytest.approx(0.02)
    assert rest[CANONICAL.index("left_shoulder"), 0] > 0  # left is +X


def test_contacts_synthetic_rule():
    # a foot that stands for 10 frames, then lifts and moves quickly
    T = 30
    p = np.zeros((T, 1, 3))
    p[10:, 0, 0] = np.arange(T - 10) * 0.1  # 3 m/s at 30 fps
    p[10:, 0, 2] = 0.3
    c = detect_contacts(p, 30.0, rest_heights=np.array([0.02]))
    assert c[:9, 0].all() and not c[12:, 0].any()


def test_gmd_foot_skate_ratio():
    T = 40
    toe = np.zeros((T, 2, 3))
    toe[:, 0, 0] = np.arange(T) * (1.0 / 30)  # 1 m/s along the floor: skating
    assert foot_skate_ratio_gmd(toe, 30.0) == pytest.approx(1.0)
    toe[:, 0, 2] = 0.2  # lifted: not skating
    assert foot_skate_ratio_gmd(toe, 30.0) == 0.0
