"""Contact-preserving cleanup after a transfer: planted feet stay planted, feet stay above the floor.

Input: the retargeted motion (world-aligned, on the target's skeleton), the *source's* foot contacts (a foot is
planted on the target exactly when it was planted in the source), the target's leg chains and floor.

Per leg, per frame:

* the pivot is the ankle while the source's ankle is in contact, the toe while only its toe is (heel off);
* each run of one pivot gets a pin: the mean of that point over the run (so the correction is as small as it can
  be), lifted to its rest height above the floor; when the pivot passes from ankle to toe (or back) inside one
  contact, the new pin is derived from the old one through the foot's rigid offset on that frame, so nothing jumps;
* the ankle target on a contact frame is the pin (or, for a toe pivot, the pin minus the current ankle-to-toe
  offset: the foot keeps its orientation and rolls about its toe);
* around contacts, the correction (target minus transferred ankle) fades in and out over ``blend`` frames with a
  smoothstep, so there is no pop at lift-off or touch-down;
* on every frame the ankle and toe are kept at or above their rest heights over the floor (targets lifted, and after
  the flat-foot turn the leg solved again where a foot still dips, the lift eased);
* analytic two-bone IK (:mod:`backend.retarget.ik`) moves thigh and shin; the foot keeps its world rotation;
* while ankle and toe are both planted (foot flat), the foot turns about the pinned ankle so the toe stays put too;
  that turn never changes so fast that the foot turns, frame to frame, more than 3 times the source's foot and more
  than 3 degrees (:func:`limit_turn_steps`; where it would, e.g. a leg out of reach pulling the ankle off its pin, it
  follows at that rate, the toe a little off its pin for a few frames).

Then the whole body keeps above the floor (:func:`keep_above_floor`): on frames where any body point (every bone
head of the body, every leaf bone's tail) would go below the floor, the body is lifted by the depth, the lift eased
in and out so it never pops; ankles and toes count from their rest heights over the floor (they never go below
those), a point whose rest height is under the floor (a heel tail) from there.

Optional hand targets put wrists on given world positions with given weights (same IK on the arms).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.contacts import true_runs
from ..motion.edit import smoothstep
from ..motion.motion import Motion
from ..motion.rotations import np_quat_apply
from .ik import fk_subset, solve_limb, solve_limb_rotations


@dataclass
class LegChain:
    hip: int
    knee: int
    ankle: int
    toe: int | None
    hinge: np.ndarray  # rest hinge axis of the knee (world-aligned rest frame), e.g. -X: knees bend forward
    ankle_clearance: float  # rest height of the ankle joint above the floor
    toe_clearance: float


def leg_targets(ankle: np.ndarray, toe: np.ndarray | None, c_ankle: np.ndarray, c_toe: np.ndarray, ground: float,
                leg: LegChain, blend: int = 6) -> np.ndarray:
    """Desired ankle positions (T,3) for one leg (see module docstring)."""
    T = len(ankle)
    if toe is None:
        c_ankle, c_toe, toe = c_ankle | c_toe, np.zeros(T, bool), ankle
    pivot = np.where(c_ankle, 1, np.where(c_toe, 2, 0))
    foot_off = toe - ankle
    off = np.zeros((T, 3))
    contact = pivot > 0
    piv = pivot.tolist()  # walked frame by frame below: Python ints, not numpy scalars
    for start, stop in true_runs(contact):
        t = start
        pin_ankle = pin_toe = None
        while t < stop:  # sub-runs of one pivot kind
            kind = piv[t]
            e = t
            while e < stop and piv[e] == kind:
                e += 1
            if kind == 1:
                if t == start:
                    pin = ankle[t:e].mean(0)
                    pin[2] = max(pin[2], ground + leg.ankle_clearance)
                    pin_ankle = pin
                else:  # coming from a toe pivot: continue from where the toe pin puts the ankle
                    pin_ankle = pin_toe - foot_off[t]
                off[t:e] = pin_ankle - ankle[t:e]
            else:
                if t == start:
                    pin_toe = toe[t:e].mean(0)
                    pin_toe[2] = max(pin_toe[2], ground + leg.toe_clearance)
                else:  # heel just lifted: the toe stays where the planted foot had it
                    pin_toe = pin_ankle + foot_off[t]
                off[t:e] = (pin_toe - foot_off[t:e]) - ankle[t:e]
            t = e
    # fade the correction in and out around contact runs
    runs = true_runs(contact)
    if runs and blend > 0:  # each run spreads its end corrections over up to ``blend`` free frames on each side
        acc, wsum = np.zeros((T, 3)), np.zeros(T)
        st, sp = np.array(runs).T
        k = np.arange(blend)
        # per run, in this order: the free frames after it (lift-off: its last correction fades out), then those
        # before it (touch-down: its first fades in); all runs at once, summed in run order (np.add.at)
        t = np.concatenate([sp[:, None] + k, st[:, None] - blend + k], 1)
        d = np.concatenate([np.broadcast_to(k + 1, (len(st), blend)), np.broadcast_to(blend - k, (len(st), blend))], 1)
        ref = np.concatenate([np.repeat(sp[:, None] - 1, blend, 1), np.repeat(st[:, None], blend, 1)], 1)
        t, d, ref = t.ravel(), d.ravel(), ref.ravel()
        ok = (t >= 0) & (t < T)
        t, d, ref = t[ok], d[ok], ref[ok]
        ok = ~contact[t]
        t, d, ref = t[ok], d[ok], ref[ok]
        w = smoothstep(1.0 - d / (blend + 1))
        np.add.at(acc, t, w[:, None] * off[ref])
        np.add.at(wsum, t, w)
        free = ~contact & (wsum > 0)
        off[free] = acc[free] / np.maximum(1.0, wsum[free])[:, None]
    target = ankle + off
    # floor: ankle and toe at or above their rest heights
    lift = np.maximum(0.0, ground + leg.ankle_clearance - target[:, 2])
    lift = np.maximum(lift, ground + leg.toe_clearance - (toe[:, 2] + off[:, 2]))
    target[:, 2] += lift
    return target


def _ramp_weights(mask: np.ndarray, blend: int) -> np.ndarray:
    """1 on mask, smoothstep down to 0 over ``blend`` frames on each side."""
    w = mask.astype(float)
    idx = np.nonzero(mask)[0]
    if len(idx) == 0 or blend <= 0:
        return w
    free = np.nonzero(~mask)[0]
    k = np.searchsorted(idx, free)  # the nearest masked frame is idx[k - 1] or idx[k]
    d = np.minimum(np.abs(free - idx[np.clip(k - 1, 0, len(idx) - 1)]), np.abs(idx[np.clip(k, 0, len(idx) - 1)] - free))
    near = d <= blend
    w[free[near]] = smoothstep(1.0 - d[near] / (blend + 1))
    return w


def flat_foot(motion: Motion, leg: LegChain, flat: np.ndarray, ground: float, blend: int = 6,
              toe_contact: np.ndarray | None = None) -> Motion:
    """While ankle and toe are both planted, turn the foot about the (already pinned) ankle so the toe stays put too;
    fade in and out like the leg correction. Only the ankle's rotation changes.

    Each flat run has its own pin and its own weight (1 on the run, easing to 0 over ``blend`` frames either side);
    a frame between two close runs takes a share of both turns, so the foot never snaps from one pin to the
    other. Around a run the turn of its first / last frame fades in / out, over ``blend`` frames or more for a big
    turn (at most 3 degrees a frame, 30 frames at most, never further than the next run). A run's aim holds through
    the toe-only contact frames next to it (``toe_contact``: heel rising before lift-off, toe touching first): the
    toe stays on its pin there, and the fade starts where the toe leaves the floor. The foot never turns in one
    frame more than 3 times the source's foot (nor more than 3 degrees where the source turns less than one): where
    the turn would change faster, it follows at that rate (:func:`limit_turn_steps`)."""
    if leg.toe is None or not flat.any():
        return motion
    return motion.copy(rotations=flat_foot_rotations(motion, leg, flat, ground, blend, toe_contact=toe_contact))


def flat_foot_rotations(motion: Motion, leg: LegChain, flat: np.ndarray, ground: float, blend: int = 6,
                        rotations: np.ndarray | None = None, toe_contact: np.ndarray | None = None,
                        copy: bool = True) -> np.ndarray:
    """:func:`flat_foot` on local rotation arrays (``rotations``, default the motion's): the new (T,J,4) array
    (``copy=False``: ``rotations`` itself, changed in place; an array the caller owns)."""
    from ..motion.rotations import np_quat_angle, np_quat_between, np_quat_inv, np_quat_mul, np_quat_slerp
    rotations = motion.rotations if rotations is None else rotations
    if leg.toe is None or not flat.any():
        return rotations
    sk = motion.skeleton
    g, p = fk_subset(motion, [leg.toe], rotations)
    ankle, toe = p[:, leg.ankle], p[:, leg.toe]
    rel = toe - ankle
    T = len(flat)
    turn = np.tile([0, 0, 0, 1.0], (T, 1))
    ident = np.array([0, 0, 0, 1.0])
    runs = true_runs(flat)
    ext, pins = [], []  # per run: its frames (with the toe-only contact frames next to it) and its toe's pin
    for k, (start, stop) in enumerate(runs):
        pin = toe[start:stop].mean(0)
        pin[2] = max(pin[2], ground + leg.toe_clearance)
        if toe_contact is not None:  # hold the aim through the toe-only contact frames next to the run
            lo = runs[k - 1][1] if k > 0 else 0
            hi = runs[k + 1][0] if k + 1 < len(runs) else T
            while start > lo and toe_contact[start - 1]:
                start -= 1
            while stop < hi and toe_contact[stop]:
                stop += 1
        ext.append((start, stop))
        pins.append(pin)
    # each run's aim on its frames from the unturned foot, all runs at once: what the aim is unless an earlier run's
    # fade reaches into the run (then it is aimed again below, from the foot as the turns so far have left it)
    sizes = np.array([e - b for b, e in ext])
    first = np.cumsum(sizes) - sizes
    idx = np.concatenate([np.arange(b, e) for b, e in ext])
    r_all = np_quat_between(rel[idx], np.repeat(np.stack(pins), sizes, axis=0) - ankle[idx])
    big_all = np.degrees(np_quat_angle(r_all[np.stack([first, first + sizes - 1], 1)], ident)).max(1)
    pending = []  # (frames, aims, weights) of runs whose turns are not on ``turn`` yet

    def apply_pending():
        if not pending:
            return
        on = np.concatenate([f for f, _, _ in pending])
        s = np_quat_slerp(np.broadcast_to(ident, (len(on), 4)), np.concatenate([r for _, r, _ in pending]),
                          np.concatenate([w for _, _, w in pending]))
        if np.all(np.diff(on) > 0):  # the runs' fades apart: one product
            turn[on] = np_quat_mul(s, turn[on])
        else:  # overlapping fades: each run's turn on top of the earlier ones', in order
            at = 0
            for f, _, _ in pending:
                turn[f] = np_quat_mul(s[at:at + len(f)], turn[f])
                at += len(f)
        pending.clear()

    reach = -1  # the last frame the turns so far reach
    for k, (start, stop) in enumerate(ext):
        gap_pre = runs[k][0] - runs[k - 1][1] if k > 0 else T
        gap_post = runs[k + 1][0] - runs[k][1] if k + 1 < len(runs) else T
        # this run's turn on each of its frames, on the foot as the turns so far have left it (outside the run, the
        # turn of its first or last frame fades: aiming at the pin from a foot that swings in or away makes one-frame
        # snaps: measured, 4-10 pops on four clips, for 0.1 cm/s less skating)
        if reach >= start:
            apply_pending()
            r_run = np_quat_between(np_quat_apply(turn[start:stop], rel[start:stop]), pins[k] - ankle[start:stop])
            big = np.degrees(np_quat_angle(r_run[[0, -1]], ident)).max()
        else:
            r_run, big = r_all[first[k]:first[k] + sizes[k]], big_all[k]
        # a big turn fades over more frames: smoothstep's steepest step is 1.5 / (n + 1) of it; keep that <= 3 deg
        # (but not into the next run's frames, where that run must hold its own pin)
        n = int(min(30, max(blend, np.ceil(1.5 * big / 3.0) - 1))) if blend > 0 else 0
        n_pre, n_post = max(min(blend, n), min(n, gap_pre)), max(min(blend, n), min(n, gap_post))
        # the weight is 0 further than n_pre / n_post frames from the run: only that window is computed
        frames = np.arange(max(0, start - n_pre - 1), min(T, stop + n_post + 1))
        d = np.maximum(0, np.maximum(start - frames, frames - (stop - 1)))  # frames away from the run
        n = np.where(frames < start, n_pre, n_post)
        w = np.where(d == 0, 1.0, smoothstep(np.clip(1.0 - d / (n + 1), 0.0, 1.0)))
        on = frames[w > 0]
        pending.append((on, r_run[np.clip(on, start, stop - 1) - start], w[w > 0]))
        reach = max(reach, int(on[-1]))
    apply_pending()
    # the foot never turns in one frame much more than the source's foot does: where the wanted turn changes faster
    # (a leg out of reach pulls the pinned ankle off its pin and the toe's aim pitches the foot with it; a big turn's
    # fade squeezed against the source's slow turn), the applied turn follows at the allowed rate until it catches up
    turn = limit_turn_steps(turn, g[:, leg.ankle])
    on = np.abs(turn[:, 3]) < 1.0 - 1e-12
    if not on.any():
        return rotations
    g_new = np_quat_mul(turn[on], g[on, leg.ankle])
    par = sk.parents[leg.ankle]
    rot = rotations.copy() if copy else rotations
    rot[on, leg.ankle] = np_quat_mul(np_quat_inv(g[on, par]), g_new)
    return rot


def limit_turn_steps(turn: np.ndarray, base: np.ndarray, floor_deg: float = 3.0, factor: float = 3.0,
                     margin: float = 0.95) -> np.ndarray:
    """World turns ``turn`` (T,4), applied on top of world rotations ``base`` (T,4) (``turn[t] * base[t]``), changed
    so that the turned rotation's frame-to-frame angle stays within ``margin * max(floor_deg, factor * base's own
    angle on that step)``: a turn that changes faster follows its wanted value at that rate (a slerp from the last
    applied turn towards the wanted one, as far as the limit allows) until it catches up with it. Frames already
    within the limit are left as they are (the returned array is ``turn`` itself where nothing needs limiting)."""
    from ..motion.rotations import np_quat_angle, np_quat_mul, np_quat_slerp
    T = len(turn)
    if T < 2:
        return turn
    ref = np_quat_angle(base[1:], base[:-1])
    limit = margin * np.maximum(np.radians(floor_deg), factor * ref)
    step = np_quat_angle(np_quat_mul(turn[1:], base[1:]), np_quat_mul(turn[:-1], base[:-1]))
    bad = np.nonzero(step > limit)[0]
    if len(bad) == 0:
        return turn
    out = turn.copy()
    s = np.linspace(0.0, 1.0, 65)[::-1]  # candidate fractions of the way to the wanted turn, largest first
    t = int(bad[0])
    while t < T - 1:
        prev = np_quat_mul(out[t], base[t])
        cand = np_quat_slerp(np.broadcast_to(out[t], (len(s), 4)), np.broadcast_to(turn[t + 1], (len(s), 4)), s)
        ok = np_quat_angle(np_quat_mul(cand, np.broadcast_to(base[t + 1], (len(s), 4))), prev) <= limit[t]
        # s = 0 (the last turn held: the foot turns as the source's does) is within the limit; rounding aside
        k = int(np.argmax(ok)) if ok.any() else len(s) - 1
        out[t + 1] = cand[k]
        t += 1
        if k == 0:  # caught up (s = 1): on to the next frame that needs limiting
            later = bad[bad >= t]
            if len(later) == 0:
                break
            t = int(later[0])
    return out


def contact_cleanup(motion: Motion, legs: list[LegChain], contacts: np.ndarray, ground: float,
                    blend: int = 6, floor=None, check=None) -> Motion:
    """Hold planted feet and keep feet above the floor. ``contacts`` (T, len(legs), 2) bool: per leg, (ankle, toe)
    contact of the *source* on each frame. ``floor``: (points, lowest heights) of :func:`floor_allowance`; the
    points on a foot (its toes' tips) are kept above theirs by the leg, not by lifting the body. ``check`` is called
    before each leg (it may raise to stop)."""
    contacts = np.asarray(contacts, bool)
    if contacts.shape != (motion.num_frames, len(legs), 2):
        raise ValueError(f"contacts must be ({motion.num_frames}, {len(legs)}, 2), got {contacts.shape}")
    rot = motion.rotations.copy()  # the legs' solves change this array in place; one motion is made at the end
    sk = motion.skeleton
    for k, leg in enumerate(legs):
        if check is not None:
            check()
        feet = [leg.ankle] + ([leg.toe] if leg.toe is not None else [])
        fk = fk_subset(motion, feet, rot)  # covers the leg chain too (the ankle's ancestors)
        pos = fk[1]
        toe = pos[:, leg.toe] if leg.toe is not None else None
        target = leg_targets(pos[:, leg.ankle], toe, contacts[:, k, 0], contacts[:, k, 1], ground, leg, blend)
        moved = np.linalg.norm(target - pos[:, leg.ankle], axis=-1) > 1e-6
        chain = (leg.hip, leg.knee, leg.ankle)
        rot = solve_limb_rotations(motion, chain, target, moved.astype(float), leg.hinge, rot, fk=fk, copy=False)
        rot = flat_foot_rotations(motion, leg, contacts[:, k, 0] & contacts[:, k, 1], ground, blend, rot,
                                  contacts[:, k, 1], copy=False)
        # feet never below their rest heights, nor any point of the foot (a toe's tip) below the floor (a flat-foot
        # turn, an out-of-reach target can leave them there): the ankle goes up by the deficit, eased, and the leg
        # is solved again (the hips stay where they are)
        mine = []
        if floor is not None:
            mine = [i for i, (j, _) in enumerate(floor[0]) if j == leg.ankle or leg.ankle in sk.ancestors(j)]
        # one walk of the foot's joints (and those of its floor points) for the heights and the second solve
        fk = fk_subset(motion, feet + [floor[0][i][0] for i in mine], rot)
        pos = fk[1]
        deficit = np.maximum(0.0, ground + leg.ankle_clearance - pos[:, leg.ankle, 2])
        if leg.toe is not None:
            deficit = np.maximum(deficit, ground + leg.toe_clearance - pos[:, leg.toe, 2])
        if mine:
            h = point_heights(motion, [floor[0][i] for i in mine], fk=fk)
            deficit = np.maximum(deficit, (floor[1][mine][None, :] - h).max(1))
        if np.any(deficit > 1e-7):
            lift = eased_cover(deficit, blend)
            target = pos[:, leg.ankle] + lift[:, None] * np.array([0.0, 0.0, 1.0])
            rot = solve_limb_rotations(motion, chain, target, (lift > 1e-9).astype(float), leg.hinge, rot, fk=fk,
                                       copy=False)
    return Motion.computed(motion.skeleton, motion.fps, motion.root_pos.copy(), rot, motion.meta, motion.contacts,
                           motion.contact_joints)


def hand_cleanup(motion: Motion, arms: dict[str, tuple[int, int, int, np.ndarray]],
                 targets: dict[str, tuple[np.ndarray, np.ndarray]]) -> Motion:
    """Pull wrists towards world targets. ``arms``: name -> (shoulder, elbow, wrist, hinge); ``targets``: name ->
    (positions (T,3), weights (T,) in [0,1])."""
    out = motion
    for name, (pos_t, w) in targets.items():
        if name not in arms:
            raise ValueError(f"hand target for {name!r}, which this rig does not map (known: {sorted(arms)})")
        s, e, wr, hinge = arms[name]
        pos_t = np.asarray(pos_t, np.float64)
        w = np.clip(np.asarray(w, np.float64), 0.0, 1.0)
        if pos_t.shape != (motion.num_frames, 3) or w.shape != (motion.num_frames,):
            raise ValueError(f"hand target {name!r} needs positions ({motion.num_frames}, 3) and weights "
                             f"({motion.num_frames},)")
        if not (np.all(np.isfinite(pos_t)) and np.all(np.isfinite(w))):
            raise ValueError(f"hand target {name!r} contains NaN or infinity")
        cur = fk_subset(out, [wr])[1][:, wr]
        goal = cur + w[:, None] * (pos_t - cur)
        out = solve_limb(out, (s, e, wr), goal, (w > 0).astype(float), hinge)
    return out


def floor_allowance(motion_skeleton, body: list[int], ground: float, feet: list[int] = ()) -> tuple[list, np.ndarray]:
    """Body points of a skeleton and the lowest height each may go: ``[(joint, end-site offset or None)]`` (heads of
    ``body`` joints, and the tails of those without children) and (N,) floors: ``ground``, a foot joint's rest height
    (``feet``), or a point's own rest height where that is below the floor."""
    sk = motion_skeleton
    rest = sk.rest_positions()
    pts, low = [], []
    feet = set(feet)
    for j in body:
        pts.append((j, None))
        low.append(rest[j, 2] if j in feet else min(ground, rest[j, 2]))
        if not sk.children(j) and j in sk.end_sites:
            tip = np.asarray(sk.end_sites[j], np.float64)
            pts.append((j, tip))
            low.append(min(ground, rest[j, 2] + tip[2]))
    return pts, np.asarray(low, np.float64)


def point_heights(motion: Motion, pts, rotations: np.ndarray | None = None, fk=None) -> np.ndarray:
    """(T, N) world heights of body points (see :func:`floor_allowance`); ``rotations``: use these local rotations
    instead of the motion's (a solve in progress; only the points' joints and their ancestors are walked); ``fk``:
    world rotations and positions the caller has already computed (covering the points' joints)."""
    if fk is not None:
        g, p = fk
    elif rotations is None:
        g, p = motion.global_rotations_and_positions()
    else:
        g, p = fk_subset(motion, sorted({j for j, _ in pts}), rotations)
    joints = np.array([j for j, _ in pts], np.intp)
    out = p[:, joints, 2]  # bone heads; the tails of leaf bones add their turned end-site offsets, all at once
    tips = [k for k, (_, tip) in enumerate(pts) if tip is not None]
    if tips:
        off = np.stack([np.asarray(pts[k][1], np.float64) for k in tips])
        out[:, tips] += np_quat_apply(g[:, joints[tips]], off[None])[..., 2]
    return out


def eased_cover(depth: np.ndarray, blend: int) -> np.ndarray:
    """A smooth (T,) curve never below ``depth`` (T,): its running maximum over +-``blend`` frames, averaged over the
    same window (each frame's depth is inside the window of every frame it is averaged over)."""
    w = max(int(blend), 0)
    if w == 0:
        return depth.copy()
    pad = np.pad(depth, w, mode="edge")
    peak = np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1).max(1)
    pad = np.pad(peak, w, mode="edge")
    return np.maximum(np.convolve(pad, np.ones(2 * w + 1) / (2 * w + 1), mode="valid"), depth)


def keep_above_floor(motion: Motion, pts, low: np.ndarray, blend: int = 6, fk=None) -> tuple[Motion, np.ndarray]:
    """Lift the body (its root) on frames where a body point would be below its floor (see module docstring).
    The lift is a running maximum of the depth over +-``blend`` frames, averaged over the same window: never less
    than the depth, eased in and out. Returns the motion and the lift per frame (m). ``fk``: the motion's
    ``global_rotations_and_positions()`` if the caller has them (the lift moves the root only: the world rotations
    stay valid for the result)."""
    depth = np.maximum(0.0, (low[None, :] - point_heights(motion, pts, fk=fk)).max(1))
    if not np.any(depth > 1e-9):
        return motion, np.zeros(motion.num_frames)
    lift = eased_cover(depth, blend)
    root = motion.root_pos.copy()
    root[:, 2] += lift
    return Motion.computed(motion.skeleton, motion.fps, root, motion.rotations.copy(), motion.meta, motion.contacts,
                           motion.contact_joints), lift
