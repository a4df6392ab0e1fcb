"""The classical in-betweening baseline behind the same ``fill`` seam as the model: per joint, slerp between that
joint's own keys (hold outside them); the root lerps between its keys. No weights, no randomness.

Used for latency comparisons and by tests; the server's pipeline keeps its own copy available by name
(``slerp-baseline``)."""
from __future__ import annotations

import numpy as np
import torch

from ...motion.motion import Motion
from ...motion.rotations import np_quat_to_6d
from ...motion.skeleton import CANONICAL, CANONICAL_FPS
from ..features import FEATURE_DIM, NUM_JOINTS, features_to_motion
from . import frames as fr


class SlerpFill:
    name = "slerp-baseline"

    def fill(self, keys, out_frames, fps: float = CANONICAL_FPS, ctx=None) -> Motion:
        frames = np.asarray(keys.frames, np.int64)
        out_frames = np.asarray(out_frames, np.int64)
        lo, hi = int(min(frames[0], out_frames[0])), int(max(frames[-1], out_frames[-1]))
        T = hi - lo + 1
        rows = frames - lo
        feats = np.zeros((1, T, FEATURE_DIM), np.float32)
        feats[0, rows, :3] = keys.root
        feats[0, rows, 3:] = np_quat_to_6d(np.asarray(keys.rotations)).reshape(len(frames), -1)
        jm = np.zeros((1, T, NUM_JOINTS), bool)
        rm = np.zeros((1, T), bool)
        jm[0, rows] = keys.mask
        rm[0, rows] = keys.root_mask
        base, _has = fr.interpolate(torch.from_numpy(feats), torch.from_numpy(jm), torch.from_numpy(rm))
        m = features_to_motion(base[0], fps)
        rot, root = m.rotations, m.root_pos
        for k, r in enumerate(rows):
            rot[r, keys.mask[k]] = np.asarray(keys.rotations)[k, keys.mask[k]]
            if keys.root_mask[k]:
                root[r] = keys.root[k]
        sel = out_frames - lo
        return Motion(CANONICAL, fps, root[sel], rot[sel])
