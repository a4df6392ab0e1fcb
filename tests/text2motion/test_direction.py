"""Facing while travelling: the prompt's words (backend.models.text.direction), a clip's own heading-minus-travel
(backend.models.retrieval.path.travel_offset), the exemplars a prompt may start from, and a still clip put on a
path facing along it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from backend.eval.t2m_protocol import facing_error_deg
from backend.models.diffusion.exemplar import ExemplarBank
from backend.models.retrieval import RetrievalBaseline, TokenOverlapEncoder, follow_path
from backend.models.retrieval.baseline import Match
from backend.models.retrieval.path import travel_offset
from backend.models.text.direction import BACKWARD, FORWARD, SIDEWAYS, facing_kind, travel_facing
from backend.motion.motion import Motion
from backend.motion.skeleton import CANONICAL


@pytest.fixture(scope="module")
def walk(corpus):
    return corpus.by_id("cmu_iclone_cc/007_01").motion


def backwards(m: Motion) -> Motion:
    """The walk played in reverse: it travels with its back first."""
    return m.copy(rotations=m.rotations[::-1].copy(), root_pos=m.root_pos[::-1].copy())


def test_the_prompt_says_which_way_the_body_faces():
    assert travel_facing("a person walks backwards") == BACKWARD
    assert travel_facing("Walk Backwards Crouched") == BACKWARD
    assert travel_facing("he runs side to side") == SIDEWAYS and travel_facing("a person sidesteps left") == SIDEWAYS
    assert travel_facing("Walk Crouched") == FORWARD and travel_facing("a person jogs in a circle") == FORWARD
    # no gait and no direction: the default (the eval's front), or nothing for the exemplar filter
    assert travel_facing("a person does a cartwheel") == FORWARD
    assert travel_facing("a person does a cartwheel", default=None) is None
    assert facing_kind(0.2) == FORWARD and facing_kind(-3.0) == BACKWARD and facing_kind(1.4) == SIDEWAYS


def test_travel_offset_tells_a_walk_from_a_backward_walk(walk):
    fwd, back = travel_offset(walk), travel_offset(backwards(walk))
    assert abs(fwd) < np.radians(25), np.degrees(fwd)
    assert abs(abs(back) - np.pi) < np.radians(25), np.degrees(back)
    assert travel_offset(Motion.rest(CANONICAL, 60)) is None  # stays in place


def test_facing_error_follows_the_prompt(walk):
    back = backwards(walk)
    xy = back.root_pos[:, :2]
    plain, _ = facing_error_deg(back.heading(), xy, back.fps)
    asked, _ = facing_error_deg(back.heading(), xy, back.fps, prompt="a person walks backwards")
    assert plain > 150 and asked < 30, (plain, asked)


def test_exemplars_travel_the_way_the_prompt_asks(walk):
    back = backwards(walk)
    clips = [SimpleNamespace(id="back", motion=back, texts=["walk crouched backwards"]),
             SimpleNamespace(id="fwd", motion=walk, texts=["walk slowly"])]
    enc = TokenOverlapEncoder([t for c in clips for t in c.texts])
    retr = RetrievalBaseline(SimpleNamespace(clips=clips), enc)
    bank = ExemplarBank(retr, top_k=1)
    assert retr.rank("walk crouched")[0].clip.id == "back"  # the nearest sentence walks backwards...
    assert bank.exemplar("walk crouched", 60).clips == ["fwd"]  # ...so a forward walk starts the generation
    assert bank.exemplar("walk crouched backwards", 60).clips == ["back"]
    assert bank.accepts("a person does a cartwheel", Match(clips[0], 1.0, ""))  # names no gait: any clip
    assert not bank.accepts("a person walks", Match(clips[0], 1.0, ""))


def test_a_still_clip_on_a_path_faces_along_it():
    still = Motion.rest(CANONICAL, 60)  # faces -Y
    path = np.stack([np.linspace(0, 2, 60), np.zeros(60), np.zeros(60)], 1)  # 1 m/s along +X
    out = follow_path(still, path, timed=True)
    err, n = facing_error_deg(out.heading(), path[:, :2], out.fps)
    assert n > 50 and err < 5, err
    back = follow_path(still, path, timed=True, facing=np.pi)  # a backward prompt: the back leads
    err, _ = facing_error_deg(back.heading(), path[:, :2], back.fps, prompt="walks backwards")
    assert err < 5, err


def test_face_along_turns_a_drifted_body_onto_its_path_and_keeps_the_sway(walk):
    from backend.models.retrieval.path import face_along
    from backend.motion.rotations import np_quat_about_z, np_quat_mul
    rot = walk.rotations.copy()
    rot[:, 0] = np_quat_mul(np_quat_about_z(np.full(len(rot), np.radians(35.0))), rot[:, 0])
    off = walk.copy(rotations=rot)  # the same steps, the body turned 35 degrees off its path
    xy = walk.root_pos[:, :2]
    before, _ = facing_error_deg(off.heading(), xy, off.fps)
    fixed = face_along(off, xy, 0.0, window=31)
    after, _ = facing_error_deg(fixed.heading(), xy, fixed.fps)
    real, _ = facing_error_deg(walk.heading(), xy, walk.fps)
    assert before > 30 and after < real + 3, (before, after, real)
    assert np.array_equal(fixed.root_pos, off.root_pos)
    # the gait's own sway (heading wobble within a stride) is still there: the turn is low-passed
    sway = lambda m: np.std(np.diff(np.unwrap(m.heading())))
    assert sway(fixed) > 0.5 * sway(walk)
    assert face_along(off, xy, 0.0, window=0) is off


def test_the_model_faces_along_a_drawn_path(model):
    """The served sampling turns the body onto the path (low-passed); switched off, the network's own facing."""
    from dataclasses import replace

    from backend.eval.t2m_protocol import s_curve
    from backend.models.diffusion.control import Controls
    from backend.models.diffusion.sampler import SamplingOptions
    path = s_curve(4.0, amplitude=0.6, yaw=0.7)
    err = {}
    for window in (0, SamplingOptions().face_path_window):
        g, _ = model.generate_motion("a person walks forward", 120, Controls(trajectory=path, trajectory_timed=False),
                                     replace(SamplingOptions(seed=3), face_path_window=window))
        err[window], n = facing_error_deg(g.heading(), g.root_pos[:, :2], g.fps, prompt="a person walks forward")
        assert n > 60
    on = SamplingOptions().face_path_window
    assert err[on] < 20 and err[on] < err[0], err
