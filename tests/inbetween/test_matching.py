"""The motion-matching base (``backend.models.inbetween.matching``): retrieval from the train split only, the warp
through both keys, keys exact through ``fill``, real steps in a walk gap where the spline slides, the partial-body
fallback to the spline, and clear errors. The index is built over a small subset of corpus v3's train split (the
locomotion takes), so the tests stay quick."""
import numpy as np
import pytest
import torch
from ib_helpers import make_keys

from backend.models.inbetween import matching as Mt
from backend.models.inbetween import sparse_walk as S
from backend.models.inbetween.evaluate import MODEL_ROWS, to_features, variant
from backend.models.inbetween.model import InbetweenError, prepare
from backend.motion.motion import Motion
from backend.motion.skeleton import CANONICAL

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def v3():
    from backend.data.corpus import CORPUS_V3, load_corpus
    return load_corpus(path=CORPUS_V3)


@pytest.fixture(scope="module")
def index(v3):
    """Matching index over 150 train takes of corpus v3 that have walk / run / jog text spans (with fewer, the served
    blend of 32 windows has too few good ones)."""
    clips = [c for c in v3.clips if c.split == "train" and S.locomotion_spans(c)][:150]
    return Mt.MotionIndex.from_motions([c.motion for c in clips], [c.id for c in clips])


@pytest.fixture(scope="module")
def walks(v3):
    """91-frame walk windows of the test split (keys on 0, 30, 60, 90)."""
    return S.locomotion_windows([c for c in v3.clips if c.split == "test"], 91, limit=6)


def key_error(out, keys) -> float:
    q, k = out.rotations[keys.frames], keys.rotations
    dq = np.where(keys.mask[..., None], np.minimum(np.abs(q - k), np.abs(q + k)), 0.0).max()
    dr = np.abs(out.root_pos[keys.frames] - keys.root)[keys.root_mask].max(initial=0.0)
    return float(max(dq, dr))


def test_keys_exact_with_the_matching_base(trained, index, walks, v3):
    m = walks[0]
    clip = next(c for c in v3.clips if c.split == "test" and c.num_frames > 200).motion
    cases = [(m, S.key_frames(91, 30)), (m, list(range(10)) + [45]), (clip, [0, 1, 2, 50, 51, 120, 121, 199])]
    trained.matcher = index
    try:
        for row in ("matching", "model_matching"):
            with variant(trained, *MODEL_ROWS[row]):
                for motion, frames in cases:
                    keys = make_keys(motion, frames)
                    out = trained.fill(keys, np.arange(frames[-1] + 1), 30.0)
                    assert key_error(out, keys) < 1e-12  # the served path writes the (normalised) keys back
                    assert np.isfinite(out.rotations).all() and np.isfinite(out.root_pos).all()
        # and before that overwrite, the warp itself meets both keys (canonical frame, float32 features)
        x = to_features(m.root_pos[None], m.rotations[None])
        jm = torch.zeros(1, 91, 22, dtype=torch.bool)
        rm = torch.zeros(1, 91, dtype=torch.bool)
        jm[0, [0, 30]] = True
        rm[0, [0, 30]] = True
        info = Mt.MatchInfo()
        p = prepare(x, jm, rm, matcher=index, match_info=info)
        assert len(info.gaps) == 1 and info.gaps[0][1:3] == (0, 30)
        win = p.base[0, :31].double()
        # frames next to the keys are within one frame's motion of them: the warp ends on the keys
        assert (win[1] - p.feats[0, 0]).abs().max() < 0.2 and (win[29] - p.feats[0, 30]).abs().max() < 0.2
        spline = prepare(x, jm, rm)
        assert (p.base[0, 1:30] - spline.base[0, 1:30]).abs().max() > 1e-3  # matching really replaced the gap
    finally:
        trained.matcher = None


def test_warp_meets_both_keys_and_leaves_a_matching_window_alone(index):
    wr, wq = index.window(np.array([index.starts[5]]), 24, before=1)
    wr, wq = wr[0], wq[0] / np.linalg.norm(wq[0], axis=-1, keepdims=True)  # unit keys, as fill gives them
    # a window warped onto its own end frames comes back as itself
    r, q = Mt.warp_window(wr, wq, wr[1], wq[1], wr[-1], wq[-1], first=1)
    assert np.abs(r - wr).max() < 1e-9
    assert np.minimum(np.abs(q - wq), np.abs(q + wq)).max() < 1e-12
    # onto other keys, turned and moved: both keys exactly, and the in-between frames move smoothly
    rng = np.random.default_rng(0)
    ka_q = wq[1].copy()
    ka_q[0] = Mt.np_quat_mul(Mt.np_quat_about_z(np.array(1.3)), ka_q[0])
    kb_q = wq[-1] * np.where(rng.random((22, 1)) < 0.5, -1.0, 1.0)  # either quaternion sign
    ka_r, kb_r = np.array([2.0, -1.0, wr[1, 2]]), np.array([2.5, -0.2, wr[-1, 2] + 0.05])
    r, q = Mt.warp_window(wr, wq, ka_r, ka_q, kb_r, kb_q, first=1)
    assert np.abs(r[1] - ka_r).max() < 1e-12 and np.abs(r[-1] - kb_r).max() < 1e-12
    for got, want in ((q[1], ka_q), (q[-1], kb_q)):
        assert np.minimum(np.abs(got - want), np.abs(got + want)).max() < 1e-12
    assert np.linalg.norm(np.diff(r, axis=0), axis=-1).max() < 0.25


def test_retrieved_windows_come_from_the_train_split(v3, index, walks):
    train = {c.id for c in v3.clips if c.split == "train"}
    assert index.splits == ("train",) and set(index.source) <= train
    m = walks[1]
    x = to_features(m.root_pos[None], m.rotations[None])
    jm = torch.zeros(1, 91, 22, dtype=torch.bool)
    rm = torch.zeros(1, 91, dtype=torch.bool)
    jm[0, ::30] = True
    rm[0, ::30] = True
    info = Mt.MatchInfo()
    prepare(x, jm, rm, matcher=index, match_info=info)
    assert [g[1:3] for g in info.gaps] == [(0, 30), (30, 60), (60, 90)]
    for _row, _a, _b, starts, _costs in info.gaps:
        for s in starts:
            assert index.source[index.clip[s]] in train
            assert s + 30 < index.clip_end[s]  # the whole window lies in one training take
    test_ids = {c.id for c in v3.clips if c.split == "test"}
    assert m.meta["name"].rsplit("@", 1)[0] in test_ids


def test_train_index_is_built_from_the_train_split_only():
    from backend.data.corpus import DEFAULT_CORPUS, load_corpus
    corpus = load_corpus(path=DEFAULT_CORPUS)
    idx = Mt.train_index(DEFAULT_CORPUS)
    train = [c for c in corpus.clips if c.split == "train"]
    assert idx.source == [c.id for c in train]
    assert idx.num_frames == sum(c.num_frames for c in train)
    left_out = Mt.train_index(DEFAULT_CORPUS, exclude=[train[0].id])
    assert train[0].id not in left_out.source and len(left_out.source) == len(train) - 1


def test_a_walk_gap_filled_by_matching_steps_where_the_spline_slides(trained, index, walks):
    frames = S.key_frames(91, 30)
    fills = {}
    for row in ("spline", "matching"):
        trained.matcher = index
        with variant(trained, *MODEL_ROWS[row][:2], plant=False):  # the bases themselves, before foot planting
            fills[row] = [trained.fill(S.full_body_keys(m, frames), np.arange(91), 30.0) for m in walks]
    trained.matcher = None
    onsets = {k: int(sum(S.contact_onsets(g).sum() for g in v)) for k, v in fills.items()}
    real = int(sum(S.contact_onsets(m).sum() for m in walks))
    # the real walks step (several onsets per foot per window); the retrieved steps come with the fill
    assert real >= 2 * len(walks)
    assert onsets["matching"] > onsets["spline"], onsets
    assert onsets["matching"] >= 0.4 * real, (onsets, real)
    assert S.contact_count_error(fills["matching"], walks) < S.contact_count_error(fills["spline"], walks)


def test_planted_feet_stop_sliding_and_the_keys_stay_exact(trained, index, walks):
    from backend.eval.t2m_protocol import toe_skate
    frames = S.key_frames(91, 30)
    trained.matcher = index
    fills = {}
    for plant in (False, True):
        with variant(trained, plant=plant):
            fills[plant] = [trained.fill(S.full_body_keys(m, frames), np.arange(91), 30.0) for m in walks]
    trained.matcher = None
    skate = {k: float(np.mean([toe_skate(g) for g in v])) for k, v in fills.items()}
    assert skate[True] <= skate[False], skate  # these fills barely slide; the effect is measured below
    for g, m in zip(fills[True], walks):
        assert key_error(g, S.full_body_keys(m, frames)) < 1e-12
        assert np.array_equal(g.root_pos, fills[False][walks.index(m)].root_pos)  # planting never moves the root
    # only the legs change
    legs = [CANONICAL.index(f"{s}_{j}") for s in ("left", "right") for j in ("hip", "knee", "ankle")]
    others = [j for j in range(22) if j not in legs]
    assert np.array_equal(fills[True][0].rotations[:, others], fills[False][0].rotations[:, others])


def test_postprocess_plants_sliding_feet_beside_keys(trained, walks):
    from backend.eval.t2m_protocol import toe_skate
    m = walks[0]
    root = m.root_pos.copy()
    root[:, 0] += 0.04 * np.sin(np.arange(len(root)) / 2.5)  # wobble the body: planted feet slide ~0.3-0.5 m/s
    bad = m.copy(root_pos=root)
    keyed = np.zeros((bad.num_frames, 22), bool)
    keyed[::30] = True
    fixed = trained.postprocess(bad, keyed)
    assert toe_skate(fixed) < 0.5 * toe_skate(bad), (toe_skate(fixed), toe_skate(bad))
    assert np.abs(fixed.rotations[keyed] - bad.rotations[keyed]).max() < 1e-12
    assert np.array_equal(fixed.root_pos, bad.root_pos)


def test_partial_body_keys_keep_the_spline_base(trained, index, walks):
    m = walks[2]
    frames = [0, 30, 60]
    mask = np.ones((3, 22), bool)
    mask[1, [CANONICAL.index(n) for n in ("left_wrist", "right_wrist", "left_elbow", "right_elbow")]] = False
    keys = make_keys(m, frames, mask)
    out = {}
    for row in ("spline", "matching"):
        trained.matcher = index
        with variant(trained, *MODEL_ROWS[row]):
            out[row] = trained.fill(keys, np.arange(61), 30.0)
    trained.matcher = None
    assert np.array_equal(out["spline"].rotations, out["matching"].rotations)
    assert np.array_equal(out["spline"].root_pos, out["matching"].root_pos)
    # a full-body gap beside a partial one: matching fills only the full one
    keys = make_keys(m, [0, 30, 60, 90], np.r_[np.ones((3, 22), bool), mask[1:2]])
    trained.matcher = index
    with variant(trained, "matching", False):
        a = trained.fill(keys, np.arange(91), 30.0)
    with variant(trained, "spline", False):
        b = trained.fill(keys, np.arange(91), 30.0)
    trained.matcher = None
    assert np.array_equal(a.rotations[61:], b.rotations[61:])
    assert not np.allclose(a.rotations[1:30], b.rotations[1:30])


def test_the_fill_leaves_a_key_with_the_context_velocity(trained, index, walks):
    m = walks[3]
    frames = list(range(10)) + [40]
    trained.matcher = index
    with variant(trained, "matching", False):
        out = trained.fill(make_keys(m, frames), np.arange(41), 30.0)
    trained.matcher = None
    # the root's velocity out of the last context frame continues the one into it (no kink at the key)
    v_in, v_out = m.root_pos[9] - m.root_pos[8], out.root_pos[10] - out.root_pos[9]
    assert np.linalg.norm(v_out - v_in) < 0.01


def test_bad_input_raises_clear_errors(trained, index, walks):
    with pytest.raises(Mt.MatchingError, match="at least one motion"):
        Mt.MotionIndex.from_motions([])
    other = CANONICAL.__class__(CANONICAL.names[:-1], CANONICAL.parents[:-1], CANONICAL.offsets[:-1])
    with pytest.raises(Mt.MatchingError, match="canonical skeleton"):
        Mt.MotionIndex.from_motions([Motion.rest(other, 10)])
    pose = np.zeros((1, Mt.POSE_DIM))
    with pytest.raises(Mt.MatchingError, match="NaN"):
        index.query(20, pose * np.nan, np.zeros((1, Mt.VEL_DIM)), pose, np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(Mt.MatchingError, match="longer than the gap"):
        index.query(10 ** 6, pose, np.zeros((1, Mt.VEL_DIM)), pose, np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(Mt.MatchingError, match="ease"):
        Mt.ease(np.zeros(3), "cubic")
    keys = make_keys(walks[0], [0, 30])
    with variant(trained, "nearest", False), pytest.raises(InbetweenError, match="unknown in-betweening base"):
        trained.fill(keys, np.arange(31), 30.0)
    # the model's own key checks still come first with the matching base
    trained.matcher = index
    bad = make_keys(walks[0], [0, 30])
    bad.rotations[1, 3] = np.nan
    with variant(trained, "matching", False), pytest.raises(InbetweenError, match="NaN"):
        trained.fill(bad, np.arange(31), 30.0)
    trained.matcher = None


def test_windows_with_a_capture_glitch_are_never_retrieved(v3):
    """Mocap flips (an ankle turning 90-120 degrees in one frame) exist in the corpus; a fill must not copy one."""
    m = next(c.motion for c in v3.clips if c.split == "train").slice(0, 120)
    rot = m.rotations.copy()
    j = CANONICAL.index("right_ankle")
    rot[60:, j] = np.array([1.0, 0.0, 0.0, 0.0])  # the ankle flips by 180 degrees at frame 60 and stays
    clean = Mt.MotionIndex.from_motions([m], ["clean"])
    flipped = Mt.MotionIndex.from_motions([m.copy(rotations=rot)], ["flipped"])
    L = 20
    s_clean = clean._length_table(L)[0]
    s_flip = flipped._length_table(L)[0]
    assert len(s_flip) < len(s_clean)
    assert not np.any((s_flip - 1 <= 60) & (s_flip + L >= 60))  # no candidate window spans frame 60
    assert np.any(s_flip + L < 60) and np.any(s_flip > 60)  # the rest of the take still serves


def test_blend_weights_favour_the_closer_matches():
    w = Mt.blend_weights(np.array([1.0, 1.0, 1.5, 3.0]), 0.5)
    assert np.isclose(w.sum(), 1.0) and w[0] == w[1] > w[2] > w[3] > 0
    assert np.isclose(w[2] / w[0], np.exp(-1.0))  # half again the best cost: e^-1 at tau 0.5
    assert np.allclose(Mt.blend_weights(np.array([1.0, 2.0, 9.0]), 0.0), 1 / 3)  # tau 0: uniform
    r, q = Mt.blend(np.array([[[0.0, 0, 0]], [[1.0, 0, 0]]]), np.tile([0, 0, 0, 1.0], (2, 1, 22, 1)),
                    np.array([0.75, 0.25]))
    assert np.allclose(r[0], [0.25, 0, 0]) and np.allclose(q, [0, 0, 0, 1])
