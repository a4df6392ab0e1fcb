"""Controls in feature space: world <-> model frames, keys, trajectories, paths, cheap FK for guidance."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.models.diffusion.control import (
    ControlError,
    Frame,
    JointTargets,
    Keys,
    Observation,
    heading_of_features,
    progress_profile,
    resample_path,
    trajectory_observation,
    travel_direction,
)
from backend.models.diffusion.losses import chain_positions, positions
from backend.models.features import motion_to_features
from backend.motion.skeleton import CANONICAL


@pytest.fixture(scope="module")
def clip(corpus):
    return corpus.by_id("cmu_iclone_cc/007_01").motion


def test_frame_transform_matches_rotating_the_motion(clip):
    frame = Frame(yaw=0.7, origin=(1.5, -2.0))
    f = motion_to_features(clip, contacts=True)
    world = clip.rotated_about_z(0.7)
    world = world.copy(root_pos=world.root_pos + np.array([1.5, -2.0, 0.0]))
    assert np.allclose(frame.features_to_world(f)[:, :135], motion_to_features(world), atol=1e-5)
    assert np.allclose(frame.features_to_model(frame.features_to_world(f)), f, atol=1e-5)
    p = np.array([0.3, 0.4, 1.0])
    assert np.allclose(frame.point_to_model(frame.point_to_world(p)), p)


def test_heading_of_features_matches_motion_heading(clip):
    f = motion_to_features(clip)
    for t in (0, 30, 60):
        assert abs(heading_of_features(f[t]) - clip.heading(t)) < 1e-4


def test_keys_observe_exactly_the_keyed_channels(clip):
    kf = np.array([0, 10])
    mask = np.ones((2, 22), bool)
    mask[1, 5:] = False
    keys = Keys(kf, list(CANONICAL.names), clip.rotations[kf], clip.root_pos[kf], mask, np.array([True, False]))
    obs = keys.observation(20)
    f = motion_to_features(clip)
    assert np.allclose(obs.values[0, :135], f[0], atol=1e-5) and obs.mask[0, :135].all()
    assert obs.mask[10, 3:3 + 30].all() and not obs.mask[10, 3 + 30:135].any() and not obs.mask[10, :3].any()
    assert not obs.mask[1:10].any() and not obs.mask[11:].any()
    assert not obs.mask[:, 135:].any()  # contacts are never observed


def test_keys_reject_bad_input(clip):
    kf = np.array([0])
    with pytest.raises(ControlError, match="outside"):
        Keys(np.array([25]), list(CANONICAL.names), clip.rotations[:1], clip.root_pos[:1], None, None).observation(20)
    with pytest.raises(ControlError, match="canonical skeleton does not have"):
        Keys(kf, ["pelvis", "tail"], clip.rotations[:1, :2], clip.root_pos[:1], None, None)
    bad = clip.rotations[:1].copy()
    bad[0, 3, 0] = np.nan
    with pytest.raises(ControlError, match="NaN"):
        Keys(kf, list(CANONICAL.names), bad, clip.root_pos[:1], None, None)
    with pytest.raises(ControlError, match="zero quaternion"):
        Keys(kf, list(CANONICAL.names), np.zeros((1, 22, 4)), clip.root_pos[:1], None, None)


def test_trajectory_observation_checks_length_and_values():
    xy = np.stack([np.linspace(0, 1, 10), np.zeros(10)], 1)
    obs = trajectory_observation(xy, 10)
    assert obs.mask[:, :2].all() and not obs.mask[:, 2:].any()
    with pytest.raises(ControlError, match="one point per frame"):
        trajectory_observation(xy, 12)
    xy[3, 0] = np.inf
    with pytest.raises(ControlError, match="NaN"):
        trajectory_observation(xy, 10)


def test_observation_merge_prefers_the_second():
    a, b = Observation.empty(4, 5), Observation.empty(4, 5)
    a.set([0, 1], [0], [[1.0], [1.0]])
    b.set([1], [0], [[2.0]])
    m = a.merged(b)
    assert m.values[0, 0] == 1.0 and m.values[1, 0] == 2.0 and m.mask[:, 0].tolist() == [1, 1, 0, 0]


def test_travel_direction_and_paths():
    t = np.linspace(0, 1, 31)
    assert abs(travel_direction(np.stack([np.zeros(31), -t], 1))) < 1e-9  # walking -Y = forward = 0
    assert abs(travel_direction(np.stack([t, np.zeros(31)], 1)) - np.pi / 2) < 1e-9  # +X = the character's left
    assert travel_direction(np.zeros((31, 2))) is None
    path = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    pts = resample_path(path, np.linspace(0, 1, 5))
    assert np.allclose(pts[:, :2], [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1]])
    prof = progress_profile(np.stack([t ** 2, np.zeros(31)], 1))
    assert prof[0] == 0 and prof[-1] == 1 and np.all(np.diff(prof) >= 0) and prof[15] < 0.5


def test_chain_positions_equal_full_fk(clip):
    f = torch.tensor(motion_to_features(clip)[:5])
    full = positions(f)
    wrist, toe = CANONICAL.index("left_wrist"), CANONICAL.index("right_foot")
    part = chain_positions(f, [wrist, toe])
    assert torch.allclose(part[wrist], full[:, wrist], atol=1e-5)
    assert torch.allclose(part[toe], full[:, toe], atol=1e-5)


def test_joint_targets_validate_and_window():
    tg = JointTargets()
    tg.add("left_wrist", 40, (0.1, 0.2, 1.0))
    tg.add(CANONICAL.index("head"), 130, (0.0, 0.0, 1.7))
    w = tg.within(100, 200)
    assert w.frames == [30] and w.joints == [CANONICAL.index("head")]
    with pytest.raises(ControlError):
        tg.add("left_wrist", 3, (0.0, np.nan, 1.0))
    with pytest.raises(KeyError):
        tg.add("tail", 3, (0.0, 0.0, 1.0))
