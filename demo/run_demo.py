"""The headless MotionLoom demo: what an animator does in the MotionLoom panel, run by a script in real Blender.

1. loads two bundled characters (Mixamo-named "Hero", CMU-named "Second"; CC0, ``demo/assets``);
2. starts the backend through the add-on's own Start button (``python -m backend serve``, a child process);
3. keys three poses on the Hero (stand, crouch reaching forward, arms up) and in-betweens them;
4. generates "a person walks forward" along a drawn curve onto the Hero (a new action; the blocking is kept);
5. retargets the Hero's walk onto the Second character (a new action);
6. saves ``motionloom_demo.blend`` and renders previews (Workbench PNG frames, contact sheets, GIFs; a
   matplotlib stick-figure strip where OpenGL rendering is unavailable);
7. writes ``summary.json`` (what was made, by which model, timings).

Run through ``python -m backend demo --out out/demo`` (or ``make demo``); the operators, the worker threads and the
pump are exactly those the panel uses; only the timer is replaced by calling the pump in a loop, because timers do
not fire in the ``bpy`` module.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "demo" / "assets"
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="motionloom-demo-"))
sys.path.insert(0, str(ROOT))

import bpy
import numpy as np
from mathutils import Vector

FPS = 30
PROMPT = "a person walks forward"
STEPS: list[dict] = []


def step(name: str):
    """Decorator: time a step, record its outcome, keep going after a failure (the summary says what failed)."""
    def wrap(fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            print(f"\n== {name}", flush=True)
            rec = {"step": name}
            try:
                out = fn(*a, **k) or {}
                rec.update(ok=True, **out)
            except Exception as e:  # noqa: BLE001 - report and continue: later steps may still run
                rec.update(ok=False, error=f"{type(e).__name__}: {e}")
                print(f"   FAILED: {e}", flush=True)
            rec["seconds"] = round(time.perf_counter() - t0, 2)
            for k_, v in rec.items():
                if k_ not in ("step",):
                    print(f"   {k_}: {v}", flush=True)
            STEPS.append(rec)
            return rec
        return run
    return wrap


# ----------------------------------------------------------------------------------------------------- scene
def load_character(filename: str, name: str, offset_x: float = 0.0):
    before = {o.name for o in bpy.data.objects}
    bpy.ops.import_scene.gltf(filepath=str(ASSETS / filename))
    new = [o for o in bpy.data.objects if o.name not in before]
    for o in list(new):
        if o.type == "MESH" and o.parent is None and not o.vertex_groups:
            new.remove(o)
            bpy.data.objects.remove(o)  # the importer's bone display shape
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o.name not in before)
    arm.name = name
    bpy.context.view_layer.update()
    feet = min((o.matrix_world @ Vector(c)).z for o in new if o.type == "MESH" and o.vertex_groups
               for c in o.bound_box)
    arm.location = (offset_x, 0.0, -feet)  # stand on the ground (z = 0): the file's origin is mid-body
    for o in bpy.data.objects:
        if o.parent == arm and o.type == "MESH":
            o.name = f"{name} body"
    return arm


def activate(obj) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)


def aim(arm, bone: str, direction) -> None:
    """Turn a bone so that it points along ``direction`` (armature space), keeping its head where it is."""
    bpy.context.view_layer.update()
    pb = arm.pose.bones[bone]
    m = pb.matrix.copy()
    r = m.col[1].xyz.normalized().rotation_difference(Vector(direction).normalized())
    new = r.to_matrix().to_4x4() @ m.to_3x3().to_4x4()
    new.translation = m.translation
    pb.matrix = new


P = "mixamorig:"
POSES = {  # frame: (hips drop in metres, {bone: direction}); parents listed before children
    1: (0.0, {"LeftArm": (0.25, 0.05, -1), "LeftForeArm": (0.15, -0.1, -1), "RightArm": (-0.25, 0.05, -1),
              "RightForeArm": (-0.15, -0.1, -1)}),
    30: (0.3, {"Spine": (0, -0.35, 1), "LeftArm": (0.15, -1, 0.1), "LeftForeArm": (0.05, -1, 0.15),
               "RightArm": (-0.15, -1, 0.1), "RightForeArm": (-0.05, -1, 0.15), "LeftUpLeg": (0.1, -0.9, -0.7),
               "LeftLeg": (0, 0.45, -1), "RightUpLeg": (-0.1, -0.9, -0.7), "RightLeg": (0, 0.45, -1),
               "Head": (0, -0.4, 1)}),
    60: (0.0, {"LeftArm": (0.35, 0, 1), "LeftForeArm": (0.2, 0, 1), "RightArm": (-0.35, 0, 1),
               "RightForeArm": (-0.2, 0, 1), "Head": (0, 0.2, 1)}),
}
def key_blocking(arm) -> None:
    """Key three whole-character poses on frames 1, 30 and 60, as an animator blocking a shot would (one action,
    'Blocking')."""
    activate(arm)
    for f, (drop, dirs) in POSES.items():
        for pb in arm.pose.bones:
            pb.rotation_quaternion = (1, 0, 0, 0)
            pb.location = (0, 0, 0)
        bpy.context.view_layer.update()
        hips = arm.pose.bones[P + "Hips"]
        m = hips.matrix.copy()
        m.translation.z -= drop
        hips.matrix = m
        for b, d in dirs.items():
            aim(arm, P + b, d)
        bpy.context.view_layer.update()
        for pb in arm.pose.bones:  # a whole-character key, as animators block
            pb.keyframe_insert("rotation_quaternion", frame=f, group=pb.name)
        hips.keyframe_insert("location", frame=f, group=hips.name)
    arm.animation_data.action.name = "Blocking"
    for pb in arm.pose.bones:
        pb.rotation_quaternion = (1, 0, 0, 0)
        pb.location = (0, 0, 0)


def path_curve():
    """The path the walk should follow: a gentle S over 4 m towards -Y (the characters' forward)."""
    cu = bpy.data.curves.new("Walk Path", "CURVE")
    cu.dimensions = "3D"
    sp = cu.splines.new("BEZIER")
    pts = [(0, 0, 0), (0.6, -1.5, 0), (-0.4, -3.0, 0), (0.2, -4.2, 0)]
    sp.bezier_points.add(len(pts) - 1)
    for bp, p in zip(sp.bezier_points, pts):
        bp.co = p
        bp.handle_left_type = bp.handle_right_type = "AUTO"
    cu.bevel_depth = 0.015  # visible in renders
    ob = bpy.data.objects.new("Walk Path", cu)
    ob.color = (0.9, 0.2, 0.2, 1)
    bpy.context.scene.collection.objects.link(ob)
    return ob


# --------------------------------------------------------------------------------------------------- steps
def pump_until_done(timeout: float = 600.0):
    from blender_addon import jobs
    job = jobs.run_until_idle(timeout)
    if job is None or job.state != "done":
        raise RuntimeError(job.message if job else "no job ran")
    return job


@step("start the backend (add-on's Start button)")
def start_backend(url: str | None, backend_dir: Path):
    from blender_addon import preferences, tasks
    prefs = preferences.get()
    if url:
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        prefs.host, prefs.port = host, int(port)
        bpy.ops.motionloom.connect()
    else:
        prefs.python, prefs.workdir, prefs.port = sys.executable, str(backend_dir), 0
        bpy.ops.motionloom.backend_start()
    job = pump_until_done(300)
    c = tasks.CONNECTION
    models = [f"{m.get('task')}: {m.get('name')} ({m.get('kind')}"
              f"{'' if m.get('available', True) else ', unavailable'})" for m in c["models"]]
    return {"url": c["url"], "version": c["version"], "device": c["device"], "models": models,
            "message": job.message}


@step("in-between three key poses on the Hero")
def inbetween(hero):
    from blender_addon import action_write, compat
    key_blocking(hero)
    action, slot = compat.assigned(hero)
    before = action_write.action_snapshot(action)
    for fc in compat.fcurves(action, slot):
        fc.keyframe_points.foreach_set("select_control_point", np.ones(len(fc.keyframe_points), bool))
    s = bpy.context.scene.motionloom
    s.inbetween_bones, s.inbetween_range = "ALL", "SELECTED_KEYS"
    activate(hero)
    bpy.ops.ed.undo_push(message="Blocking")
    bpy.ops.motionloom.inbetween()
    job = pump_until_done()
    after = action_write.action_snapshot(action)
    kept = all(np.array_equal(after[k]["co"].reshape(-1, 2)[np.searchsorted(after[k]["co"][0::2], v["co"][0::2])],
                              v["co"].reshape(-1, 2)) for k, v in before.items())
    return {"message": job.message, "keys_added": job.keys_added, "artist_keys_bit_identical": kept,
            "frames": "1..60"}


@step("generate from a prompt along a curve onto the Hero")
def generate(hero, curve):
    s = bpy.context.scene.motionloom
    s.prompt, s.duration_unit, s.duration_seconds, s.seed, s.trajectory = PROMPT, "SECONDS", 4.0, 0, curve
    s.apply_mode = "ASSIGN"
    activate(hero)
    bpy.ops.motionloom.generate()
    job = pump_until_done()
    return {"message": job.message, "actions": job.actions}


@step("retarget the Hero's action onto the Second character")
def retarget(hero, second):
    s = bpy.context.scene.motionloom
    s.source_type, s.source_armature = "ARMATURE", hero
    activate(second)
    bpy.ops.motionloom.retarget()
    job = pump_until_done()
    return {"message": job.message, "actions": job.actions,
            "source_action": hero.animation_data.action.name}


@step("save the .blend")
def save(out: Path):
    path = out / "motionloom_demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False)
    return {"file": str(path), "size_kb": round(path.stat().st_size / 1024)}


# -------------------------------------------------------------------------------------------------- render
def setup_render(scene, res=(320, 360)):
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    scene.render.resolution_x, scene.render.resolution_y = res
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    if scene.world is None:
        scene.world = bpy.data.worlds.new("Backdrop")
    scene.world.color = (0.78, 0.8, 0.83)
    if "Floor" not in bpy.data.objects:
        me = bpy.data.meshes.new("Floor")
        s = 30.0
        me.from_pydata([(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [], [(0, 1, 2, 3)])
        floor = bpy.data.objects.new("Floor", me)
        floor.color = (0.55, 0.57, 0.6, 1)
        floor.location.y = -2
        scene.collection.objects.link(floor)
    for ob in bpy.data.objects:
        if ob.type == "MESH" and ob.name.endswith("body"):
            ob.color = (0.85, 0.6, 0.45, 1) if ob.name.startswith("Hero") else (0.45, 0.6, 0.85, 1)


def camera(scene, location, target, ortho: float | None = None):
    cam = bpy.data.objects.get("Demo Camera")
    if cam is None:
        cam = bpy.data.objects.new("Demo Camera", bpy.data.cameras.new("Demo Camera"))
        scene.collection.objects.link(cam)
    cam.location = location
    d = Vector(target) - Vector(location)
    cam.rotation_euler = d.to_track_quat("-Z", "Y").to_euler()
    cam.data.type = "ORTHO" if ortho else "PERSP"
    if ortho:
        cam.data.ortho_scale = ortho
    scene.camera = cam


def render_frames(scene, frames, out_dir: Path, tag: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in frames:
        scene.frame_set(int(f))
        scene.render.filepath = str(out_dir / f"{tag}_{int(f):04d}.png")
        bpy.ops.render.render(write_still=True)
        paths.append(Path(scene.render.filepath))
    return paths


def sheet_and_gif(paths: list[Path], out: Path, title_frames) -> dict:
    from PIL import Image, ImageDraw
    imgs = [Image.open(p).convert("RGB") for p in paths]
    w, h = imgs[0].size
    cols = min(6, len(imgs))
    rows = (len(imgs) + cols - 1) // cols
    sheet = Image.new("RGB", (w * cols, h * rows), "white")
    for i, (im, f) in enumerate(zip(imgs, title_frames)):
        ImageDraw.Draw(im).text((8, 8), f"frame {int(f)}", fill=(20, 20, 20))
        sheet.paste(im, ((i % cols) * w, (i // cols) * h))
    sheet_path, gif_path = out.with_suffix(".png"), out.with_suffix(".gif")
    sheet.save(sheet_path)
    imgs[0].save(gif_path, save_all=True, append_images=imgs[1:], duration=1000 // 12, loop=0)
    return {"sheet": str(sheet_path), "gif": str(gif_path)}


def stick_strip(arms, frames, out: Path) -> dict:
    """Fallback without OpenGL: bone heads evaluated by Blender, drawn with matplotlib (side view)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scene = bpy.context.scene
    fig, axes = plt.subplots(1, len(frames), figsize=(2.2 * len(frames), 3.2), squeeze=False)
    for ax, f in zip(axes[0], frames):
        scene.frame_set(int(f))
        for arm, color in zip(arms, ("#d9773a", "#3a6fd9")):
            mw = arm.matrix_world
            for pb in arm.pose.bones:
                if pb.parent is None or "Hand" in pb.name and pb.name[-1].isdigit():
                    continue
                a, b = mw @ pb.parent.head, mw @ pb.head
                ax.plot([-a.y, -b.y], [a.z, b.z], color=color, lw=1.5)
        ax.set_aspect("equal")
        ax.set_title(f"frame {int(f)}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=90)
    plt.close(fig)
    return {"sheet": str(out.with_suffix(".png")), "renderer": "matplotlib stick figures (no OpenGL)"}


@step("render previews")
def render(out: Path, hero, second, blocking_name, walk_name, retarget_name, retarget_source):
    from blender_addon import compat
    scene = bpy.context.scene
    result = {}
    setup_render(scene)
    frames_dir = out / "frames"
    saved = {a: compat.assigned(a) for a in (hero, second)}
    shots = []  # (tag, {armature: action}, frames, armatures shown)
    if blocking_name:
        shots.append(("inbetween", {hero: blocking_name}, list(range(1, 61, 5)), [hero]))
    if walk_name:
        pair = retarget_name and retarget_source == walk_name
        shots.append(("walk", {hero: walk_name, **({second: retarget_name} if pair else {})},
                      list(range(1, 121, 10)), [hero, second] if pair else [hero]))
    if retarget_name and retarget_source != walk_name:
        shots.append(("retarget", {hero: retarget_source, second: retarget_name}, list(range(1, 61, 5)),
                      [hero, second]))
    for tag, assign, frames, arms in shots:
        for arm, name in assign.items():
            act = bpy.data.actions[name]
            compat.assign(arm, act, act.slots[0] if compat.HAS_SLOTS else None)
            for pb in arm.pose.bones:  # channels the action does not key would keep the last shot's pose
                pb.rotation_quaternion, pb.location, pb.scale = (1, 0, 0, 0), (0, 0, 0), (1, 1, 1)
        for o in bpy.data.objects:  # show only the characters of this shot (and the path with the walk)
            if o.type == "MESH" and o.name.endswith("body"):
                o.hide_render = o.parent not in arms
            elif o.type == "CURVE":
                o.hide_render = tag != "walk"
        scene.render.resolution_x = 320
        if tag == "inbetween":
            camera(scene, (2.6, -4.4, 1.3), (0.0, -0.2, 0.8))
        elif tag == "retarget":
            camera(scene, (3.2, -4.2, 1.3), (0.3, -0.2, 0.8))
        else:
            scene.render.resolution_x = 480
            camera(scene, (4.6, -7.4, 2.3), (0.4, -2.2, 0.7))
        try:
            paths = render_frames(scene, frames, frames_dir, tag)
            result[tag] = sheet_and_gif(paths, out / f"preview_{tag}", frames)
            result[tag]["renderer"] = "Workbench"
        except Exception as e:  # noqa: BLE001 - any render failure falls back to stick figures
            print(f"   Workbench render failed ({e}); drawing stick figures instead", flush=True)
            result[tag] = stick_strip(arms, frames[::2], out / f"preview_{tag}")
    for arm, (act, slot) in saved.items():
        compat.assign(arm, act, slot)
    for o in bpy.data.objects:
        o.hide_render = False
    return result


# ----------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="MotionLoom headless Blender demo")
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"))
    ap.add_argument("--backend-url", default=None, help="use a running backend instead of starting one")
    ap.add_argument("--backend-dir", default=str(ROOT), help="checkout whose 'python -m backend serve' is started")
    ap.add_argument("--no-render", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    import addon_utils
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("blender_addon", default_set=True, handle_error=lambda e: (_ for _ in ()).throw(e))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.frame_start, scene.frame_end = 1, 120
    hero = load_character("mixamo_adult.glb", "Hero")
    second = load_character("cmu_heavy_f.glb", "Second", offset_x=1.4)
    curve = path_curve()
    from blender_addon import backend_process
    try:
        started = start_backend(args.backend_url, Path(args.backend_dir))
        ib = gen = rt = {"ok": False}
        if started["ok"]:
            ib = inbetween(hero)
            gen = generate(hero, curve)
            rt = retarget(hero, second)  # the Hero's active action: the walk, or the blocking if generation failed
        save(out)
        if not args.no_render:
            render(out, hero, second, "Blocking" if ib["ok"] else None,
                   gen["actions"][0] if gen["ok"] else None, rt["actions"][0] if rt["ok"] else None,
                   rt.get("source_action"))
            save(out)
    finally:
        backend_process.stop()
    summary = {"seconds": round(time.perf_counter() - t0, 1), "blender": bpy.app.version_string, "steps": STEPS}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    failed = [s["step"] for s in STEPS if not s["ok"]]
    print(f"\nwrote {out} in {summary['seconds']} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
