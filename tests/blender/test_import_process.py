"""FBX and glTF retargeting sources are read by Blender's importers in a Blender process of its own
(``importers.read_import_steps``): the same rig and motion as the in-process import, nothing made in the artist's
Blender, its main thread only polling; a cancelled job, a timeout or a broken file end the child with a sentence.

The Quaternius FBX lives in ``../shared/data`` (skipped where that is not beside the clone); the glTF and FBX clips
are exported here from a keyed character, so a plain clone covers both formats.
"""
import dataclasses
import os
import sys

import bpy
import numpy as np
import pytest
from bl_helpers import ROOT, activate, key_poses, load_character, use_backend

QUATERNIUS_FBX = ROOT.parent / "shared" / "data" / "quaternius_cc0_characters" / "Male_Casual.fbx"
KINDS = ("objects", "armatures", "meshes", "actions", "materials", "images", "collections", "node_groups")


def _counts():
    return {k: len(getattr(bpy.data, k)) for k in KINDS}


def _export_clip(tmp_path, fmt: str):
    """A keyed character exported with Blender's own exporter; the scene is emptied again afterwards."""
    src = load_character(rename="exporter")
    key_poses(src, frames=(1, 12, 24))
    path = tmp_path / f"clip.{fmt}"
    if fmt == "glb":
        bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB", use_selection=True,
                                  export_animations=True)
    else:
        bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True, bake_anim=True, add_leaf_bones=False)
    bpy.data.batch_remove(list(bpy.data.objects) + list(bpy.data.actions) + list(bpy.data.armatures)
                          + list(bpy.data.meshes))
    return path


@pytest.fixture
def children(monkeypatch):
    """Every reading process started, recorded (the real starter still runs)."""
    from blender_addon import importers
    started = []
    real = importers._start_child

    def spy(*args):
        proc = real(*args)
        started.append(proc)
        return proc
    monkeypatch.setattr(importers, "_start_child", spy)
    return started


class _NoImport:
    """Stands in for ``bpy.ops.import_scene`` / ``import_anim`` in this Blender: any import here fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"an importer ({name}) ran in the artist's Blender")


def _drive(gen, limit: int = 100_000):
    """Run a step generator the way the pump does (one step per tick); returns (value, number of yields)."""
    import time
    n = 0
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value, n
        n += 1
        assert n < limit, "the reading never finished"
        time.sleep(0.005)


def _assert_same(a, b):
    rig_a, motion_a, name_a = a
    rig_b, motion_b, name_b = b
    assert name_a == name_b
    for x, y in ((rig_a, rig_b), (motion_a, motion_b)):
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, np.ndarray) or isinstance(v, np.ndarray):
                assert np.shape(u) == np.shape(v), f.name
                np.testing.assert_allclose(u, v, rtol=0, atol=1e-6, err_msg=f.name)
            elif isinstance(u, float):
                assert abs(u - v) <= 1e-6, f.name
            else:
                assert u == v, f.name


def _read_both(monkeypatch, path, children):
    """The file through the reading process (no importer may run here meanwhile), then in-process."""
    from blender_addon import importers
    before = _counts()
    objects = {o.name for o in bpy.data.objects}
    settings = importers.scene_settings(bpy.context.scene)
    active = bpy.context.view_layer.objects.active
    with monkeypatch.context() as m:
        m.setattr(bpy.ops, "import_scene", _NoImport())
        m.setattr(bpy.ops, "import_anim", _NoImport())
        m.setattr(importers, "import_motion_file", lambda *_: pytest.fail("import_motion_file ran in the parent"))
        child, yields = _drive(importers.read_import_steps(str(path), bpy.context.scene))
    assert len(children) == 1 and children[0].returncode == 0
    assert yields > 0  # the main thread went on ticking while the child read the file
    assert _counts() == before and {o.name for o in bpy.data.objects} == objects  # nothing made here
    assert not os.path.exists(children[0].args[-2])  # the child's folder is removed
    # the artist's scene keeps its frame rate (the in-process FBX import sets the file's), units and range
    assert importers.scene_settings(bpy.context.scene) == settings
    assert bpy.context.view_layer.objects.active == active
    return child, importers.import_motion_file(str(path))


@pytest.mark.parametrize("fmt", ["glb", "fbx"])
def test_exported_clip_read_in_a_child_equals_the_in_process_import(addon, tmp_path, monkeypatch, children, fmt):
    path = _export_clip(tmp_path, fmt)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 5, 40  # the child reads at the artist's settings
    scene.unit_settings.scale_length = 0.5
    target = load_character(rename="target")
    activate(target)
    child, here = _read_both(monkeypatch, path, children)
    _assert_same(child, here)
    rig, motion, name = child
    assert name == "clip" and len(rig.bones) == 52 and motion.num_frames >= 24
    assert np.ptp(motion.rotations_xyzw, axis=0).max() > 0.1  # the keyed poses came through


def test_quaternius_fbx_read_in_a_child_equals_the_in_process_import(addon, monkeypatch, children):
    if not QUATERNIUS_FBX.is_file():
        pytest.skip(f"needs {QUATERNIUS_FBX} (../shared beside the clone; a plain clone has none)")
    child, here = _read_both(monkeypatch, QUATERNIUS_FBX, children)
    _assert_same(child, here)
    _rig, motion, name = child
    assert name == "Male_Casual" and motion.num_frames > 10 and motion.location_bones


def test_retarget_job_from_a_glb_reads_it_in_a_child_and_cancel_kills_it(addon, tmp_path, children):
    """The Retarget button's path: the operator's first slice starts the child; Cancel kills it."""
    from blender_addon import jobs, tasks
    path = _export_clip(tmp_path, "glb")
    target = load_character(rename="target")
    activate(target)
    s = bpy.context.scene.motionloom
    s.source_type, s.source_file = "FILE", str(path)
    use_backend("http://127.0.0.1:9")  # never asked: the job is cancelled while it still reads its source
    before = _counts()
    job = tasks.start_retarget(bpy.context, target)
    assert len(children) == 1 and children[0].poll() is None and job.prepare is not None
    jobs.pump()  # a tick while the child reads: it only polls
    folder = children[0].args[-2]
    assert jobs.cancel()
    assert children[0].poll() is not None  # the reading process is gone (killed and reaped)
    assert job.state == "cancelled" and not os.path.exists(folder)
    assert _counts() == before


def test_closing_the_reader_kills_the_child(addon, tmp_path, children):
    from blender_addon import importers
    path = _export_clip(tmp_path, "glb")
    gen = importers.read_import_steps(str(path), bpy.context.scene)
    next(gen)
    assert children[0].poll() is None
    gen.close()
    assert children[0].poll() is not None


def test_a_child_past_the_timeout_is_killed_with_a_sentence(addon, tmp_path, monkeypatch, children):
    from blender_addon import channels, importers
    path = tmp_path / "slow.glb"
    path.write_bytes(b"glTF")
    monkeypatch.setattr(importers, "READ_TIMEOUT_S", 0.2)
    monkeypatch.setattr(importers, "child_command", lambda *_: [sys.executable, "-c", "import time; time.sleep(600)"])
    with pytest.raises(channels.SceneError, match=r"did not read 'slow.glb' within 0.2 s; reading it was stopped"):
        _drive(importers.read_import_steps(str(path), bpy.context.scene))
    assert children[0].poll() is not None and children[0].returncode != 0


def test_a_child_that_dies_is_reported_with_its_last_words(addon, tmp_path, monkeypatch, children):
    from blender_addon import channels, importers
    path = tmp_path / "crash.fbx"
    path.write_bytes(b"Kaydara FBX Binary  \x00")
    monkeypatch.setattr(importers, "child_command",
                        lambda *_: [sys.executable, "-c", "import sys; print('segmentation fault'); sys.exit(3)"])
    with pytest.raises(channels.SceneError, match=r"could not read 'crash.fbx': its reading process ended with code 3 "
                                                  r"\(segmentation fault\)"):
        _drive(importers.read_import_steps(str(path), bpy.context.scene))


@pytest.mark.parametrize("fmt", ["glb", "fbx"])
def test_broken_file_gives_the_importers_sentence(addon, tmp_path, children, fmt):
    from blender_addon import channels, importers
    path = tmp_path / f"broken.{fmt}"
    path.write_bytes(b"this is not a motion file\n" * 8)
    with pytest.raises(channels.SceneError, match=rf"Blender's importer could not read 'broken.{fmt}': ") as child:
        _drive(importers.read_import_steps(str(path), bpy.context.scene))
    with pytest.raises(channels.SceneError) as here:
        importers.import_motion_file(str(path))
    assert str(child.value) == str(here.value)  # the same sentence as the in-process import


def test_file_without_an_animated_armature(addon, tmp_path, children):
    from blender_addon import channels, importers
    bpy.ops.mesh.primitive_cube_add()
    path = tmp_path / "cube.glb"
    bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB")
    with pytest.raises(channels.SceneError, match=r"^'cube.glb' holds no animated armature$"):
        _drive(importers.read_import_steps(str(path), bpy.context.scene))


def test_missing_path_and_wrong_extension_are_refused_before_a_child_starts(addon, tmp_path, children):
    from blender_addon import channels, importers
    with pytest.raises(channels.SceneError, match="does not exist"):
        next(importers.read_import_steps(str(tmp_path / "missing.fbx"), bpy.context.scene))
    (tmp_path / "clip.obj").write_text("o x\n")
    with pytest.raises(channels.SceneError, match=r"use a .bvh, .fbx, .glb or .gltf file"):
        next(importers.read_import_steps(str(tmp_path / "clip.obj"), bpy.context.scene))
    assert children == []


ORPHAN = r"""
import os, sys, tempfile, time
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp())
sys.path.insert(0, sys.argv[1])
import bpy
from blender_addon import importers
started = []
real = importers._start_child
importers._start_child = lambda *a: started.append(real(*a)) or started[-1]
gen = importers.read_import_steps(sys.argv[2], bpy.context.scene)
next(gen)
print(started[0].pid, started[0].args[-2], flush=True)
os._exit(0)  # Blender gone (a crash, a kill): no finally clause runs
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_child_ends_when_its_blender_is_gone(addon, tmp_path):
    """A Blender that dies while its child reads leaves no reading process (nor its folder) behind."""
    import subprocess
    import time
    path = _export_clip(tmp_path, "glb")
    out = subprocess.run([sys.executable, "-c", ORPHAN, str(ROOT), str(path)], check=True, capture_output=True, text=True,
                         timeout=120)
    pid, folder = out.stdout.split()[-2:]

    def alive() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
        except FileNotFoundError:
            return False
    for _ in range(600):  # the watcher looks every 0.5 s; the child may also simply finish its read
        if not alive():
            break
        time.sleep(0.05)
    assert not alive()
    assert not os.path.exists(folder)
