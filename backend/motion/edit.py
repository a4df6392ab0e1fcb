"""Motion edits shared by the retrieval baselines: join clips end to end with a crossfade, fit a clip to a length.

Each joined clip is turned and moved so it continues the previous one's heading and ground position, and the seam's
frames are crossfaded (slerp on rotations, lerp on the root), so a looped or stitched motion never jumps.
"""
from __future__ import annotations

import numpy as np

from .motion import Motion
from .rotations import np_quat_fix_hemisphere, np_quat_slerp

CROSSFADE = 10  # frames blended at each seam


def smoothstep(x):
    """3x^2 - 2x^3 on x clipped to [0, 1]: an ease with zero slope at both ends (blend weights that never pop)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def blend(a: Motion, b: Motion, n: int) -> Motion:
    """``a`` then ``b`` with ``a``'s last n frames crossfaded into ``b``'s first n (slerp / lerp)."""
    if n <= 0:
        return a.concat(b)
    w = ((np.arange(n) + 1) / (n + 1))[:, None]
    qa, qb = a.rotations[-n:], b.rotations[:n]
    mid_rot = np_quat_slerp(qa, qb, np.broadcast_to(w, qa.shape[:2]))
    mid_root = a.root_pos[-n:] * (1 - w) + b.root_pos[:n] * w
    rot = np.concatenate([a.rotations[:-n], mid_rot, b.rotations[n:]])
    root = np.concatenate([a.root_pos[:-n], mid_root, b.root_pos[n:]])
    return a.copy(rotations=np_quat_fix_hemisphere(rot), root_pos=root, contacts=None, contact_joints=())


def continue_from(prev: Motion, frame: int, nxt: Motion) -> Motion:
    """Turn and move ``nxt`` so its first frame has ``prev``'s heading and ground position at ``frame``."""
    turn = float(prev.heading(frame) - nxt.heading(0))
    m = nxt.rotated_about_z(turn, pivot=nxt.root_pos[0])
    root = m.root_pos.copy()
    root[:, :2] += prev.root_pos[frame, :2] - m.root_pos[0, :2]
    return m.copy(root_pos=root)


def stitch(parts: list[Motion], crossfade: int = CROSSFADE) -> Motion:
    """Join motions end to end, each continuing the previous one's heading and position, crossfaded."""
    out = parts[0]
    for p in parts[1:]:
        n = min(crossfade, out.num_frames // 3, p.num_frames // 3)
        p = continue_from(out, out.num_frames - max(n, 1), p)
        out = blend(out, p, n)
    return out


def fit_length(clip: Motion, frames: int, rng: np.random.Generator) -> Motion:
    """A window of ``frames`` frames (start drawn from ``rng``), or the clip looped until it is long enough."""
    if clip.num_frames >= frames:
        start = int(rng.integers(0, clip.num_frames - frames + 1))
        return clip.slice(start, start + frames)
    out = clip
    while out.num_frames < frames:
        out = stitch([out, clip])
    return out.slice(0, frames)
