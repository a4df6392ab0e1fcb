"""Blender-side benchmark of the add-on (run by ``python -m backend bench blender``; needs the bpy module).

1. **Action write**: 300 frames x 65 bones (quaternions + root location: 263 F-curves, 78,900 keys) into a new
   action with the add-on's bulk path (``action_write.write_motion_action``: ``keyframe_points.add`` + ``foreach_set``),
   against the usual per-key path measured in the same run (``pose_bone.keyframe_insert`` per bone per frame).
   Both results are compared key by key.
2. **Main-thread stall while streaming**: a 300-frame x 65-bone generation with 10 partial results streamed over
   HTTP/SSE; the pump is called like the GUI timer (after the 10-50 ms it asks for) and each tick's duration is
   recorded; the longest
   tick is the longest freeze the artist can feel. Baseline, same run: the blocking way (request, stream and write
   all on the main thread), whose single stall is the whole job. With ``--real`` (default when the service is in the
   checkout) the same for an in-between of 300 frames x 65 bones on the real backend.

3. **Longest main-thread step before a job starts** (retargeting): the operator's own call plus every pump tick
   until the request is on its way, for a 1,500-frame source armature (65 bones, keys every 10 frames, so every
   frame is evaluated), a CMU BVH file, an FBX character (Quaternius Male_Casual with its mesh, from ../shared) and
   the same character as a glTF file (exported as GLB here); baseline, same run: reading the same source in one go
   (the armature sampled at once; the files through Blender's importer in this process, as before). The file rows
   also give how long after the click the request went out (FBX/glTF: a Blender process of its own starts and
   imports the file).

The rig is the bundled Mixamo character (52 bones) plus 13 twist/helper bones (65 bones). Prints a table, or JSON
with ``--json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="motionloom-bench-"))
sys.path.insert(0, str(ROOT))

import bpy
import numpy as np

EXTRA = [("LeftArmTwist", "LeftArm"), ("RightArmTwist", "RightArm"), ("LeftForeArmTwist", "LeftForeArm"),
         ("RightForeArmTwist", "RightForeArm"), ("LeftUpLegTwist", "LeftUpLeg"), ("RightUpLegTwist", "RightUpLeg"),
         ("LeftLegTwist", "LeftLeg"), ("RightLegTwist", "RightLeg"), ("Neck1", "Neck"), ("LeftEye", "Head"),
         ("RightEye", "Head"), ("Jaw", "Head"), ("Spine3", "Spine2")]


def rig65():
    """The Mixamo character plus 13 helper bones: 65 bones with real, rolled rest orientations."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    import addon_utils
    addon_utils.enable("blender_addon", default_set=True)
    bpy.context.scene.render.fps = 30
    bpy.ops.import_scene.gltf(filepath=str(ROOT / "demo" / "assets" / "mixamo_adult.glb"))
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    for o in list(bpy.data.objects):
        if o.type == "MESH":
            bpy.data.objects.remove(o)  # a bare rig: the write cost, not the skin's
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm.data.edit_bones
    for name, parent in EXTRA:
        p = eb["mixamorig:" + parent]
        b = eb.new("mixamorig:" + name)
        b.head = p.head.lerp(p.tail, 0.5)
        b.tail = p.tail
        b.roll = p.roll + 0.3
        b.parent = p
    bpy.ops.object.mode_set(mode="OBJECT")
    assert len(arm.data.bones) == 65
    return arm


def random_motion(arm, frames: int, seed: int = 0):
    from blender_addon import rig_read, wire
    rig = rig_read.read_rig(arm)
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(frames, len(rig.bones), 4)) * 0.1 + [0, 0, 0, 1]
    q = np.cumsum(q, axis=0)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = np.cumsum(rng.normal(size=(frames, 3)) * 0.01, axis=0)
    return rig, wire.Motion(rig.bones, rig.parents, 30.0, 1, q.astype(np.float32), root.astype(np.float32), "rig",
                            rig.root_bone)


# ---------------------------------------------------------------------------------------------- action write
def bench_write(arm, frames: int, repeats: int) -> dict:
    from blender_addon import action_write, channels, compat
    rig, m = random_motion(arm, frames)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        act, slot = action_write.write_motion_action(arm, m, "bulk")
        times.append(time.perf_counter() - t0)
        keep = (act, slot)
        for a in [a for a in bpy.data.actions if a.name.startswith("bulk") and a != act]:
            bpy.data.actions.remove(a)
    act, slot = keep
    n_curves = len(compat.fcurves(act, slot))

    # baseline: the per-key path most scripts use
    q_wxyz = channels.hemisphere_continuous(m.rotations_xyzw[..., [3, 0, 1, 2]])
    base_act, base_slot = compat.new_action("per-key", arm)
    compat.assign(arm, base_act, base_slot)
    pbs = [arm.pose.bones[b] for b in rig.bones]
    root = arm.pose.bones[m.root_bone]
    t0 = time.perf_counter()
    for f in range(frames):
        for j, pb in enumerate(pbs):
            pb.rotation_quaternion = q_wxyz[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1, group=pb.name)
        root.location = m.root_translation[f]
        root.keyframe_insert("location", frame=f + 1, group=root.name)
    t_base = time.perf_counter() - t0

    # same keys either way?
    bulk_c, base_c = compat.fcurves(act, slot), compat.fcurves(base_act, base_slot)
    worst = 0.0
    for fc in bulk_c:
        other = base_c.find(fc.data_path, index=fc.array_index)
        a = np.empty(2 * frames, np.float32)
        b = np.empty(2 * frames, np.float32)
        fc.keyframe_points.foreach_get("co", a)
        other.keyframe_points.foreach_get("co", b)
        worst = max(worst, float(np.abs(a - b).max()))
    return {"frames": frames, "bones": len(rig.bones), "fcurves": n_curves, "keys": n_curves * frames,
            "bulk_ms_median": round(1000 * statistics.median(times), 2),
            "bulk_ms_min": round(1000 * min(times), 2), "repeats": repeats,
            "baseline": "pose_bone.keyframe_insert per bone per frame",
            "baseline_ms": round(1000 * t_base, 1),
            "speedup": round(t_base / statistics.median(times), 1),
            "max_key_difference": worst}


# ------------------------------------------------------------------------------------------------- stalls
class Backend:
    def __init__(self, cmd, cwd=ROOT):
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:
            if line.startswith("MOTIONLOOM_SERVER "):
                self.url = line.split(" ", 1)[1].strip()
                return
        raise RuntimeError("backend did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _use(url):
    from blender_addon import preferences
    p = preferences.get()
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    p.mode, p.host, p.port = "LOCAL", host, int(port)


def pump_like_the_timer():
    """Call the pump after the delay it asks for, as bpy.app.timers does in the GUI; returns the job."""
    from blender_addon import jobs
    job = jobs.active()
    while job.running:
        delay = jobs.pump()
        if delay is None:
            break
        time.sleep(delay)
    return job


def blocking_baseline(request: dict, url: str, apply) -> float:
    """The naive way: one main-thread call that submits, reads the whole stream and writes the result."""
    from blender_addon import client
    t0 = time.perf_counter()
    b = client.Backend(url)
    job_id = b.submit(request)
    conn = b.connection(600)
    conn.request("GET", f"/v1/jobs/{job_id}/events", headers=b.headers())
    result = None
    for ev in client.SSEReader(conn.getresponse()):
        if ev.type == "result":
            result = ev.result
            break
        if ev.type in ("error", "cancelled"):
            raise RuntimeError(ev.message)
    conn.close()
    apply(result)
    return time.perf_counter() - t0


def stall_stats(job, baseline_s: float, what: str) -> dict:
    ticks = np.array(job.tick_times) * 1000
    return {"task": what, "state": job.state, "ticks": len(ticks),
            "max_tick_ms": round(float(ticks.max()), 2), "median_tick_ms": round(float(np.median(ticks)), 3),
            "job_s": round(time.perf_counter() - job.started, 2),
            "blocking_baseline_stall_ms": round(1000 * baseline_s, 1),
            "stall_reduction": round(1000 * baseline_s / float(ticks.max()), 1), "message": job.message}


def bench_stream_generate(frames: int, partials: int) -> dict:
    from blender_addon import action_write, rig_read, tasks, wire
    arm = rig65()
    fake = Backend([sys.executable, str(ROOT / "tests" / "blender" / "fake_backend.py"), "--port", "0",
                    "--partials", str(partials), "--step-delay", "0.1"])
    try:
        _use(fake.url)
        s = bpy.context.scene.motionloom
        s.prompt, s.duration_unit, s.duration_frames = "a person walks forward", "FRAMES", frames
        bpy.context.view_layer.objects.active = arm
        tasks.start_generate(bpy.context, arm)
        job = pump_like_the_timer()
        rig = rig_read.read_rig(arm)
        req = wire.text2motion_request(s.prompt, frames, 30.0, rig=rig.spec())
        base = blocking_baseline(req, fake.url, lambda r: action_write.write_motion_action(arm, r.motions[0], "blocking"))
    finally:
        fake.stop()
    out = stall_stats(job, base, f"generate {frames} frames x 65 bones, {partials} partials (scripted backend)")
    out["partials_streamed"] = partials
    return out


def bench_stream_inbetween(frames: int, backend_dir: Path = ROOT) -> dict:
    from blender_addon import action_write, inbetween_write, key_read, tasks, wire
    arm = rig65()
    rig, m = random_motion(arm, frames, seed=1)
    act, slot = action_write.write_motion_action(arm, m, "keys")
    from blender_addon import compat
    # keep keys on 4 frames only: the artist's key poses
    keep = {1, frames // 3, 2 * frames // 3, frames}
    for fc in compat.fcurves(act, slot):
        for i in reversed(range(len(fc.keyframe_points))):
            if int(fc.keyframe_points[i].co.x) not in keep:
                fc.keyframe_points.remove(fc.keyframe_points[i], fast=True)
        fc.update()
    compat.assign(arm, act, slot)
    real = Backend([sys.executable, "-m", "backend", "serve", "--port", "0", "--threads", "1"], cwd=backend_dir)
    try:
        _use(real.url)
        s = bpy.context.scene.motionloom
        s.inbetween_bones, s.inbetween_range = "ALL", "PREVIEW"
        bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, frames
        bpy.context.view_layer.objects.active = arm
        tasks.start_inbetween(bpy.context, arm)
        job = pump_like_the_timer()
        keys = key_read.read_keys(arm, frame_range=(1, frames))
        req = wire.inbetween_request(keys.spec(), 30.0, rig=rig.spec(), frame_range=keys.frame_range)
        copy = act.copy()

        def apply(result):  # the same write (into a copy of the keys), timed as part of the blocking call
            compat.assign(arm, copy, copy.slots[0] if compat.HAS_SLOTS else None)
            plan = inbetween_write.plan_inbetween(arm, result.motions[0], keys.bones, keys.frame_range)
            return inbetween_write.apply_inbetween(arm, plan)

        base = blocking_baseline(req, real.url, apply)
    finally:
        real.stop()
    out = stall_stats(job, base, f"in-between {frames} frames x 65 bones, 4 key poses (real backend)")
    out["keys_added"] = job.keys_added
    return out


# ----------------------------------------------------------------------------------------- before a job starts
CMU_WALK = ROOT.parent / "shared" / "data" / "cmu_bvh_mb_friendly" / "bvh" / "02_01.bvh"
QUATERNIUS_FBX = ROOT.parent / "shared" / "data" / "quaternius_cc0_characters" / "Male_Casual.fbx"


def _start_steps(start, fake_url) -> tuple[list, object]:
    """Main-thread steps (s) of starting a job: the operator's call, then each pump tick until it is sent."""
    from blender_addon import jobs
    t_start = t0 = time.perf_counter()
    job = start()
    steps = [time.perf_counter() - t0]
    while job.prepare is not None:
        t0 = time.perf_counter()
        jobs.pump()
        steps.append(time.perf_counter() - t0)
        time.sleep(0.002)
    job.ready_s = time.perf_counter() - t_start
    jobs.cancel()
    return steps, job


def _fbx_as_glb(fbx: Path, glb: Path) -> None:
    """An FBX character (mesh, armature, animations) as a GLB file, with Blender's importer and exporter; what the
    import made is removed again."""
    kinds = ("objects", "armatures", "meshes", "actions", "materials", "images", "collections")
    before = {k: set(getattr(bpy.data, k)) for k in kinds}
    bpy.ops.import_scene.fbx(filepath=str(fbx))
    new = {k: [x for x in getattr(bpy.data, k) if x not in before[k]] for k in kinds}
    for o in bpy.context.view_layer.objects:
        o.select_set(o in new["objects"])
    bpy.ops.export_scene.gltf(filepath=str(glb), export_format="GLB", use_selection=True, export_animations=True)
    bpy.data.batch_remove([x for k in kinds for x in new[k]])


def bench_job_start(frames: int = 1500) -> list:
    from blender_addon import importers, tasks
    out = []
    fake = Backend([sys.executable, str(ROOT / "tests" / "blender" / "fake_backend.py"), "--port", "0",
                    "--partials", "0", "--step-delay", "1"])
    try:
        src = rig65()
        src.name = "source"
        rng = np.random.default_rng(2)
        for f in range(1, frames + 1, 10):
            for pb in src.pose.bones:
                q = rng.normal(size=4) * 0.2 + [1, 0, 0, 0]
                pb.rotation_quaternion = q / np.linalg.norm(q)
                pb.keyframe_insert("rotation_quaternion", frame=f)
            src.pose.bones["mixamorig:Hips"].location = (0.0, 0.01 * f, 0.0)
            src.pose.bones["mixamorig:Hips"].keyframe_insert("location", frame=f)
        bpy.ops.import_scene.gltf(filepath=str(ROOT / "demo" / "assets" / "mixamo_adult.glb"))
        tgt = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o != src)
        _use(fake.url)
        s = bpy.context.scene.motionloom
        s.source_type, s.source_armature = "ARMATURE", src
        bpy.context.view_layer.objects.active = tgt
        steps, _job = _start_steps(lambda: tasks.start_retarget(bpy.context, tgt), fake.url)
        t0 = time.perf_counter()
        tasks.read_source(bpy.context, tgt)
        base = time.perf_counter() - t0
        out.append({"task": f"retarget from a {frames}-frame source armature (65 bones, keys every 10 frames)",
                    "longest_step_ms": round(1000 * max(steps), 1), "steps": len(steps),
                    "baseline": "the source read in one step", "baseline_ms": round(1000 * base, 1)})
        files = []
        if CMU_WALK.is_file():
            files.append((CMU_WALK, "a BVH file (CMU 02_01, 343 frames, 31 joints)", "Blender's BVH importer (one step)"))
        if QUATERNIUS_FBX.is_file():
            files.append((QUATERNIUS_FBX, "an FBX file (Quaternius Male_Casual with its mesh, {})",
                          "Blender's FBX importer in this process (one step)"))
            glb = Path(tempfile.mkdtemp(prefix="motionloom-bench-")) / "Male_Casual.glb"
            _fbx_as_glb(QUATERNIUS_FBX, glb)
            files.append((glb, "a glTF file (the same character exported as GLB, {})",
                          "Blender's glTF importer in this process (one step)"))
        for path, what, baseline in files:
            s.source_type, s.source_file = "FILE", str(path)
            steps, job = _start_steps(lambda: tasks.start_retarget(bpy.context, tgt), fake.url)
            fps = bpy.context.scene.render.fps, bpy.context.scene.render.fps_base
            t0 = time.perf_counter()
            rig, motion, _name = importers.import_motion_file(str(path))
            base = time.perf_counter() - t0
            bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = fps  # the FBX importer sets its own
            what = what.format(f"{motion.num_frames} frames, {len(rig.bones)} bones")
            out.append({"task": f"retarget from {what}",
                        "longest_step_ms": round(1000 * max(steps), 1), "steps": len(steps),
                        "ready_ms": round(1000 * job.ready_s), "baseline": baseline,
                        "baseline_ms": round(1000 * base, 1)})
    finally:
        fake.stop()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--partials", type=int, default=10)
    ap.add_argument("--real", choices=["auto", "yes", "no"], default="auto")
    ap.add_argument("--backend-dir", default=str(ROOT), help="checkout whose backend serves the real run")
    args = ap.parse_args(argv)
    res = {"blender": bpy.app.version_string, "machine": f"{os.cpu_count()} CPUs",
           "write": bench_write(rig65(), args.frames, args.repeats),
           "stream": [bench_stream_generate(args.frames, args.partials)]}
    res["job_start"] = bench_job_start()
    backend_dir = Path(args.backend_dir)
    has_server = (backend_dir / "backend" / "cli" / "serve.py").is_file()
    if args.real == "yes" or (args.real == "auto" and has_server):
        res["stream"].append(bench_stream_inbetween(args.frames, backend_dir))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        w = res["write"]
        print(f"Blender {res['blender']}, {res['machine']}")
        print(f"write {w['frames']} frames x {w['bones']} bones ({w['fcurves']} F-curves, {w['keys']} keys): "
              f"bulk {w['bulk_ms_median']} ms (median of {w['repeats']}) vs {w['baseline']} {w['baseline_ms']} ms "
              f"-> {w['speedup']}x; max key difference {w['max_key_difference']:.2e}")
        for st in res["stream"]:
            print(f"{st['task']}: longest pump tick {st['max_tick_ms']} ms (median {st['median_tick_ms']} ms, "
                  f"{st['ticks']} ticks, job {st['job_s']} s) vs blocking main thread {st['blocking_baseline_stall_ms']}"
                  f" ms -> {st['stall_reduction']}x shorter longest freeze; {st['state']}: {st['message']}")
        for st in res["job_start"]:
            ready = f", request sent after {st['ready_ms']} ms" if "ready_ms" in st else ""
            print(f"{st['task']}: longest main-thread step before the job starts {st['longest_step_ms']} ms "
                  f"({st['steps']} steps{ready}) vs {st['baseline']} {st['baseline_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
