"""Build the installable Blender extension: ``python build.py`` -> ``dist/motionloom-<version>.zip``.

Steps: stage ``blender_addon/*.py`` and ``blender_manifest.toml`` into ``build/motionloom/``; check the manifest
against the rules Blender's extension platform enforces; build the zip with Blender's own extension tool
(``blender_ext.py``, shipped inside the ``bpy`` wheel; it runs without importing bpy) and run its ``validate``, or
zip it ourselves when no Blender is installed; finally check the zip's layout (manifest at the root, every module
present, nothing else). Exit code 0 only when every check passes.

Options: ``--out DIR`` (default ``dist``), ``--no-blender`` (skip Blender's tool even when available).
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "blender_addon"
MANIFEST = ROOT / "blender_manifest.toml"
PERMISSIONS = {"files", "network", "clipboard", "camera", "microphone"}
REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "blender_version_min",
            "license")


class BuildError(Exception):
    pass


def check_manifest(m: dict) -> list[str]:
    """Problems with a parsed manifest (empty list: fine). Mirrors blender_ext.py's rules for what we use."""
    errs = []
    for k in REQUIRED:
        if k not in m:
            errs.append(f"missing key {k!r}")
    if errs:
        return errs
    if m["schema_version"] != "1.0.0":
        errs.append(f"schema_version must be '1.0.0', got {m['schema_version']!r}")
    pid = m["id"]
    if not (isinstance(pid, str) and pid.isidentifier() and "__" not in pid and not pid.startswith("_")
            and not pid.endswith("_")):
        errs.append(f"id {pid!r} must be a Python identifier without '__' or leading/trailing '_'")
    semver = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
    if not semver.match(str(m["version"])):
        errs.append(f"version {m['version']!r} is not X.Y.Z")
    if not re.match(r"^\d+\.\d+\.\d+$", str(m["blender_version_min"])):
        errs.append(f"blender_version_min {m['blender_version_min']!r} is not X.Y.Z")
    tag = m["tagline"]
    if not tag or len(tag) > 64:
        errs.append(f"tagline must be 1..64 characters, got {len(tag)}")
    elif tag[-1] in ".!?,;:":
        errs.append("tagline must not end in punctuation")
    if m["type"] not in ("add-on", "theme"):
        errs.append(f"type must be 'add-on' or 'theme', got {m['type']!r}")
    lic = m["license"]
    if not (isinstance(lic, list) and lic and all(isinstance(x, str) and x.startswith("SPDX:") for x in lic)):
        errs.append("license must be a non-empty list of 'SPDX:...' identifiers")
    perms = m.get("permissions", {})
    if not isinstance(perms, dict):
        errs.append("permissions must be a table of reasons")
    else:
        for k, why in perms.items():
            if k not in PERMISSIONS:
                errs.append(f"unknown permission {k!r}")
            elif not isinstance(why, str) or not why or len(why) > 64 or why[-1] == ".":
                errs.append(f"permission {k!r} needs a reason of 1..64 characters without a final period")
    return errs


def stage(build_dir: Path) -> tuple[Path, list[str]]:
    """Copy the add-on modules and the manifest into ``build_dir/<id>``; returns (dir, staged file names)."""
    manifest = tomllib.loads(MANIFEST.read_text())
    errs = check_manifest(manifest)
    if errs:
        raise BuildError("blender_manifest.toml: " + "; ".join(errs))
    dst = build_dir / manifest["id"]
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    files = sorted(p.name for p in SOURCE.glob("*.py"))
    if "__init__.py" not in files:
        raise BuildError("blender_addon/__init__.py is missing")
    stray = sorted(p.name for p in SOURCE.iterdir() if p.suffix != ".py" and p.name != "__pycache__")
    if stray:
        raise BuildError(f"blender_addon/ holds files that would not be packaged: {stray}")
    for name in files:
        shutil.copy2(SOURCE / name, dst / name)
    shutil.copy2(MANIFEST, dst / "blender_manifest.toml")
    return dst, files + ["blender_manifest.toml"]


def blender_ext_tool() -> tuple[Path, Path] | None:
    """(blender_ext.py, tags.py) from an installed bpy wheel, found without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for ver in sorted(Path(base).glob("[0-9]*.[0-9]*"), reverse=True):
            tool = ver / "scripts/addons_core/bl_pkg/cli/blender_ext.py"
            tags = ver / "scripts/modules/_bpy_internal/extensions/tags.py"
            if tool.is_file():
                return tool, tags
    return None


def run_tool(tool: Path, tags: Path, *args: str) -> str:
    cmd = [sys.executable, str(tool), *args]
    if tags.is_file():
        cmd.append(f"--valid-tags={tags}")
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or "error" in out.lower():
        raise BuildError(f"Blender's extension tool failed ({' '.join(args[:1])}):\n{out}")
    return out


def zip_ourselves(src: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(src.iterdir()):
            z.write(p, p.name)


def check_zip(path: Path, expected: list[str]) -> None:
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        if z.testzip() is not None:
            raise BuildError(f"{path.name} is corrupt")
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode("utf-8")) \
            if "blender_manifest.toml" in names else None
    if manifest is None:
        raise BuildError(f"{path.name} has no blender_manifest.toml at its root")
    missing = sorted(set(expected) - set(names))
    stray = sorted(set(names) - set(expected))
    if missing:
        raise BuildError(f"{path.name} lacks {missing}")
    if stray:
        raise BuildError(f"{path.name} holds stray files {stray}")
    errs = check_manifest(manifest)
    if errs:
        raise BuildError(f"manifest inside {path.name}: " + "; ".join(errs))


def build(out_dir: Path, use_blender: bool = True, verbose: bool = True) -> Path:
    build_dir = ROOT / "build"
    staged, files = stage(build_dir)
    manifest = tomllib.loads(MANIFEST.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    if out.exists():
        out.unlink()
    tool = blender_ext_tool() if use_blender else None
    if tool is not None:
        run_tool(*tool, "validate", str(staged))
        run_tool(*tool, "build", "--source-dir", str(staged), "--output-filepath", str(out))
        run_tool(*tool, "validate", str(out))
        how = f"Blender's extension tool (bpy {tool[0].parents[4].name})"
    else:
        zip_ourselves(staged, out)
        how = "zipfile (no Blender found: install bpy to run Blender's own validation)"
    check_zip(out, files)
    if verbose:
        print(f"built {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
              f"({out.stat().st_size / 1024:.1f} KiB, {len(files)} files) with {how}; validated")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    ap.add_argument("--no-blender", action="store_true", help="do not use Blender's extension tool")
    args = ap.parse_args(argv)
    try:
        build(Path(args.out), use_blender=not args.no_blender)
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
