"""Root trajectories from curve and Grease Pencil objects, resampled by arc length."""
from __future__ import annotations

import bpy
import numpy as np

from .channels import SceneError


# ----------------------------------------------------------------------------------------- trajectories
def _ordered_polyline(verts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Vertices of the first connected chain of an edge list, in order along the chain."""
    if len(edges) == 0:
        return verts
    adj: dict = {}
    for a, b in edges:
        adj.setdefault(int(a), []).append(int(b))
        adj.setdefault(int(b), []).append(int(a))
    ends = [v for v, nb in adj.items() if len(nb) == 1]
    start = min(ends) if ends else int(edges[0][0])
    order, prev, cur = [start], None, start
    while True:
        nxt = [v for v in adj[cur] if v != prev and v not in order[-2:]]
        if not nxt or nxt[0] == start:
            if nxt and nxt[0] == start:
                order.append(start)  # closed loop
            break
        prev, cur = cur, nxt[0]
        order.append(cur)
        if len(order) > len(verts) + 1:
            break
    return verts[order]


def _mesh_polyline(ev) -> np.ndarray:
    me = ev.to_mesh()
    try:
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        ed = np.empty(len(me.edges) * 2, np.int32)
        me.edges.foreach_get("vertices", ed)
    finally:
        ev.to_mesh_clear()
    return _ordered_polyline(co.reshape(-1, 3).astype(np.float64), ed.reshape(-1, 2))


def _curve_centerline(obj, ev) -> np.ndarray:
    """The evaluated centre line of a curve object (object space), in order along the first spline.

    A curve with thickness (bevel, extrude, taper) evaluates to a tube mesh, so its line is taken from a temporary
    copy without thickness, evaluated the same way and removed again (the scene ends as it was)."""
    cu = obj.data
    thick = cu.bevel_depth > 0 or cu.extrude > 0 or cu.bevel_mode == "OBJECT" and cu.bevel_object is not None
    if not thick:
        return _mesh_polyline(ev)
    tmp_cu = cu.copy()
    tmp_cu.bevel_depth, tmp_cu.extrude, tmp_cu.bevel_mode = 0.0, 0.0, "ROUND"
    tmp = bpy.data.objects.new("MotionLoom trajectory (temporary)", tmp_cu)
    try:
        bpy.context.scene.collection.objects.link(tmp)
        pts = _mesh_polyline(tmp.evaluated_get(bpy.context.evaluated_depsgraph_get()))
    finally:
        bpy.data.objects.remove(tmp)
        bpy.data.curves.remove(tmp_cu)
    return pts


def trajectory_points(obj) -> np.ndarray:
    """World-space points along a curve object (evaluated, so resolution and modifiers count) or along the first
    stroke of a Grease Pencil object's active layer at the current frame."""
    if obj.type not in ("CURVE", "GREASEPENCIL", "GPENCIL"):
        raise SceneError(f"'{obj.name}' is a {obj.type.lower()}: pick a curve or a Grease Pencil object as the "
                         "trajectory")
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mw = np.array(ev.matrix_world, np.float64)
    if obj.type == "CURVE":
        pts = _curve_centerline(obj, ev)
    elif obj.type == "GPENCIL":  # legacy Grease Pencil (Blender 4.2)
        layer = obj.data.layers.active or (obj.data.layers[0] if len(obj.data.layers) else None)
        frame = layer.active_frame if layer is not None else None
        if frame is None or len(frame.strokes) == 0:
            raise SceneError(f"the Grease Pencil object '{obj.name}' has no strokes on the current frame")
        pts = np.array([tuple(p.co) for p in frame.strokes[0].points], np.float64).reshape(-1, 3)
    elif obj.type == "GREASEPENCIL":
        layer = obj.data.layers.active or (obj.data.layers[0] if len(obj.data.layers) else None)
        frame = layer.current_frame() if layer is not None else None
        if frame is None or frame.drawing is None:
            raise SceneError(f"the Grease Pencil object '{obj.name}' has no drawing on the current frame")
        dr = frame.drawing
        pos = dr.attributes.get("position")
        if pos is None or len(pos.data) == 0:
            raise SceneError(f"the Grease Pencil object '{obj.name}' has no strokes")
        P = np.empty(len(pos.data) * 3, np.float32)
        pos.data.foreach_get("vector", P)
        offs = np.empty(len(dr.curve_offsets), np.int32)
        dr.curve_offsets.foreach_get("value", offs)
        pts = P.reshape(-1, 3)[offs[0]:offs[1]].astype(np.float64)
        mw = mw @ np.array(layer.matrix_local, np.float64)
    if len(pts) < 2:
        raise SceneError(f"the trajectory '{obj.name}' has fewer than two points")
    return pts @ mw[:3, :3].T + mw[:3, 3]


def resample_by_arc_length(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a polyline."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 1e-6:
        raise SceneError("the trajectory has zero length")
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, k]) for k in range(3)], axis=1)


def sample_trajectory(obj, frames: int) -> np.ndarray:
    """(frames, 3) root path in metres, sampled by arc length over the duration and projected to the ground."""
    pts = resample_by_arc_length(trajectory_points(obj), frames)
    unit = bpy.context.scene.unit_settings.scale_length or 1.0
    pts = pts * unit
    pts[:, 2] = 0.0
    return pts.astype(np.float32)
