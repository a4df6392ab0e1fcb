"""BVH round trips (any channel order, cm or m, Y or Z up), clear errors on bad files, ASF/AMC and DeepMimic."""
import numpy as np
import pytest

from backend.motion.formats.asfamc import load_asf_amc
from backend.motion.formats.bvh import BVHError, load_bvh, parse_bvh, read_bvh, write_bvh
from backend.motion.formats.deepmimic import load_deepmimic

GOOD = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 10 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.033333
0 90 0 0 0 0 0 0 0
1 90 0 90 0 0 0 0 45
"""


@pytest.fixture(scope="module")
def cmu_walk(fixture_data):
    """CMU 02_01 (a walk), MotionBuilder-friendly BVH, every 4th frame: 86 frames at 30 fps."""
    return fixture_data / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh"


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX"])
@pytest.mark.parametrize("unit_scale,up", [(1.0, "Z"), (100.0, "Y")])
def test_bvh_roundtrip_positions_1e5(tmp_path, cmu_walk, order, unit_scale, up):
    m = load_bvh(cmu_walk)
    out = tmp_path / "rt.bvh"
    write_bvh(m, out, rotation_order=order, unit_scale=unit_scale, up=up, precision=7)
    back = load_bvh(out, up=up, scale=1.0 / unit_scale)
    assert back.skeleton.names == m.skeleton.names
    assert np.abs(back.positions() - m.positions()).max() < 1e-5


def test_bvh_keeps_file_channel_layout(tmp_path, cmu_walk):
    f = read_bvh(cmu_walk)
    write_bvh(f.motion(), tmp_path / "same.bvh", channels=f.channels)
    g = read_bvh(tmp_path / "same.bvh")
    assert g.channels == f.channels
    assert np.abs(g.motion().positions() - f.motion().positions()).max() < 1e-4  # file units (~7 cm each)


def test_parse_small_file_exactly():
    f = parse_bvh(GOOD)
    p = f.motion().positions()
    np.testing.assert_allclose(p[0], [[0, 90, 0], [0, 100, 0]], atol=1e-9)
    # frame 1: root turned 90 deg about Z (Zrotation first), so the spine points along -X
    np.testing.assert_allclose(p[1], [[1, 90, 0], [-9, 90, 0]], atol=1e-9)


@pytest.mark.parametrize("text,line,words", [
    (GOOD.replace("OFFSET 0 10 0\n    CHANNELS", "OFFSET 0 ten 0\n    CHANNELS"), 8, "number"),
    (GOOD.replace("Zrotation Xrotation Yrotation\n    End", "Zrotation Xrotation Wrotation\n    End"), 9,
     "unknown channel"),
    (GOOD.replace("Frames: 2", "Frames: 3"), 20, "truncated"),
    (GOOD.replace("1 90 0 90 0 0 0 0 45", "1 90 0 90 0 0 0 0"), 20, "9 channels"),
    (GOOD.replace("1 90 0 90 0 0 0 0 45", "1 90 0 nan 0 0 0 0 45"), 20, "NaN"),
    (GOOD.split("MOTION")[0], 15, "MOTION"),
    (GOOD.replace("  }\n}\nMOTION", "  }\nMOTION"), 14, "ends early"),
])
def test_malformed_bvh_names_the_line(text, line, words):
    with pytest.raises(BVHError) as e:
        parse_bvh(text)
    msg = str(e.value)
    assert f"line {line}" in msg and words in msg


def test_truncated_real_file_names_file_and_line(tmp_path, cmu_walk):
    lines = cmu_walk.read_text().splitlines()
    (tmp_path / "cut.bvh").write_text("\n".join(lines[:-40]))  # the last 40 of its 86 frames gone
    with pytest.raises(BVHError, match=r"cut\.bvh: line \d+: file ends after 46 of 86 frames"):
        read_bvh(tmp_path / "cut.bvh")


def test_asf_amc_reads_cmu_take(fixture_data):
    """The first second (120 frames) of CMU 02_01's AMC with subject 02's ASF."""
    a = load_asf_amc(fixture_data / "cmu_asfamc" / "02" / "02.asf", fixture_data / "cmu_asfamc" / "02" / "02_01.amc")
    assert a.num_frames == 120 and a.fps == 120 and len(a.skeleton) == 31
    p = a.positions()
    head, foot = a.skeleton.index("head"), a.skeleton.index("lfoot")
    height = np.median(p[:, head, 2] - p[:, foot, 2])
    assert 1.3 < height < 1.8  # metres, Z up (ASF lengths are inches / 0.45)
    travel = np.linalg.norm(p[-1, 0, :2] - p[0, 0, :2])
    assert 0.8 < travel < 1.6  # one second of walking


def test_deepmimic_clip_reads_upright(fixture_data):
    m = load_deepmimic(fixture_data / "deepmimic_motions" / "motions" / "humanoid3d_walk.txt")
    assert m.num_frames == 39 and abs(m.fps - 30) < 0.01
    p = m.positions()
    head, ankle = m.skeleton.index("neck"), m.skeleton.index("left_ankle")
    assert (p[:, head, 2] - p[:, ankle, 2]).min() > 1.0  # Z up after conversion


def _lying_rest_copy(src, path, turn_deg=90.0):
    """The same motion in the same file axes, but with a rest pose turned ``turn_deg`` about the file's X axis (a
    rest lying on its back, as breakdance files have): offsets turned, rotations compensated."""
    from backend.motion.rotations import np_quat_apply, np_quat_inv, np_quat_mul
    from backend.motion.skeleton import Skeleton
    f = read_bvh(src)
    a = np.radians(turn_deg)
    R = np.array([np.sin(a / 2), 0.0, 0.0, np.cos(a / 2)])
    sk = f.skeleton
    sk2 = Skeleton(sk.names, sk.parents, np_quat_apply(R, sk.offsets),
                   {k: np_quat_apply(R, v) for k, v in sk.end_sites.items()})
    rot = np_quat_mul(np_quat_mul(R, f.rotations), np_quat_inv(R))
    rot[:, 0] = np_quat_mul(f.rotations[:, 0], np_quat_inv(R))
    m = f.motion().copy(skeleton=sk2, rotations=rot)
    write_bvh(m, path, up="Z", channels=f.channels)
    return f


def test_bvh_up_axis_comes_from_the_motion_when_the_rest_pose_lies_on_its_side(tmp_path, cmu_walk):
    """A Y-up file whose rest pose lies on its back: the rest says Z is up (the clip would load lying on its side), the
    floor the feet keep returning to says Y. Loaded upright, the same as the original."""
    from backend.motion.formats.bvh import guess_up_axis
    path = tmp_path / "lying.bvh"
    _lying_rest_copy(cmu_walk, path)
    assert guess_up_axis(read_bvh(path).skeleton) != "Y"  # the rest-pose guess alone is wrong
    a, b = load_bvh(cmu_walk), load_bvh(path)
    assert b.meta["file_up_axis"] == "Y" == a.meta["file_up_axis"]
    assert np.abs(a.positions() - b.positions()).max() < 1e-4
    assert load_bvh(path, up="X").meta["file_up_axis"] == "X"  # the user can still say
    with pytest.raises(BVHError, match="up axis must be"):
        load_bvh(path, up="W")


def test_bvh_up_axis_guess_agrees_with_the_rest_pose_on_the_shared_cmu_files(shared_data):
    from backend.motion.formats.bvh import guess_up_axis, guess_up_axis_for
    files = sorted((shared_data / "cmu_bvh_mb_friendly" / "bvh").glob("*.bvh")) + \
        sorted((shared_data / "cmu_bvh11_max" / "bvh").glob("*.bvh"))
    assert files
    for p in files:
        f = read_bvh(p)
        assert guess_up_axis_for(f) == guess_up_axis(f.skeleton) == "Y", p.name
