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
* on every frame the ankle and toe are kept at or above their rest heights over the floor;
* analytic two-bone IK (:mod:`backend.retarget.ik`) moves thigh and shin; the foot keeps its world rotation;
* while ankle and toe are both planted (foot flat), the foot turns about the pinned ankle so the toe stays put too.

Optional hand targets put wrists on given world positions with given weights (same IK on the arms).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.contacts import true_runs
from ..motion.edit import smoothstep
from ..motion.motion import Motion
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
    for start, stop in true_runs(contact):
        t = start
        pin_ankle = pin_toe = None
        while t < stop:  # sub-runs of one pivot kind
            kind = pivot[t]
            e = t
            while e < stop and pivot[e] == kind:
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
        for start, stop in runs:
            after = np.arange(stop, min(stop + blend, T))  # lift-off: fade the run's last correction out
            after = after[~contact[after]]
            before = np.arange(max(start - blend, 0), start)  # touch-down: fade its first correction in
            before = before[~contact[before]]
            for t, d, ref in ((after, after - stop + 1, stop - 1), (before, start - before, start)):
                w = smoothstep(1.0 - d / (blend + 1))
                acc[t] += w[:, None] * off[ref]
                wsum[t] += w
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


def flat_foot(motion: Motion, leg: LegChain, flat: np.ndarray, ground: float, blend: int = 6) -> Motion:
    """While ankle and toe are both planted, turn the foot about the (already pinned) ankle so the toe stays put too;
    fade in and out like the leg correction. Only the ankle's rotation changes."""
    if leg.toe is None or not flat.any():
        return motion
    return motion.copy(rotations=flat_foot_rotations(motion, leg, flat, ground, blend))


def flat_foot_rotations(motion: Motion, leg: LegChain, flat: np.ndarray, ground: float, blend: int = 6,
                        rotations: np.ndarray | None = None) -> np.ndarray:
    """:func:`flat_foot` on local rotation arrays (``rotations``, default the motion's): the new (T,J,4) array."""
    from ..motion.rotations import np_quat_between, np_quat_inv, np_quat_mul, np_quat_slerp
    rotations = motion.rotations if rotations is None else rotations
    if leg.toe is None or not flat.any():
        return rotations
    sk = motion.skeleton
    g, p = fk_subset(motion, [leg.toe], rotations)
    ankle, toe = p[:, leg.ankle], p[:, leg.toe]
    desired = toe.copy()
    for start, stop in true_runs(flat):
        pin = toe[start:stop].mean(0)
        pin[2] = max(pin[2], ground + leg.toe_clearance)
        desired[start:stop] = pin
    w = _ramp_weights(flat, blend)
    # outside the runs, aim at the nearest run's pin, weighted down
    runs = np.array(true_runs(flat))
    near = np.nonzero((w > 0) & ~flat)[0]
    if len(near):
        dist = np.minimum(np.abs(runs[None, :, 0] - near[:, None]), np.abs(runs[None, :, 1] - 1 - near[:, None]))
        start, stop = runs[np.argmin(dist, axis=1)].T  # the nearest run (the first of equally near ones)
        desired[near] = desired[np.where(near < start, start, stop - 1)]
    on = w > 0
    r = np_quat_between(toe[on] - ankle[on], desired[on] - ankle[on])
    r = np_quat_slerp(np.tile([0, 0, 0, 1.0], (on.sum(), 1)), r, w[on])
    g_new = np_quat_mul(r, g[on, leg.ankle])
    par = sk.parents[leg.ankle]
    rot = rotations.copy()
    rot[on, leg.ankle] = np_quat_mul(np_quat_inv(g[on, par]), g_new)
    return rot


def contact_cleanup(motion: Motion, legs: list[LegChain], contacts: np.ndarray, ground: float,
                    blend: int = 6, check=None) -> Motion:
    """Hold planted feet and keep feet above the floor. ``contacts`` (T, len(legs), 2) bool: per leg, (ankle, toe)
    contact of the *source* on each frame. ``check`` is called before each leg (it may raise to stop)."""
    contacts = np.asarray(contacts, bool)
    if contacts.shape != (motion.num_frames, len(legs), 2):
        raise ValueError(f"contacts must be ({motion.num_frames}, {len(legs)}, 2), got {contacts.shape}")
    rot = motion.rotations  # the legs' solves pass the rotations along; one motion is made at the end
    for k, leg in enumerate(legs):
        if check is not None:
            check()
        _, pos = fk_subset(motion, [leg.ankle] + ([leg.toe] if leg.toe is not None else []), rot)
        toe = pos[:, leg.toe] if leg.toe is not None else None
        target = leg_targets(pos[:, leg.ankle], toe, contacts[:, k, 0], contacts[:, k, 1], ground, leg, blend)
        moved = np.linalg.norm(target - pos[:, leg.ankle], axis=-1) > 1e-6
        rot = solve_limb_rotations(motion, (leg.hip, leg.knee, leg.ankle), target, moved.astype(float), leg.hinge,
                                   rot)
        rot = flat_foot_rotations(motion, leg, contacts[:, k, 0] & contacts[:, k, 1], ground, blend, rot)
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
