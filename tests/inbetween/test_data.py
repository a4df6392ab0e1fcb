"""User corpora for ``train inbetween --data``: AMASS-style SMPL npz files and the automatic T-pose reference."""
from __future__ import annotations

import numpy as np
import pytest

from backend.data.user_corpus import _YUP_TO_ZUP, load_folder, npz_to_canonical, split_for, tpose_reference
from backend.motion.rotations import np_quat_inv, np_quat_mul


def _to_amass(m):
    """Canonical motion -> SMPL axis-angle poses in SMPL's Y-up model axes (the inverse of the loader's rule)."""
    R, Ri = _YUP_TO_ZUP, np_quat_inv(_YUP_TO_ZUP)
    q = np_quat_mul(np_quat_mul(Ri, m.rotations), R)
    q[:, 0] = np_quat_mul(m.rotations[:, 0], R)
    q = np.where(q[..., 3:] < 0, -q, q)
    ang = 2 * np.arccos(np.clip(q[..., 3], -1, 1))
    s = np.sqrt(np.clip(1 - q[..., 3] ** 2, 1e-16, None))
    aa = q[..., :3] / s[..., None] * ang[..., None]
    poses = np.zeros((m.num_frames, 156))
    poses[:, :66] = aa.reshape(m.num_frames, 66)
    return poses


def test_amass_npz_round_trip(tmp_path, corpus):
    m = corpus.clips[3].motion
    np.savez(tmp_path / "clip_poses.npz", poses=_to_amass(m), trans=m.root_pos + [0.3, -2.0, 0.1],
             mocap_framerate=np.array(30.0), betas=np.zeros(16))
    out = npz_to_canonical(tmp_path / "clip_poses.npz")
    assert out.num_frames == m.num_frames
    a, b = out.positions(), m.positions()
    err = np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1)  # same pose, wherever the clip stands
    assert err.max() < 1e-6
    assert abs(out.heading(0)) < 1e-6 and abs(a[:, :, 2].min()) < 0.1  # facing -Y, feet on the floor
    # another frame rate comes out at 30 fps with the same duration (to a frame)
    np.savez(tmp_path / "fast.npz", poses=_to_amass(m), trans=m.root_pos, mocap_framerate=np.array(60.0))
    assert abs(npz_to_canonical(tmp_path / "fast.npz").duration - m.duration / 2) <= 1 / 30 + 1e-9


def test_bad_npz_is_reported_and_skipped(tmp_path, corpus):
    np.savez(tmp_path / "junk.npz", something=np.zeros(3))
    np.savez(tmp_path / "ok.npz", poses=_to_amass(corpus.clips[3].motion), trans=corpus.clips[3].motion.root_pos,
             mocap_framerate=np.array(30.0))
    logged = []
    clips = load_folder(tmp_path, log=logged.append)
    assert len(clips) == 1 and any("junk.npz" in line and "poses" in line for line in logged)
    with pytest.raises(FileNotFoundError):
        load_folder(tmp_path / "missing")


def test_tpose_reference_of_a_t_pose_skeleton_is_identity():
    from backend.motion.skeleton import CANONICAL
    ref = tpose_reference(CANONICAL, {n: n for n in CANONICAL.names})
    assert np.abs(np.abs(ref[:, 3]) - 1).max() < 1e-9


def test_splits_follow_lafan1_subjects():
    assert split_for("aiming1_subject5") == "test"
    assert split_for("aiming1_subject1") in ("train", "val")
    assert {split_for(f"clip{i:03d}") for i in range(200)} == {"train", "val", "test"}
