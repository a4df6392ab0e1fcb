"""Keys are law, partial-body keys, extreme gaps, determinism and bad input, through ``Inbetweener.fill``."""
import numpy as np
import pytest
import torch
from ib_helpers import make_keys

from backend.models.inbetween.baseline import SlerpInbetweener
from backend.models.inbetween.keys import CanonicalKeys
from backend.models.inbetween.layouts import part_mask
from backend.models.inbetween.model import InbetweenError
from backend.motion.rotations import np_quat_about_z, np_quat_angle, np_quat_apply


def key_error(out, keys, out_frames) -> float:
    worst = 0.0
    for k, f in enumerate(keys.frames):
        hit = np.nonzero(out_frames == f)[0]
        if not len(hit):
            continue
        r = hit[0]
        q, qk = out.rotations[r, keys.mask[k]], keys.rotations[k, keys.mask[k]]
        if len(q):
            worst = max(worst, float(np.minimum(np.abs(q - qk).max(-1), np.abs(q + qk).max(-1)).max()))
        if keys.root_mask[k]:
            worst = max(worst, float(np.abs(out.root_pos[r] - keys.root[k]).max()))
    return worst


def test_exact_keys_for_random_layouts(noisy_model, trained, corpus):
    rng = np.random.default_rng(7)
    clips = [c for c in corpus.clips if c.split == "test" and c.num_frames > 120]
    for trial in range(16):
        m = clips[trial % len(clips)].motion
        T = int(rng.integers(12, min(m.num_frames, 300)))
        s = int(rng.integers(0, m.num_frames - T + 1))
        K = int(rng.integers(2, max(3, T // 4)))
        frames = np.sort(rng.choice(np.arange(s, s + T), size=K, replace=False))
        mask = rng.random((K, 22)) < (0.5 if trial % 2 else 1.01)
        root_mask = rng.random(K) < 0.7
        keys = make_keys(m, frames, mask, root_mask)
        out_frames = np.arange(frames[0] - int(rng.integers(0, 6)), frames[-1] + int(rng.integers(0, 6)) + 1)
        for model in (noisy_model, trained):
            out = model.fill(keys, out_frames, 30.0)
            assert out.num_frames == len(out_frames)
            assert np.isfinite(out.rotations).all() and np.isfinite(out.root_pos).all()
            assert key_error(out, keys, out_frames) < 1e-9
    # the noisy network really changed the unkeyed frames (the test above is not vacuous)
    slerp = SlerpInbetweener().fill(keys, out_frames, 30.0)
    assert np_quat_angle(noisy_model.fill(keys, out_frames, 30.0).rotations, slerp.rotations).max() > 0.5


def test_keys_exact_before_the_final_overwrite(noisy_model, corpus):
    """The residual is zero on keyed channels by construction, not only after the final copy of the keys."""
    m = next(c.motion for c in corpus.clips if c.split == "test" and c.num_frames > 60)
    from backend.models.inbetween.evaluate import to_features
    x = to_features(m.root_pos[None, :50], m.rotations[None, :50])
    rng = np.random.default_rng(3)
    jm = torch.from_numpy(rng.random((1, 50, 22)) < 0.3)
    rm = torch.from_numpy(rng.random((1, 50)) < 0.3)
    out = noisy_model.predict(x, jm, rm)
    from backend.models.inbetween.frames import channel_mask
    cm = channel_mask(jm, rm)
    assert (out[cm] - x[cm]).abs().max() < 1e-5
    assert (out[~cm] - x[~cm]).abs().max() > 0.1


def _pose_features(m):
    """Root-relative joint positions, turned to face -Y per frame: what a pose looks like, wherever it is."""
    pos = m.positions()
    pos = pos - pos[:, :1]
    ang = m.heading()
    return np_quat_apply(np_quat_about_z(-ang)[:, None], pos).reshape(len(pos), -1)


def _nearest_training_pose(train, m) -> float:
    return float(torch.cdist(torch.from_numpy(_pose_features(m)).float(), train).min(1).values.mean())


@pytest.fixture(scope="module")
def training_poses(corpus):
    train = np.concatenate([_pose_features(c.motion) for c in corpus.clips if c.split == "train"])
    return torch.from_numpy(train[::3]).float()


def _check_body(out, gt, what):
    pos = out.positions()
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1).max() * 30
    gt_speed = np.linalg.norm(np.diff(gt.positions(), axis=0), axis=-1).max() * 30
    assert speed < max(1.5 * gt_speed, 4.0), f"{what}: a joint moves at {speed:.1f} m/s"
    assert pos[..., 2].min() > -0.01, f"{what}: a joint goes {-pos[..., 2].min():.2f} m into the floor"


def test_partial_body_keys_between_full_poses(trained, corpus, training_poses):
    """Full poses 3 s apart, only the arms keyed in between (root keyed too, so a dancer's dips pull the pelvis
    down): the legs the model makes stay out of the floor (they went 11 cm into it before the floor pass), move
    smoothly, and look like poses from the data (nearest training pose about as near as for the real motion)."""
    arms = part_mask(["left_arm", "right_arm"])
    nn_model, nn_gt = [], []
    for c in [c for c in corpus.clips if c.split == "test" and c.num_frames >= 91][:6]:
        m = c.motion.slice(0, 91)
        frames = np.array([0, 15, 30, 45, 60, 75, 90])
        mask = np.repeat(arms[None], len(frames), 0)
        mask[[0, -1]] = True
        keys = make_keys(m, frames, mask)
        keys.rotations[1:-1][:, ~arms] = np.array([0.0, 0.0, 0.7071, 0.7071])  # unkeyed values: must be ignored
        out = trained.fill(keys, np.arange(91), 30.0)
        _check_body(out, m, c.id)
        nn_model.append(_nearest_training_pose(training_poses, out))
        nn_gt.append(_nearest_training_pose(training_poses, m))
    assert np.mean(nn_model) < 1.2 * np.mean(nn_gt) + 0.02, (nn_model, nn_gt)


def test_partial_body_keys_with_legs_never_keyed(trained, corpus, training_poses):
    """Only the upper body keyed, every 15 frames; pelvis and legs keyed nowhere. The baseline has nothing to
    interpolate there (it holds the rest pose); the model must make the legs up. They must be much closer to the
    real legs and to the data's poses than the baseline's, smooth and out of the floor."""
    upper = part_mask(["left_arm", "right_arm", "spine_head"])
    legs = ~upper
    err_model, err_slerp, nn_model, nn_slerp, nn_gt = [], [], [], [], []
    for c in [c for c in corpus.clips if c.split == "test" and c.num_frames >= 91][:6]:
        m = c.motion.slice(0, 91)
        frames = np.array([0, 15, 30, 45, 60, 75, 90])
        keys = make_keys(m, frames, np.repeat(upper[None], len(frames), 0))
        keys.rotations[:, legs] = np.array([0.0, 0.0, 0.7071, 0.7071])
        out = trained.fill(keys, np.arange(91), 30.0)
        slerp = SlerpInbetweener().fill(keys, np.arange(91), 30.0)
        _check_body(out, m, c.id)
        err_model.append(np.degrees(np_quat_angle(out.rotations[:, legs], m.rotations[:, legs])).mean())
        err_slerp.append(np.degrees(np_quat_angle(slerp.rotations[:, legs], m.rotations[:, legs])).mean())
        nn_model.append(_nearest_training_pose(training_poses, out))
        nn_slerp.append(_nearest_training_pose(training_poses, slerp))
        nn_gt.append(_nearest_training_pose(training_poses, m))
    assert np.mean(err_model) < 0.5 * np.mean(err_slerp), (err_model, err_slerp)
    assert np.mean(nn_model) < 0.85 * np.mean(nn_slerp), (nn_model, nn_slerp)
    assert np.mean(nn_model) < 1.6 * np.mean(nn_gt) + 0.02, (nn_model, nn_gt)


def test_one_frame_gap(trained, corpus):
    for c in [c for c in corpus.clips if c.split == "test" and c.num_frames > 40][:5]:
        m = c.motion
        frames = np.array(list(range(10)) + [11])
        out = trained.fill(make_keys(m, frames), np.arange(12), 30.0)
        assert key_error(out, make_keys(m, frames), np.arange(12)) < 1e-9
        assert np.degrees(np_quat_angle(out.rotations[10], m.rotations[10]).max()) < 15.0
        assert np.linalg.norm(out.root_pos[10] - m.root_pos[10]) < 0.03


def test_three_hundred_frame_gap(trained, corpus):
    """A 10 s gap (longer than one attention window: filled in cross-faded windows). Keys stay exact, nothing
    jumps, the root does not wander away from the path between its keys."""
    a = max((c for c in corpus.clips if c.split == "test"), key=lambda c: c.num_frames).motion
    b = next(c for c in corpus.clips if c.split == "test" and c.id.endswith("02_02")).motion
    T = 10 + 300 + 1
    frames = np.arange(10)
    keys = make_keys(a, frames)
    far = make_keys(b, [40])
    keys = CanonicalKeys(np.r_[frames, T - 1], np.concatenate([keys.rotations, far.rotations]),
                         np.concatenate([keys.root, far.root + [2.0, -3.0, 0.0]]), np.ones((11, 22), bool),
                         np.ones(11, bool))
    out = trained.fill(keys, np.arange(T), 30.0)
    assert out.num_frames == T and np.isfinite(out.rotations).all()
    assert key_error(out, keys, np.arange(T)) < 1e-9
    pos = out.positions()
    step = np.linalg.norm(np.diff(pos, axis=0), axis=-1).max()
    assert step < 0.25, f"a joint jumps {step:.2f} m in one frame"
    line = keys.root[-1] - keys.root[9]
    t = np.clip((out.root_pos - keys.root[9]) @ line / (line @ line), 0, 1)
    off_path = np.linalg.norm(out.root_pos - (keys.root[9] + t[:, None] * line), axis=-1).max()
    assert off_path < 2.0, f"the root wanders {off_path:.2f} m off its path"


def test_deterministic(trained, corpus):
    from backend.models.inbetween.model import DEFAULT_WEIGHTS, Inbetweener
    m = next(c.motion for c in corpus.clips if c.split == "test" and c.num_frames > 60)
    keys = make_keys(m, [0, 1, 2, 25, 50])
    a = trained.fill(keys, np.arange(51), 30.0)
    b = trained.fill(keys, np.arange(51), 30.0)
    c = Inbetweener.load(DEFAULT_WEIGHTS).fill(keys, np.arange(51), 30.0)
    assert np.array_equal(a.rotations, b.rotations) and np.array_equal(a.rotations, c.rotations)
    assert np.array_equal(a.root_pos, c.root_pos)


@pytest.mark.parametrize("case", ["nan", "order", "zero_quat", "shape", "nothing", "huge"])
def test_bad_keys_are_refused_clearly(trained, corpus, case):
    m = corpus.clips[0].motion
    keys = make_keys(m, [0, 5, 10])
    out = np.arange(11)
    if case == "nan":
        keys.rotations[1, 3, 0] = np.nan
    elif case == "order":
        keys.frames = np.array([0, 10, 5])
    elif case == "zero_quat":
        keys.rotations[1, 4] = 0.0
    elif case == "shape":
        keys.mask = keys.mask[:, :20]
    elif case == "nothing":
        keys.mask[:] = False
        keys.root_mask[:] = False
    elif case == "huge":
        out = np.arange(0, 10_000_000)
    with pytest.raises(InbetweenError) as e:
        trained.fill(keys, out, 30.0)
    assert len(str(e.value)) > 10 and "Traceback" not in str(e.value)
