"""Unmapped bones are filled as Blender fills them: checked against Blender 5.0 (bpy) F-curves."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from backend.models.inbetween.bezier import bezier_quaternions, evaluate

CASES = [
    ([1, 5, 9, 20], [0.0, 1.0, 0.5, 0.6]),  # extremum, then a monotonic run
    ([0, 2, 3, 30, 31], [0.2, -0.4, -0.35, 0.9, 0.1]),  # uneven spacing (the 5x length clamp)
    ([10, 40], [1.0, -1.0]),  # two keys
    ([0, 4, 8, 12, 16], [0.0, 0.3, 0.9, 1.0, 1.0]),  # clamping against a neighbour's value
    ([3, 7, 8, 9, 15, 60], [0.5, 0.1, 0.9, -0.2, 0.4, 0.45]),
    ([0, 7, 18, 30], [0.04205731, 0.51215828, 0.10880279, -0.14217306]),  # once made a clamp loop spin forever
]
_rng = np.random.default_rng(5)
for _ in range(4):  # random spacing and values, including long monotonic runs
    _x = np.cumsum(_rng.integers(1, 16, 14)).tolist()
    _y = np.round(np.cumsum(_rng.normal(0.1, 0.5, 14)), 4).tolist()
    CASES.append((_x, _y))

SCRIPT = textwrap.dedent("""
    import json, sys, bpy
    cases = json.loads(sys.argv[1])
    out = []
    for xs, ys in cases:
        ob = bpy.data.objects.new("o", None)
        bpy.context.scene.collection.objects.link(ob)
        for x, y in zip(xs, ys):
            ob.location[0] = y
            ob.keyframe_insert("location", index=0, frame=x)
        fc = next(f for f in ob.animation_data.action.layers[0].strips[0].channelbag(
            ob.animation_data.action_slot).fcurves if f.data_path == "location")
        fc.update()
        out.append({"handles": [[list(k.handle_left), list(k.handle_right), k.handle_left_type,
                                 k.interpolation] for k in fc.keyframe_points],
                    "values": [fc.evaluate(f) for f in range(xs[0] - 3, xs[-1] + 4)]})
    print("RESULT" + json.dumps(out))
""")


@pytest.fixture(scope="module")
def blender(tmp_path_factory):
    pytest.importorskip("bpy")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path_factory.mktemp("bl_user")))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT")), None)
    assert line, proc.stderr[-2000:]
    return json.loads(line[len("RESULT"):])


@pytest.mark.parametrize("i", range(len(CASES)))
def test_matches_blender_fcurves(blender, i):
    xs, ys = CASES[i]
    got = blender[i]
    assert all(h[2] == "AUTO_CLAMPED" and h[3] == "BEZIER" for h in got["handles"])
    frames = np.arange(xs[0] - 3, xs[-1] + 4)
    ours = evaluate(np.array(xs, float), np.array(ys, float), frames)
    assert np.abs(ours - np.array(got["values"])).max() < 2e-5


def test_quaternions_normalised_and_keys_exact():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(4, 3, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    frames = np.array([0, 6, 10, 25])
    out = bezier_quaternions(frames, q, np.ones((4, 3), bool), np.arange(26))
    assert np.allclose(np.linalg.norm(out, axis=-1), 1.0)
    assert np.abs(out[frames] - q).max() < 1e-12


def test_random_curves_settle_and_pass_through_their_keys():
    rng = np.random.default_rng(11)
    for _ in range(300):
        K = int(rng.integers(2, 12))
        x = np.cumsum(rng.integers(1, 20, K)).astype(float)
        y = rng.normal(size=K)
        out = evaluate(x, y, x)
        assert np.array_equal(out, y)
        dense = evaluate(x, y, np.arange(x[0], x[-1] + 1))
        assert np.isfinite(dense).all()
        assert dense.min() >= y.min() - 1e-9 and dense.max() <= y.max() + 1e-9  # auto-clamped: no overshoot
