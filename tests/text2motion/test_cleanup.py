"""Foot-contact cleanup: planted feet stop sliding, legs keep their lengths, the root never moves."""
from __future__ import annotations

import numpy as np

from backend.eval.t2m_protocol import toe_skate
from backend.models.diffusion.cleanup import cleanup_foot_contacts, pin_targets, two_bone_ik
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
