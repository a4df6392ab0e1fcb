"""``python -m backend retarget SRC.bvh --to CHARACTER.glb --out OUT.glb|.bvh``: the retargeted animation written into
the target character's own glTF file (and as BVH), checked against the backend's forward kinematics: by reading the
file back with pygltflib and composing node transforms ourselves, and with Blender's own glTF importer."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygltflib
import pytest
from retarget_helpers import DATA, need

from backend.cli import main
from backend.motion.formats.bvh import load_bvh
from backend.motion.rotations import np_quat_to_matrix
from backend.pipelines.rigs import RigBinding
from backend.schema import JobResult

WALK = Path("cmu_bvh_mb_friendly") / "bvh" / "02_01.bvh"
CHARACTER = Path("anny_characters") / "anny_cmu_mb_child.glb"
PROBE = Path(__file__).resolve().parent / "blender_gltf_probe.py"
Y_TO_Z = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # glTF (Y up) -> our world (Z up), as Blender imports
CHECK_BONES = ("Hips", "LeftFoot", "RightToeBase", "Head", "LeftHand", "RightForeArm", "Neck1")


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def walk_on_child(tmp_path_factory):
    """The CMU walk retargeted onto the child-sized Anny character, written as .glb and as the wire .json."""
    src, glb = need(DATA / WALK), need(DATA / CHARACTER)
    tmp = tmp_path_factory.mktemp("gltf_out")
    out = {}
    for ext in ("glb", "json"):
        path = tmp / f"walk.{ext}"
        code = main(["retarget", str(src), "--to", str(glb), "--out", str(path), "--fps", "30"])
        assert code == 0 and path.is_file()
        out[ext] = path
    result = JobResult.model_validate_json(out["json"].read_text())
    from backend.pipelines.files import load_target_rig
    spec, _, _ = load_target_rig(glb)
    binding = RigBinding(spec)
    names, _, pos = binding.world(binding.spec_to_pose(result.motions[0]))
    fk = {n: pos[:, i] for i, n in enumerate(names)}
    return {"glb": out["glb"], "source": glb, "result": result, "fk": fk, "spec": spec}


def _accessor(g, blob, i) -> np.ndarray:
    a = g.accessors[i]
    view = g.bufferViews[a.bufferView]
    n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[a.type]
    return np.frombuffer(blob, "<f4", a.count * n, view.byteOffset + (a.byteOffset or 0)).reshape(a.count, n)


def _world_heads(g, blob, anim, frame: int) -> dict:
    """Every node's world position (our Z-up world) at ``frame`` of ``anim``, composing TRS node by node."""
    trs = {i: [np.array(n.translation or [0.0, 0, 0]), np.array(n.rotation or [0.0, 0, 0, 1]),
               np.array(n.scale or [1.0, 1, 1])] for i, n in enumerate(g.nodes)}
    for c in anim.channels:
        s = anim.samplers[c.sampler]
        trs[c.target.node][{"translation": 0, "rotation": 1, "scale": 2}[c.target.path]] = \
            _accessor(g, blob, s.output)[frame].astype(np.float64)
    parent = {ch: i for i, n in enumerate(g.nodes) for ch in (n.children or [])}

    def glob(i):
        t, r, s = trs[i]
        m = np.eye(4)
        m[:3, :3] = np_quat_to_matrix(r) * s
        m[:3, 3] = t
        return m if i not in parent else glob(parent[i]) @ m
    return {n.name: Y_TO_Z @ glob(i)[:3, 3] for i, n in enumerate(g.nodes)}


def test_glb_output_keeps_the_character_and_adds_one_animation(walk_on_child):
    src = pygltflib.GLTF2().load_binary(str(walk_on_child["source"]))
    out = pygltflib.GLTF2().load_binary(str(walk_on_child["glb"]))
    assert len(out.nodes) == len(src.nodes) and [n.name for n in out.nodes] == [n.name for n in src.nodes]
    assert len(out.meshes) == len(src.meshes) == 1 and out.skins[0].joints == src.skins[0].joints
    # the skin's inverse bind matrices and the mesh's vertices are the same bytes
    for acc in (src.skins[0].inverseBindMatrices, src.meshes[0].primitives[0].attributes.POSITION):
        assert np.array_equal(_accessor(src, src.binary_blob(), acc), _accessor(out, out.binary_blob(), acc))
    assert not src.animations and len(out.animations) == 1
    anim = out.animations[0]
    assert anim.name == "motionloom_02_01"
    rot_nodes = {c.target.node for c in anim.channels if c.target.path == "rotation"}
    loc_nodes = {out.nodes[c.target.node].name for c in anim.channels if c.target.path == "translation"}
    assert rot_nodes == set(out.skins[0].joints)  # a rotation channel on every joint
    assert loc_nodes == {"Hips"}  # translation on the hips only
    frames = walk_on_child["result"].motions[0].num_frames
    times = _accessor(out, out.binary_blob(), anim.samplers[0].input)[:, 0]
    assert len(times) == frames and np.allclose(times, np.arange(frames) / 30.0, atol=1e-6)
    rot = _accessor(out, out.binary_blob(), anim.samplers[0].output)
    assert rot.shape == (frames, 4) and np.allclose(np.linalg.norm(rot, axis=1), 1.0, atol=1e-5)


def test_glb_joint_positions_match_the_backends_forward_kinematics(walk_on_child):
    g = pygltflib.GLTF2().load_binary(str(walk_on_child["glb"]))
    fk = walk_on_child["fk"]
    T = len(fk["Hips"])
    for f in (0, T // 3, T - 1):
        heads = _world_heads(g, g.binary_blob(), g.animations[0], f)
        for b in CHECK_BONES:
            assert np.linalg.norm(heads[b] - fk[b][f]) < 1e-5, (b, f)
    # and it is a walk: the hips travel, a foot swings
    assert np.linalg.norm(fk["Hips"][-1, :2] - fk["Hips"][0, :2]) > 1.0
    assert np.ptp(fk["LeftFoot"][:, 2]) > 0.05


def test_blenders_gltf_importer_puts_the_bones_where_the_backend_does(walk_on_child, tmp_path):
    pytest.importorskip("bpy")
    fk = walk_on_child["fk"]
    T = len(fk["Hips"])
    frames = [0, 17, T // 2, T - 1]
    req, out = tmp_path / "req.json", tmp_path / "out.json"
    req.write_text(json.dumps({"gltf": str(walk_on_child["glb"]), "fps": 30, "frames": frames,
                               "bones": list(CHECK_BONES)}))
    r = subprocess.run([sys.executable, str(PROBE), str(req), str(out)], capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(out.read_text())
    assert got["active_action"] == "motionloom_02_01" and got["frame_range"] == [0.0, float(T - 1)]
    for b in CHECK_BONES:
        err = np.linalg.norm(np.array(got["heads"][b]) - fk[b][frames], axis=-1)
        assert err.max() < 1e-4, (b, err)


def test_bvh_output_of_a_glb_target_is_the_target_skeleton(walk_on_child, tmp_path, capsys):
    out = tmp_path / "walk_child.bvh"
    assert main(["retarget", str(DATA / WALK), "--to", str(walk_on_child["source"]), "--out", str(out),
                 "--fps", "30"]) == 0
    report = _json_line(capsys.readouterr().out)
    assert report["contact_cleanup"] == "on" and 0.5 < report["leg_scale"] < 0.9  # a child's legs
    m = load_bvh(out)
    rig_names = set(walk_on_child["spec"].bones)
    assert set(m.skeleton.names) == rig_names and m.num_frames == len(walk_on_child["fk"]["Hips"])
    pos = m.positions()
    for b in CHECK_BONES:
        assert np.abs(pos[:, m.skeleton.index(b)] - walk_on_child["fk"][b]).max() < 1e-3, b


def test_glb_output_needs_a_glb_target(tmp_path, capsys):
    walk = str(need(DATA / WALK))
    assert main(["retarget", walk, "--to", walk, "--out", str(tmp_path / "o.glb")]) == 2
    assert "needs a glTF target" in capsys.readouterr().err
    assert not (tmp_path / "o.glb").exists()


def test_json_rig_dump_targets_work_too(tmp_path, capsys):
    """``--to`` takes the add-on's rig dumps: a Quaternius character whose feet hang off the root gets location
    channels for them in the wire result."""
    rig_json = Path(__file__).resolve().parents[1] / "fixtures" / "rigs" / "quaternius_male_casual.json"
    out = tmp_path / "q.json"
    assert main(["retarget", str(need(DATA / WALK)), "--to", str(rig_json), "--out", str(out), "--fps", "30"]) == 0
    report = _json_line(capsys.readouterr().out)
    assert report["location_bones"] == 2
    s = JobResult.model_validate_json(out.read_text()).motions[0]
    assert s.root_bone == "Body" and set(s.location_bones) == {"Foot.L", "Foot.R"}
    assert np.ptp(s.locations.numpy(), axis=0).max() > 0.1


def test_a_glb_that_already_has_an_animation_gets_ours_first(walk_on_child, tmp_path, capsys):
    """Blender makes a file's first animation the active action: the retargeted one must be it."""
    again = tmp_path / "again.glb"
    assert main(["retarget", str(DATA / WALK), "--to", str(walk_on_child["glb"]), "--out", str(again),
                 "--fps", "30", "--no-cleanup"]) == 0
    out = pygltflib.GLTF2().load_binary(str(again))
    assert [a.name for a in out.animations] == ["motionloom_02_01", "motionloom_02_01"]
    assert len(out.animations[0].channels) == len(out.animations[1].channels)


def test_cli_reports_reference_units_and_heights_and_refuses_bad_maps_in_a_sentence(tmp_path, capsys):
    walk, rig_json = str(need(DATA / WALK)), str(Path(__file__).resolve().parents[1] / "fixtures" / "rigs" /
                                                  "quaternius_male_casual.json")
    out = tmp_path / "q.json"
    assert main(["retarget", walk, "--to", rig_json, "--out", str(out), "--reference", "auto"]) == 0
    report = _json_line(capsys.readouterr().out)
    assert report["source_reference"] == "rest pose (a T/A-pose)"
    assert report["source_up_axis"] == "Y" and 0.01 < report["source_unit_scale"] < 0.1
    assert 1.5 < report["source_height_m"] < 2.0 and report["target_height_m"] > 3.0
    assert main(["retarget", walk, "--to", rig_json, "--out", str(out), "--reference", "3"]) == 0
    assert _json_line(capsys.readouterr().out)["source_reference"] == "frame 3"
    for args, words in ((["--map", '{"left_knee": null}'], "'left_knee' must name a bone"),
                        (["--map", "[1, 2]"], "--map must be a JSON object"),
                        (["--reference", "bind"], "--reference must be auto, rest, tpose or a frame number"),
                        (["--reference", "100000"], "source_reference frame 100000 is outside")):
        assert main(["retarget", walk, "--to", rig_json, "--out", str(tmp_path / "x.json")] + args) == 2
        err = capsys.readouterr().err
        assert words in err and "pydantic" not in err and "Traceback" not in err, err
