"""The contact cleanup's flat-foot turn never snaps the foot (issue 16: foot pops), on a synthetic leg."""
from __future__ import annotations

import numpy as np

from backend.motion.motion import Motion
from backend.motion.rotations import np_quat_angle, np_quat_mul
from backend.motion.skeleton import Skeleton
from backend.retarget.cleanup import LegChain, contact_cleanup, limit_turn_steps


def _about_x(deg):
    h = np.radians(np.asarray(deg, np.float64)) / 2
    q = np.zeros(h.shape + (4,))
    q[..., 0], q[..., 3] = np.sin(h), np.cos(h)
    return q


def _pops(turned, base, factor=3.0, floor_deg=3.0):
    """Frames on which ``turned`` (T,4 world rotations) turns more than ``factor`` x ``base``'s turn and more than
    ``floor_deg`` degrees (the eval's ``foot_pops``)."""
    turn = np.degrees(np_quat_angle(turned[1:], turned[:-1]))
    ref = np.degrees(np_quat_angle(base[1:], base[:-1]))
    return np.nonzero((turn > factor * ref) & (turn > floor_deg))[0]


def stretched_stance(T=50, run=(5, 45), speed=0.025, pitch_rate=0.4):
    """One leg (pelvis, hip, knee, ankle, toe; forward +Y, up +Z, floor z = 0), knee bent 24 degrees, the hips going
    forward ``speed`` m a frame (75 cm/s) while the foot is planted (ankle and toe) on ``run``, the foot pitching
    toe up slowly (``pitch_rate`` degrees a frame) from the run's start. The run is long enough for the pinned ankle
    to be out of the leg's reach near both of its ends: the leg's solve pulls the ankle off its pin there, and the
    toe's aim pitches the foot after it (without the limit on its turn: 3.1-6.2 degrees a frame on frames 34-43,
    the source's 0.4)."""
    sk = Skeleton(("pelvis", "hip", "knee", "ankle", "toe"), np.array([-1, 0, 1, 2, 3]),
                  np.array([[0, 0, 0.95], [0.1, 0, -0.05], [0, 0, -0.42], [0, 0, -0.42], [0, 0.13, -0.04]], float))
    a = 12.0
    t = np.arange(T)
    rot = np.tile([0, 0, 0, 1.0], (T, 5, 1))
    rot[:, 1], rot[:, 2] = _about_x(np.full(T, a)), _about_x(np.full(T, -2 * a))
    rot[:, 3] = _about_x(a + pitch_rate * np.maximum(0, t - run[0]))  # the toe rises slowly
    root = np.stack([np.zeros(T), speed * (t - T / 2), np.full(T, 0.06 + 0.05 + 0.84 * np.cos(np.radians(a)))], 1)
    motion = Motion(sk, 30.0, root, rot)
    leg = LegChain(hip=1, knee=2, ankle=3, toe=4, hinge=np.array([-1.0, 0, 0]), ankle_clearance=0.06,
                   toe_clearance=0.02)
    contacts = np.zeros((T, 1, 2), bool)
    contacts[run[0]:run[1], 0] = True
    return motion, leg, contacts


def test_a_planted_foot_on_a_stretched_leg_turns_no_faster_than_the_source_allows():
    motion, leg, contacts = stretched_stance()
    out = contact_cleanup(motion, [leg], contacts, ground=0.0)
    g_in, p_in = motion.global_rotations_and_positions()
    g_out, p_out = out.global_rotations_and_positions()
    # the situation this is about: the pinned ankle is off its pin (out of the leg's reach) on some planted frames
    planted = np.arange(5, 45)
    hip_to_pin = np.linalg.norm(p_out[planted, leg.hip] - p_out[25, leg.ankle], axis=-1)
    assert hip_to_pin.max() > 0.84, "the hips go further from the pin than the leg reaches"
    # no one-frame snap of the foot: never more than 3x the source foot's turn (when over 3 degrees)
    assert len(_pops(g_out[:, leg.ankle], g_in[:, leg.ankle])) == 0, _pops(g_out[:, leg.ankle], g_in[:, leg.ankle])
    # and the foot is still held: the toe skates far less than the uncleaned one (the hips' 75 cm/s)
    v_in = np.linalg.norm(np.diff(p_in[planted, leg.toe, :2], axis=0), axis=-1)
    v_out = np.linalg.norm(np.diff(p_out[planted, leg.toe, :2], axis=0), axis=-1)
    assert v_out.mean() < 0.25 * v_in.mean()
    # on the frames where the ankle can stay on its pin, it does
    near = planted[np.linalg.norm(p_in[planted, leg.hip] - p_out[25, leg.ankle], axis=-1) < 0.835]
    assert len(near) > 10
    assert np.linalg.norm(p_out[near, leg.ankle] - p_out[25, leg.ankle], axis=-1).max() < 1e-6


def test_limit_turn_steps_follows_a_jump_at_the_allowed_rate_and_keeps_the_rest():
    T = 30
    base = _about_x(0.5 * np.arange(T))  # the source turns half a degree a frame
    turn = np.tile([0, 0, 0, 1.0], (T, 1))
    turn[10:20] = _about_x(np.full(10, 12.0))  # a 12-degree correction switched on and off in one frame each
    assert len(_pops(np_quat_mul(turn, base), base)) == 2
    out = limit_turn_steps(turn, base)
    turned = np_quat_mul(out, base)
    assert len(_pops(turned, base)) == 0
    step = np.degrees(np_quat_angle(turned[1:], turned[:-1]))
    assert step.max() <= 0.95 * 3.0 + 1e-9
    # it gets there (a few frames late) and lets go (a few frames late), and leaves the frames before alone
    assert np.allclose(out[:10], turn[:10])
    assert np.degrees(np_quat_angle(out[17], turn[17])) < 1e-9
    assert np.degrees(np_quat_angle(out[-1], turn[-1])) < 1e-9
    # nothing to limit: the same array back
    smooth = _about_x(np.linspace(0.0, 20.0, T))
    assert limit_turn_steps(smooth, base) is smooth
