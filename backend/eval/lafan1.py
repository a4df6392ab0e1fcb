"""The standard LaFAN1 table from a folder of LaFAN1 BVH files (Harvey et al. 2020; Ubisoft La Forge).

As the benchmark code does: statistics from subjects 1-4 (windows of 50 frames every 20), test windows of 65 frames
every 40 from subject 5, each window centred and turned on its last context frame (the root's local Y axis, which
is LaFAN1's forward), then truncated to 10 + n + 1 frames per transition length. Metrics are computed on LaFAN1's
own skeleton. The model works on the canonical skeleton: each window goes LaFAN1 -> canonical (rest-offset
transfer with a T-pose reference built from the bone directions, :func:`backend.data.user_corpus.tpose_reference`),
through the model, and back; the context and target frames are the file's own. ``retarget_floor`` is the L2P of the
ground truth sent through that round trip alone: no model can score below it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.user_corpus import LAFAN1_MAP, LAFAN1_NAME, load_lafan1_bvh, tpose_reference
from ..models.inbetween import protocol as P
from ..motion.motion import Motion
from ..motion.rotations import np_quat_fix_hemisphere
from ..motion.skeleton import CANONICAL

TRAIN_SUBJECTS = ("subject1", "subject2", "subject3", "subject4")
TEST_SUBJECTS = ("subject5",)
FORWARD_AXIS = np.array([0.0, 0.0, 1.0])  # LaFAN1's root Y axis after the Y-up -> Z-up change of basis
TEST_WINDOW, TEST_STRIDE = 65, 40


def read_folder(folder) -> dict[str, list[tuple[str, Motion]]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no LaFAN1 folder at {folder}")
    out: dict[str, list] = {}
    for f in sorted(folder.glob("*.bvh")):
        m = LAFAN1_NAME.match(f.stem)
        if m:
            out.setdefault(m.group("subject"), []).append((f.stem, load_lafan1_bvh(f)))
    if not out:
        raise FileNotFoundError(f"no LaFAN1 files (<take>_subjectN.bvh) in {folder}")
    return out


def windows(motions, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's windows (``start + length < frames``, as its extraction loop), centred and turned."""
    roots, rots = [], []
    for m in motions:
        q = np_quat_fix_hemisphere(m.rotations)
        s = 0
        while s + length < m.num_frames:
            roots.append(m.root_pos[s:s + length])
            rots.append(q[s:s + length])
            s += stride
    if not roots:
        raise ValueError(f"no window of {length} frames fits in these files")
    return P.canonicalize_windows(np.stack(roots), np.stack(rots), FORWARD_AXIS)


class Bridge:
    """LaFAN1 skeleton <-> canonical skeleton for whole windows."""

    def __init__(self, sk):
        from ..retarget.transfer import align
        self.sk = sk
        ref = tpose_reference(sk, LAFAN1_MAP)
        self.fwd = align(sk, CANONICAL, LAFAN1_MAP, src_ref_local=ref)
        self.inv = align(CANONICAL, sk, {v: k for k, v in LAFAN1_MAP.items()}, dst_ref_local=ref,
                         dst_semantics=dict(LAFAN1_MAP))

    def to_canonical(self, root, rot):
        from ..retarget.transfer import transfer
        ms = [transfer(Motion(self.sk, 30.0, r, q), self.fwd) for r, q in zip(root, rot)]
        return np.stack([m.root_pos for m in ms]), np.stack([m.rotations for m in ms])

    def from_canonical(self, root, rot):
        from ..retarget.transfer import transfer
        ms = [transfer(Motion(CANONICAL, 30.0, r, q), self.inv) for r, q in zip(root, rot)]
        return np.stack([m.root_pos for m in ms]), np.stack([m.rotations for m in ms])


def run_lafan1(folder, model=None, stride: int = TEST_STRIDE, lengths=P.LENGTHS) -> dict:
    from ..models.inbetween.evaluate import model_windows
    data = read_folder(folder)
    train = [m for s in TRAIN_SUBJECTS for _, m in data.get(s, [])]
    test = [m for s in TEST_SUBJECTS for _, m in data.get(s, [])]
    if not train or not test:
        raise ValueError(f"LaFAN1 needs subjects 1-4 (statistics) and subject 5 (test); found {sorted(data)}")
    sk = test[0].skeleton
    tr_root, tr_rot = windows(train, P.STATS_WINDOW, P.STATS_STRIDE)
    _, gpos = P.global_pose(tr_root, tr_rot, sk.offsets, sk.parents)
    mean, std = P.position_stats(gpos)
    root65, rot65 = windows(test, TEST_WINDOW, stride)
    bridge = Bridge(sk) if model is not None else None
    res: dict = {"lengths": list(lengths), "protocol": "LaFAN1 (Harvey et al. 2020), native skeleton",
                 "windows": {}, "zerovel": {"l2p": {}, "l2q": {}, "npss": {}},
                 "slerp": {"l2p": {}, "l2q": {}, "npss": {}}}
    if model is not None:
        res["model"] = {"l2p": {}, "l2q": {}, "npss": {}}
        res["retarget_floor"] = {"l2p": {}}
    for n in lengths:
        T = P.N_PAST + n + 1
        root, rot = root65[:, :T], rot65[:, :T]
        res["windows"][str(n)] = len(root)
        preds = {"slerp": P.interpolation(root, rot), "zerovel": P.zero_velocity(root, rot)}
        if model is not None:
            c_root, c_rot = bridge.to_canonical(root, rot)
            p_root, p_rot = model_windows(model, c_root, c_rot)
            n_root, n_rot = bridge.from_canonical(p_root, p_rot)
            f_root, f_rot = bridge.from_canonical(c_root, c_rot)
            keyed = np.r_[0:P.N_PAST, T - 1]
            for r, q in ((n_root, n_rot), (f_root, f_rot)):
                r[:, keyed], q[:, keyed] = root[:, keyed], rot[:, keyed]
            preds["model"] = (n_root, n_rot)
            res["retarget_floor"]["l2p"][str(n)] = P.transition_metrics(
                f_root, f_rot, root, rot, sk.offsets, sk.parents, mean, std)["l2p"]
        for name, (r, q) in preds.items():
            for k, v in P.transition_metrics(r, q, root, rot, sk.offsets, sk.parents, mean, std).items():
                res[name][k][str(n)] = v
    res["data"] = {"train_files": len(train), "test_files": len(test)}
    return res
