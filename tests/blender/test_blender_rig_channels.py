"""The full rig channels of the backend's results, written by the add-on into real Blender and evaluated there.

Real characters, real backend (``python -m backend serve``), real operators:

* Quaternius (``../shared/data/quaternius_cc0_characters``, CC0, imported with Blender's FBX importer; these tests
  skip where ../shared is not beside the clone: the 2 MB FBX is not among the committed fixtures): feet hang off
  the root bone as IK targets, so a result moves them by location. After retargeting, generating and in-betweening,
  the foot bones Blender evaluates (``pose.bones[...].head`` after ``frame_set``) sit where the backend's own forward
  kinematics of the same result puts them, at the ends of the shins.
* Rigify (generated headless by Blender's bundled Rigify): a retarget writes the FK controls and keys the IK/FK
  switches; the DEF bones that deform the mesh follow the controls to where the backend puts them.

The backend's expectation is :meth:`backend.pipelines.rigs.RigBinding.world` on the result the add-on received,
with the rig exactly as the add-on sent it (``backend_expect.py``).
"""
import contextlib
import importlib.util
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import backend_expect
import bpy
import numpy as np
import pytest
from bl_helpers import BACKEND_DIR, BACKEND_PY, ROOT, Server, activate, real_backend_cmd, run_operator, use_backend

QUATERNIUS = ROOT.parent / "shared" / "data" / "quaternius_cc0_characters"
CMU_WALK = ROOT / "tests" / "fixtures" / "data" / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh"  # 30 fps, committed
HAS_SERVER = (BACKEND_DIR / "backend" / "cli" / "serve.py").is_file()
# Rigify FK control -> the deform bone that must follow it (its head lands on the control's head)
RIGIFY_PAIRS = {"thigh_fk.L": "DEF-thigh.L", "shin_fk.L": "DEF-shin.L", "foot_fk.L": "DEF-foot.L",
                "toe_fk.L": "DEF-toe.L", "thigh_fk.R": "DEF-thigh.R", "shin_fk.R": "DEF-shin.R",
                "foot_fk.R": "DEF-foot.R", "upper_arm_fk.L": "DEF-upper_arm.L", "forearm_fk.L": "DEF-forearm.L",
                "hand_fk.L": "DEF-hand.L", "upper_arm_fk.R": "DEF-upper_arm.R", "forearm_fk.R": "DEF-forearm.R",
                "hand_fk.R": "DEF-hand.R", "shoulder.L": "DEF-shoulder.L", "neck": "DEF-spine.004",
                "head": "DEF-spine.006"}
QUATERNIUS_DUMP = ("Body", "Hips", "UpperLeg.L", "LowerLeg.L", "Foot.L", "LowerLeg.R", "Foot.R", "UpperArm.R",
                   "Palm.R", "Head")


def need(path):
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data beside the clone; not in tests/fixtures/data)")
    return path


@pytest.fixture(scope="module")
def server():
    if not HAS_SERVER:
        pytest.skip("the backend service is not in this checkout")
    srv = Server(real_backend_cmd(), cwd=BACKEND_DIR)
    yield srv
    srv.stop()


@pytest.fixture
def backend(addon, server):
    use_backend(server.url)
    return server


@pytest.fixture(scope="module")
def rigify_blend(tmp_path_factory):
    """A .blend holding the rig Blender's bundled Rigify generates from its Basic Human metarig (made once, in a
    subprocess with this Blender: ``make_rigify_rig.py``)."""
    path = tmp_path_factory.mktemp("rigify") / "rigify_basic_human.blend"
    r = subprocess.run([sys.executable, str(Path(__file__).with_name("make_rigify_rig.py")), str(path)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0 and path.is_file(), r.stderr[-2000:]
    return path


def load_rigify(path, name="rigify"):
    with bpy.data.libraries.load(str(path), link=False) as (_src, dst):
        dst.objects = ["rig"]
    rig = dst.objects[0]
    bpy.context.scene.collection.objects.link(rig)
    rig.name = name
    activate(rig)
    return rig


def load_quaternius(stem="Male_Casual", name="male"):
    """Import a Quaternius character (with its baked animations); returns the armature, made active."""
    before = set(bpy.data.objects)
    with contextlib.redirect_stdout(io.StringIO()):
        bpy.ops.import_scene.fbx(filepath=str(need(QUATERNIUS / f"{stem}.fbx")))
    arm = next(o for o in bpy.data.objects if o not in before and o.type == "ARMATURE")
    arm.name = name
    activate(arm)
    return arm


def _run(op: str, timeout: float = 180.0):
    return run_operator(op, timeout)


def expected_heads(arm, motion) -> dict:
    """World heads (T,3 metres) of the solve's bones where the backend's forward kinematics puts them for the
    result ``motion`` (a ``wire.Motion`` as the add-on received it), on the rig exactly as the add-on sends it.
    In-process where torch is importable, else with the backend's Python (``MOTIONLOOM_BACKEND_PYTHON``)."""
    from blender_addon import rig_read, tasks, wire
    rig = rig_read.read_rig(arm).spec(tasks.bone_map_overrides(arm))
    spec = wire.motion_spec(motion.bones, motion.parents, motion.fps, motion.rotations_xyzw, motion.root_translation,
                            motion.start_frame, "rig", motion.root_bone, motion.location_bones or None,
                            motion.locations)
    if importlib.util.find_spec("torch") is not None:
        return backend_expect.world_heads(rig, spec)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / n for n in ("rig.json", "motion.json", "out.json")]
        paths[0].write_text(json.dumps(rig))
        paths[1].write_text(json.dumps(spec))
        subprocess.run([BACKEND_PY, backend_expect.__file__, *map(str, paths)], check=True, timeout=300)
        return {k: np.array(v) for k, v in json.loads(paths[2].read_text()).items()}


def blender_heads(arm, bones, frames) -> dict:
    """World heads and tails Blender evaluates for ``bones`` on each of ``frames``."""
    mw = arm.matrix_world
    heads = {b: [] for b in bones}
    tails = {b: [] for b in bones}
    for f in frames:
        bpy.context.scene.frame_set(int(f))
        for b in bones:
            pb = arm.pose.bones[b]
            heads[b].append(list(mw @ pb.head))
            tails[b].append(list(mw @ pb.tail))
    return {b: np.array(v) for b, v in heads.items()}, {b: np.array(v) for b, v in tails.items()}


def curve_bones(action, slot, prop: str) -> set:
    """Bones with F-curves on ``prop`` (e.g. 'location') in the action."""
    from blender_addon import compat
    return {fc.data_path.split('"')[1] for fc in compat.fcurves(action, slot)
            if fc.data_path.startswith("pose.bones") and fc.data_path.endswith("." + prop)}


def _check_quaternius_result(arm, motion, action):
    """Feet written by location, evaluated by Blender where the backend has them: at the ends of the shins."""
    from blender_addon import channels, compat
    slot = compat.assigned(arm)[1]
    assert arm.animation_data.action == action
    assert motion.root_bone == "Body" and sorted(motion.location_bones) == ["Foot.L", "Foot.R"]
    assert curve_bones(action, slot, "location") == {"Body", "Foot.L", "Foot.R"}
    written = {fc.data_path.split('"')[1] for fc in compat.fcurves(action, slot)}
    assert written == set(motion.bones)  # no curve on any bone the result does not list (PoleTarget, Bone, ...)
    coll = compat.fcurves(action, slot)
    fps = channels.scene_fps(bpy.context.scene)
    frames = channels.motion_frames(motion, fps)
    assert np.allclose(frames, np.round(frames))  # results come at the scene's frame rate
    for i, b in enumerate(motion.location_bones):  # the channels hold the backend's values
        for c in range(3):
            fc = coll.find(f'pose.bones["{b}"].location', index=c)
            got = np.empty(2 * len(fc.keyframe_points), np.float32)
            fc.keyframe_points.foreach_get("co", got)
            np.testing.assert_array_equal(got[1::2], motion.locations[:, i, c])
    rows = np.arange(0, motion.num_frames, max(1, motion.num_frames // 8))
    want = expected_heads(arm, motion)
    heads, tails = blender_heads(arm, QUATERNIUS_DUMP, frames[rows])
    for b in QUATERNIUS_DUMP:
        err = np.linalg.norm(heads[b] - want[b][rows], axis=-1).max()
        assert err < 1e-3, f"{b} is {err * 100:.2f} cm from where the backend puts it"
    bones = arm.data.bones
    for side in "LR":  # the feet are carried along: at the end of the shin (as in the rest pose) on every frame
        rest_gap = (arm.matrix_world @ bones[f"Foot.{side}"].head_local
                    - arm.matrix_world @ bones[f"LowerLeg.{side}"].tail_local).length  # 3.2 mm on this rig
        gap = np.linalg.norm(heads[f"Foot.{side}"] - tails[f"LowerLeg.{side}"], axis=-1).max()
        assert gap < rest_gap + 1e-3, f"Foot.{side} is {gap * 100:.2f} cm from the end of its shin"
    assert np.ptp(heads["Foot.L"], axis=0).max() > 0.1  # and the feet really travel (a rest pose would not)
    return heads


# ------------------------------------------------------------------------------------------------ Quaternius
def test_retarget_mocap_onto_quaternius_moves_the_root_parented_feet(backend):
    from blender_addon import action_write, compat
    need(CMU_WALK)
    arm = load_quaternius()
    own = arm.animation_data.action  # the character's own (imported) animation: stashed, untouched
    before = action_write.action_snapshot(own)
    s = bpy.context.scene.motionloom
    s.source_type, s.source_file = "FILE", str(CMU_WALK)
    job = _run("retarget")
    motion = job.result.motions[0]
    new = bpy.data.actions[job.actions[0]]
    assert not motion.properties
    heads = _check_quaternius_result(arm, motion, new)
    assert np.ptp(heads["Body"][:, :2], axis=0).max() > 0.3  # CMU 02_01 walks: the body travels
    assert action_write.snapshots_equal(before, action_write.action_snapshot(own))
    assert compat.assigned(arm)[0] == new


def test_generate_onto_quaternius_moves_the_root_parented_feet(backend):
    from blender_addon import client
    if not any(m.get("task") == "text2motion" and m.get("available", True)
               for m in client.Backend(backend.url).models()):
        pytest.skip("text2motion is not available on this backend (no motion corpus)")
    arm = load_quaternius()
    s = bpy.context.scene.motionloom
    s.prompt, s.duration_unit, s.duration_frames, s.seed = "a person walks forward", "FRAMES", 48, 1
    job = _run("generate")
    _check_quaternius_result(arm, job.result.motions[0], bpy.data.actions[job.actions[0]])


def _thin(action, slot, keep) -> None:
    """Keep only the keys on ``keep`` frames in every curve: a blocking pass made from a finished animation."""
    from blender_addon import compat
    for fc in compat.fcurves(action, slot):
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        sel = np.isin(co[0::2], keep)
        kept = co.reshape(-1, 2)[sel].ravel()
        fc.keyframe_points.clear()
        fc.keyframe_points.add(len(kept) // 2)
        fc.keyframe_points.foreach_set("co", kept)
        fc.update()


def test_inbetween_quaternius_walk_fills_the_foot_locations(backend):
    """The character's own walk, thinned to four keys on every channel, in-betweened: every location channel
    (feet, body) is filled, the artist's keys stay bit-identical, and the feet stay on the legs."""
    from blender_addon import action_write, compat, key_read
    arm = load_quaternius()
    walk = bpy.data.actions["HumanArmature|HumanArmature|Man_Walk"]
    compat.assign(arm, walk, walk.slots[0] if compat.HAS_SLOTS else None)
    slot = compat.assigned(arm)[1]
    dense = {b: v for b, v in zip(("Foot.L", "Foot.R"), blender_heads(arm, ("Foot.L", "Foot.R"),
                                                                       range(1, 26))[0].values())}
    keep = np.array([1, 9, 17, 25], np.float32)
    _thin(walk, slot, keep)
    s = bpy.context.scene.motionloom
    s.inbetween_bones, s.inbetween_range = "ALL", "PREVIEW"
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 25
    keys = key_read.read_keys(arm, frame_range=(1, 25))
    assert keys.frames == [1, 9, 17, 25] and keys.root_bone == "Bone"  # the shallowest bone with location keys
    assert {"Body", "Foot.L", "Foot.R"} <= set(keys.location_bones) and "Bone" not in keys.location_bones
    before = action_write.action_snapshot(walk)
    bpy.ops.ed.undo_push(message="artist keys")
    job = _run("inbetween")
    motion = job.result.motions[0]
    assert motion.root_bone == "Bone" and motion.location_bones == keys.location_bones

    after = action_write.action_snapshot(walk)
    for key, snap in before.items():
        now = after[key]
        filled = key[1].startswith("pose.bones") and key[1].endswith((".rotation_quaternion", ".location"))
        np.testing.assert_array_equal(now["co"][0::2], np.arange(1, 26, dtype=np.float32) if filled
                                      else snap["co"][0::2], err_msg=str(key))  # scale curves: not touched
        pos = np.searchsorted(now["co"][0::2], snap["co"][0::2])
        for field in action_write.KEY_FIELDS_F2 + action_write.KEY_FIELDS_ENUM + action_write.KEY_FIELDS_F + action_write.KEY_FIELDS_B:
            a, b = now[field], snap[field]
            if field in action_write.KEY_FIELDS_F2:
                a, b = a.reshape(-1, 2), b.reshape(-1, 2)
            assert np.array_equal(a[pos], b), (key, field)  # the artist's keys, bit for bit

    # Blender shows what the backend computed, and the feet stay at the ends of the shins between the keys
    want = expected_heads(arm, motion)
    frames = np.arange(1, 26)
    heads, tails = blender_heads(arm, QUATERNIUS_DUMP, frames)
    for b in QUATERNIUS_DUMP:
        err = np.linalg.norm(heads[b] - want[b], axis=-1).max()
        assert err < 1e-3, f"{b} is {err * 100:.2f} cm from where the backend puts it"
    for side in "LR":
        gap = np.linalg.norm(heads[f"Foot.{side}"] - tails[f"LowerLeg.{side}"], axis=-1)
        assert gap.max() < 0.005, f"Foot.{side} leaves its shin by {gap.max() * 100:.1f} cm"  # measured: 0.2 mm
    # the fill is a walk (the feet travel with the original's stride), not a hold
    for b in ("Foot.L", "Foot.R"):
        assert np.ptp(heads[b][:, 1]) > 0.5 * np.ptp(dense[b][:, 1])

    name = walk.name
    bpy.ops.ed.undo()  # one undo step restores the blocking keys exactly
    assert action_write.snapshots_equal(before, action_write.action_snapshot(bpy.data.actions[name]))


# ----------------------------------------------------------------------------------------------------- Rigify
def test_retarget_onto_rigify_keys_fk_controls_and_switches(backend, rigify_blend):
    from blender_addon import action_write, compat
    need(CMU_WALK)
    rig = load_rigify(rigify_blend)
    pb = rig.pose.bones
    original = {(b, n): pb[b][n] for b in ("thigh_parent.L", "thigh_parent.R", "torso")
                for n in pb[b].keys() if n in ("IK_FK", "neck_follow", "head_follow")}
    assert original[("thigh_parent.R", "IK_FK")] == 0.0  # Rigify starts in IK
    # the artist's own action: an IK pose that keys the left leg's switch (IK) and moves its IK foot
    pb["foot_ik.L"].location = (0.0, 0.1, 0.05)
    pb["foot_ik.L"].keyframe_insert("location", frame=1, group="foot_ik.L")
    pb["thigh_parent.L"].keyframe_insert('["IK_FK"]', frame=1, group="thigh_parent.L")
    artist = rig.animation_data.action
    artist.name = "artist IK"
    before = action_write.action_snapshot(artist)
    bpy.ops.ed.undo_push(message="artist keys")

    s = bpy.context.scene.motionloom
    s.source_type, s.source_file = "FILE", str(CMU_WALK)
    job = _run("retarget")
    motion = job.result.motions[0]
    new = bpy.data.actions[job.actions[0]]
    slot = compat.assigned(rig)[1]
    coll = compat.fcurves(new, slot)
    props = {(p.bone, p.name): p.value for p in motion.properties}
    assert props[("thigh_parent.L", "IK_FK")] == 1.0 and props[("upper_arm_parent.R", "IK_FK")] == 1.0
    assert props[("torso", "neck_follow")] == 1.0 and props[("torso", "head_follow")] == 1.0

    # exactly the listed channels: FK controls (each in its own rotation mode), torso's location, the switches
    written = {fc.data_path.split('"')[1] for fc in coll}
    assert written == set(motion.bones) | {b for b, _ in props}
    assert not any(b.startswith(("DEF-", "ORG-", "MCH-")) or "_ik" in b for b in written)
    assert curve_bones(new, slot, "location") == {"torso"}
    assert coll.find('pose.bones["shoulder.L"].rotation_euler', index=0) is not None  # a YXZ control
    start = motion.start_frame
    for (b, n), v in props.items():
        fc = coll.find(f'pose.bones["{b}"]["{n}"]', index=0)
        assert fc is not None and len(fc.keyframe_points) == 1, (b, n)
        assert tuple(fc.keyframe_points[0].co) == (start, v)
        assert pb[b][n] == v  # set on the rig at once: the result shows without a frame change

    # the DEF bones that deform the mesh follow the FK controls to where the backend puts them
    want = expected_heads(rig, motion)
    rows = np.arange(0, motion.num_frames, max(1, motion.num_frames // 8))
    heads, _ = blender_heads(rig, list(RIGIFY_PAIRS.values()), start + rows)
    for ctrl, deform in RIGIFY_PAIRS.items():
        err = np.linalg.norm(heads[deform] - want[ctrl][rows], axis=-1).max()
        assert err < 1e-3, f"{deform} is {err * 100:.2f} cm from {ctrl} as the backend has it"
    assert np.ptp(heads["DEF-foot.L"], axis=0).max() > 0.1

    # switching back to the artist's action: the switch the artist keyed comes back with it
    compat.assign(rig, artist, artist.slots[0] if compat.HAS_SLOTS else None)
    bpy.context.scene.frame_set(1)
    assert rig.pose.bones["thigh_parent.L"]["IK_FK"] == 0.0
    assert action_write.snapshots_equal(before, action_write.action_snapshot(artist))

    # one undo step: the new action is gone and the rig's switches are as the artist had them
    new_name = new.name
    bpy.ops.ed.undo()
    rig = bpy.data.objects["rigify"]
    assert new_name not in [a.name for a in bpy.data.actions]
    assert rig.animation_data.action.name == "artist IK"
    for (b, n), v in original.items():
        assert rig.pose.bones[b][n] == v, (b, n)
