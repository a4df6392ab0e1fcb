"""``python build.py``: the extension zip is built, validated and holds exactly the add-on."""
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build

MODULES = sorted(p.name for p in (ROOT / "blender_addon").glob("*.py"))


def test_cli_builds_a_validated_zip(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(tmp_path)], capture_output=True,
                       text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    assert "Blender's extension tool" in r.stdout  # bpy is installed: Blender's own validation ran
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    zpath = tmp_path / f"motionloom-{manifest['version']}.zip"
    with zipfile.ZipFile(zpath) as z:
        assert sorted(z.namelist()) == sorted(MODULES + ["blender_manifest.toml"])
        m = tomllib.loads(z.read("blender_manifest.toml").decode())
    assert m["id"] == "motionloom" and m["type"] == "add-on" and m["blender_version_min"] == "4.2.0"
    assert m["schema_version"] == "1.0.0" and set(m["permissions"]) == {"network", "files"}
    assert m["license"] and all(x.startswith("SPDX:") for x in m["license"])


def test_fallback_without_blender_builds_the_same_files(tmp_path):
    z = build.build(tmp_path, use_blender=False, verbose=False)
    with zipfile.ZipFile(z) as f:
        assert sorted(f.namelist()) == sorted(MODULES + ["blender_manifest.toml"])


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('tagline = "', 'tagline = "' + "x" * 60), "tagline must be 1..64"),
    (lambda t: t.replace('id = "motionloom"', 'id = "motion-loom"'), "must be a Python identifier"),
    (lambda t: t.replace('blender_version_min = "4.2.0"', 'blender_version_min = "4.2"'), "is not X.Y.Z"),
    (lambda t: t.replace("[permissions]", "[permissions]\ninternet = \"x\""), "unknown permission 'internet'"),
    (lambda t: t.replace('files = "Reads and writes motion files (BVH, FBX, glTF)"', 'files = "Reads files."'),
     "without a final period"),
])
def test_bad_manifest_is_refused(tmp_path, monkeypatch, edit, message):
    bad = tmp_path / "blender_manifest.toml"
    bad.write_text(edit((ROOT / "blender_manifest.toml").read_text()))
    monkeypatch.setattr(build, "MANIFEST", bad)
    with pytest.raises(build.BuildError, match=message):
        build.build(tmp_path / "dist", use_blender=False, verbose=False)


def test_stray_file_in_the_addon_is_refused(tmp_path, monkeypatch):
    src = tmp_path / "blender_addon"
    shutil.copytree(ROOT / "blender_addon", src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "notes.txt").write_text("scratch")
    monkeypatch.setattr(build, "SOURCE", src)
    with pytest.raises(build.BuildError, match="notes.txt"):
        build.build(tmp_path / "dist", use_blender=False, verbose=False)


def test_blender_validation_catches_what_it_checks(tmp_path, monkeypatch):
    """Blender's own validator runs on the staged package (an unknown tag is only caught there)."""
    if build.blender_ext_tool() is None:
        pytest.skip("bpy is not installed")
    bad = tmp_path / "blender_manifest.toml"
    bad.write_text((ROOT / "blender_manifest.toml").read_text().replace('"Rigging"', '"NotATag"'))
    monkeypatch.setattr(build, "MANIFEST", bad)
    with pytest.raises(build.BuildError, match="NotATag"):
        build.build(tmp_path / "dist", verbose=False)
