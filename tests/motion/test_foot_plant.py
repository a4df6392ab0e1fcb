"""Foot planting (``backend.motion.foot_plant``): planted feet stop sliding, legs keep their lengths, the root never
moves, and an artist's keys (anchors) stay where they are."""
from __future__ import annotations

import numpy as np

from backend.eval.t2m_protocol import toe_skate
from backend.motion.foot_plant import cleanup_foot_contacts, pin_targets, two_bone_ik
from backend.motion.skeleton import CANONICAL


def test_two_bone_ik_reaches_reachable_targets_and_keeps_lengths(rng):
    a = np.zeros((50, 3))
    b = np.tile([0.0, -0.05, -0.4], (50, 1))
    c = np.tile([0.0, 0.0, -0.8], (50, 1))
    t = np.stack([rng.uniform(-0.2, 0.2, 50), rng.uniform(-0.2, 0.2, 50), rng.uniform(-0.7, -0.45, 50)], 1)
    assert np.all(np.linalg.norm(t, axis=1) < 0.79)  # within reach of the 0.40 + 0.40 m leg
    nb, nc = two_bone_ik(a, b, c, t)
    assert np.allclose(nc, t, atol=1e-6)
    assert np.allclose(np.linalg.norm(nb - a, axis=1), np.linalg.norm(b - a, axis=1))
    assert np.allclose(np.linalg.norm(nc - nb, axis=1), np.linalg.norm(c - b, axis=1))
    far = np.tile([0.0, 0.0, -3.0], (1, 1))
    _, nc = two_bone_ik(a[:1], b[:1], c[:1], far)  # out of reach: leg straight towards it
    assert abs(np.linalg.norm(nc) - np.linalg.norm(b[0]) - np.linalg.norm(c[0] - b[0])) < 1e-3


def test_pin_targets_hold_the_span_mean_and_ease_out():
    pos = np.stack([np.linspace(0, 1, 20), np.zeros(20), np.zeros(20)], 1)
    contact = np.zeros(20, bool)
    contact[5:10] = True
    target, w = pin_targets(pos, contact, blend=3)
    assert np.allclose(target[5:10, 0], pos[5:10, 0].mean()) and np.all(w[5:10] == 1)
    assert 0 < w[4] < 1 and 0 < w[10] < 1 and w[0] == 0 and w[15] == 0


def test_cleanup_removes_sliding_from_a_skating_walk(corpus):
    walk = corpus.by_id("cmu_iclone_cc/007_01").motion
    root = walk.root_pos.copy()
    root[:, 0] += 0.06 * np.sin(np.arange(len(root)) / 3.0)  # wobble the body: planted feet slide
    bad = walk.copy(root_pos=root)
    before = toe_skate(bad)
    fixed, info = cleanup_foot_contacts(bad, contacts=walk.contacts)
    after = toe_skate(fixed)
    assert before > 0.15 and after < before / 4, (before, after)
    assert info["pinned_frames"] > 20
    assert np.array_equal(fixed.root_pos, bad.root_pos)
    # only the legs changed, bone lengths are the skeleton's
    legs = {CANONICAL.index(n) for n in ("left_hip", "left_knee", "left_ankle", "right_hip", "right_knee",
                                         "right_ankle")}
    others = [j for j in range(22) if j not in legs]
    assert np.allclose(fixed.rotations[:, others], bad.rotations[:, others])


def test_cleanup_without_contacts_changes_nothing(corpus):
    m = corpus.by_id("cmu_iclone_cc/007_01").motion
    fixed, info = cleanup_foot_contacts(m, contacts=np.zeros((m.num_frames, 4), bool))
    assert info["pinned_frames"] == 0
    assert np.allclose(fixed.positions(), m.positions())


def test_a_plant_that_holds_a_key_is_pinned_on_the_key():
    pos = np.stack([np.linspace(0, 0.2, 30), np.zeros(30), np.zeros(30)], 1)  # a foot sliding 20 cm
    contact = np.zeros(30, bool)
    contact[5:20] = True
    anchors = np.zeros(30, bool)
    anchors[8] = True
    target, w = pin_targets(pos, contact, blend=3, anchors=anchors)
    assert np.allclose(target[5:20, 0], pos[8, 0]) and np.all(w[5:20] == 1)  # pinned where the key has it
    assert not np.allclose(target[5:20, 0], pos[5:20, 0].mean())
    anchors[[14, 18]] = True  # keys that disagree: the pin glides from one to the next
    target, _ = pin_targets(pos, contact, blend=3, anchors=anchors)
    assert np.allclose(target[[8, 14, 18], 0], pos[[8, 14, 18], 0])
    assert np.all(np.diff(target[8:19, 0]) >= 0)


def test_a_key_off_every_plant_keeps_its_foot():
    pos = np.stack([np.linspace(0, 1, 20), np.zeros(20), np.zeros(20)], 1)
    contact = np.zeros(20, bool)
    contact[5:10] = True
    anchors = np.zeros(20, bool)
    anchors[11] = True  # inside the ease-out: without the anchor the pin would pull this frame
    _, w_free = pin_targets(pos, contact, blend=3)
    _, w = pin_targets(pos, contact, blend=3, anchors=anchors)
    assert w_free[11] > 0 and w[11] == 0
    assert 0 < w[10] < w_free[10]  # ramps down towards the key, no jump
    assert np.all(w[5:9] == 1)


def test_keyed_legs_come_back_exactly(corpus):
    walk = corpus.by_id("cmu_iclone_cc/007_01").motion
    root = walk.root_pos.copy()
    root[:, 0] += 0.06 * np.sin(np.arange(len(root)) / 3.0)
    bad = walk.copy(root_pos=root)
    keyed = np.zeros((bad.num_frames, 22), bool)
    keyed[::30] = True
    fixed, info = cleanup_foot_contacts(bad, contacts=walk.contacts, keyed=keyed)
    assert info["pinned_frames"] > 20
    assert np.abs(fixed.rotations[keyed] - bad.rotations[keyed]).max() < 1e-12  # (Motion renormalises)
    assert toe_skate(fixed) < toe_skate(bad) / 2
    # the feet at the keys are where the keys put them, so the frames beside a key do not jump towards it
    toes = [CANONICAL.index("left_foot"), CANONICAL.index("right_foot")]
    p_fix, p_bad = fixed.positions()[:, toes], bad.positions()[:, toes]
    assert np.abs(p_fix[::30] - p_bad[::30]).max() < 1e-9
    step = np.linalg.norm(np.diff(p_fix, axis=0), axis=-1)
    assert step.max() < np.linalg.norm(np.diff(p_bad, axis=0), axis=-1).max() + 0.02
