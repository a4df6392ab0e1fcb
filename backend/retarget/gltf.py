"""glTF / GLB / VRM characters -> :class:`~backend.retarget.rig.Rig` (pure Python via pygltflib, no Blender).

glTF is Y up with the character facing +Z; the project's world (and Blender's) is Z up facing -Y. Blender's glTF
importer maps a glTF point ``(x, y, z)`` to ``(x, -z, y)``; we use the same map, so bone heads land where Blender
puts them (``tests/retarget/test_gltf_blender.py`` checks this against ``bpy.ops.import_scene.gltf``).

Bones:

* a skinned file: the joints of its first skin; a joint's parent is its nearest ancestor node that is also a joint;
* a file without a skin (the VRM humanoid sample): every node without a mesh that is a VRM humanoid bone, an
  ancestor of one, or has no mesh anywhere below it.

Rest frames are the nodes' global rest rotations (after the Y-up -> Z-up change). Blender's importer re-orients bones
so their Y axis points at a child; that changes pose-channel values but not world-space motion, which is what
retargeting works in. Tails (which glTF does not store) are put at the mean of the children's heads, and leaves
continue their parent's direction for half the parent's length.

VRM 1.0 (``VRMC_vrm``) and VRM 0.x (``VRM``) humanoid bone maps are read into :func:`vrm_bone_map`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion.rotations import np_matrix_to_quat, np_quat_to_matrix
from .rig import Rig, RigError

# glTF (Y up, +Z forward) -> Z up, -Y forward: (x, y, z) -> (x, -z, y)
YUP_TO_ZUP = np.array([[1.0, 0, 0, 0], [0, 0, -1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]])

# VRM humanoid bone name -> canonical SMPL joint
VRM_TO_CANONICAL = {
    "hips": "pelvis", "spine": "spine1", "chest": "spine2", "upperChest": "spine3", "neck": "neck", "head": "head",
    "leftUpperLeg": "left_hip", "leftLowerLeg": "left_knee", "leftFoot": "left_ankle", "leftToes": "left_foot",
    "rightUpperLeg": "right_hip", "rightLowerLeg": "right_knee", "rightFoot": "right_ankle",
    "rightToes": "right_foot", "leftShoulder": "left_collar", "leftUpperArm": "left_shoulder",
    "leftLowerArm": "left_elbow", "leftHand": "left_wrist", "rightShoulder": "right_collar",
    "rightUpperArm": "right_shoulder", "rightLowerArm": "right_elbow", "rightHand": "right_wrist",
}


def _load(path):
    import pygltflib
    path = Path(path)
    if not path.is_file():
        raise RigError(f"no such glTF file: {path}")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        g = pygltflib.GLTF2().load_binary(str(path)) if magic == b"glTF" else pygltflib.GLTF2().load(str(path))
    except Exception as e:  # noqa: BLE001 - pygltflib raises many kinds
        raise RigError(f"cannot read {path.name} as glTF: {e}") from None
    if g is None or not g.nodes:
        raise RigError(f"{path.name} has no nodes")
    return g


def _local_matrix(node) -> np.ndarray:
    if node.matrix is not None:
        return np.asarray(node.matrix, np.float64).reshape(4, 4).T  # glTF matrices are column-major
    m = np.eye(4)
    if node.rotation is not None:
        m[:3, :3] = np_quat_to_matrix(np.asarray(node.rotation, np.float64))  # glTF quaternions are XYZW
    if node.scale is not None:
        m[:3, :3] = m[:3, :3] * np.asarray(node.scale, np.float64)[None, :]
    if node.translation is not None:
        m[:3, 3] = node.translation
    return m


def _node_parents(g) -> np.ndarray:
    parent = np.full(len(g.nodes), -1)
    for i, n in enumerate(g.nodes):
        for c in n.children or []:
            if parent[c] >= 0:
                raise RigError(f"node {g.nodes[c].name!r} has two parents")
            parent[c] = i
    return parent


def _global_matrices(g, parent) -> np.ndarray:
    out = [None] * len(g.nodes)

    def get(i, depth=0):
        if out[i] is None:
            if depth > len(g.nodes):
                raise RigError("cyclic node hierarchy")
            loc = _local_matrix(g.nodes[i])
            out[i] = loc if parent[i] < 0 else get(parent[i], depth + 1) @ loc
        return out[i]

    for i in range(len(g.nodes)):
        get(i)
    return YUP_TO_ZUP @ np.stack(out)


def _vrm_humanoid_nodes(g) -> dict[str, int]:
    ext = g.extensions or {}
    if "VRMC_vrm" in ext:
        bones = ext["VRMC_vrm"].get("humanoid", {}).get("humanBones", {})
        return {k: int(v["node"]) for k, v in bones.items() if isinstance(v, dict) and "node" in v}
    if "VRM" in ext:  # VRM 0.x: a list of {"bone": name, "node": index}
        bones = ext["VRM"].get("humanoid", {}).get("humanBones", [])
        return {b["bone"]: int(b["node"]) for b in bones if "bone" in b and "node" in b}
    return {}


def _select_bones(g, parent) -> list[int]:
    if g.skins:
        joints = list(g.skins[0].joints)
        if not joints:
            raise RigError("the file's skin has no joints")
        return joints
    human = set(_vrm_humanoid_nodes(g).values())
    n = len(g.nodes)
    has_mesh_below = np.zeros(n, bool)
    has_human_below = np.zeros(n, bool)
    for i in range(n):  # walk up from each node
        k, own_mesh, own_human = i, g.nodes[i].mesh is not None, i in human
        while k >= 0:
            has_mesh_below[k] |= own_mesh
            has_human_below[k] |= own_human
            k = parent[k]
    keep = [i for i in range(n) if g.nodes[i].mesh is None and (has_human_below[i] or not has_mesh_below[i])]
    if not keep:
        raise RigError("the file has no skin and no mesh-free node hierarchy to use as bones")
    return keep


def rig_from_gltf(path, name: str | None = None, matrix_world=None) -> Rig:
    """Read a .glb/.gltf/.vrm character as a :class:`Rig` (Z up, metres; see module docstring).

    ``matrix_world`` optionally places the character (e.g. a translation that stands it on the floor).
    """
    g = _load(path)
    parent = _node_parents(g)
    glob = _global_matrices(g, parent)
    joints = _select_bones(g, parent)
    jset = {j: k for k, j in enumerate(joints)}
    names = [g.nodes[j].name or f"node{j}" for j in joints]
    parents = []
    for j in joints:
        p = parent[j]
        while p >= 0 and p not in jset:
            p = parent[p]
        parents.append(jset[p] if p >= 0 else -1)
    rest = glob[joints].copy()
    # strip scale from the rest frames (bone.matrix_local has none); heads stay as they are
    for k in range(len(joints)):
        r = rest[k, :3, :3]
        rest[k, :3, :3] = r / np.linalg.norm(r, axis=0, keepdims=True).clip(min=1e-12)
    heads = rest[:, :3, 3]
    tails = np.empty_like(heads)
    kids = [[c for c, p in enumerate(parents) if p == k] for k in range(len(joints))]
    for k in range(len(joints)):
        if kids[k]:
            tails[k] = heads[kids[k]].mean(axis=0)
            if np.linalg.norm(tails[k] - heads[k]) < 1e-6:  # children at the head (CMU hip joints): use own +Y
                tails[k] = heads[k] + rest[k, :3, 1] * 0.05
        elif parents[k] >= 0:
            tails[k] = heads[k] + (heads[k] - heads[parents[k]]) * 0.5
            if np.linalg.norm(tails[k] - heads[k]) < 1e-6:
                tails[k] = heads[k] + rest[k, :3, 1] * 0.05
        else:
            tails[k] = heads[k] + rest[k, :3, 1] * 0.1
    return Rig.from_matrices(names, parents, rest, matrix_world=matrix_world, tails=tails,
                             name=name or Path(path).stem)


def vrm_bone_map(path) -> dict[str, str]:
    """The file's own VRM humanoid map as canonical joint -> node name (empty if the file is not VRM)."""
    g = _load(path)
    out = {}
    for vrm_name, node in _vrm_humanoid_nodes(g).items():
        c = VRM_TO_CANONICAL.get(vrm_name)
        if c is not None and 0 <= node < len(g.nodes):
            out[c] = g.nodes[node].name or f"node{node}"
    return out


# ----------------------------------------------------------------------------------------------------- writing
def write_animation(src_path, out_path, rig: Rig, world_rot: np.ndarray, world_pos: np.ndarray, fps: float,
                    translation_bones=(), name: str = "motionloom") -> Path:
    """Copy the glTF character ``src_path`` to ``out_path`` (.glb or .gltf) with one animation added.

    ``rig`` is :func:`rig_from_gltf` of the same file; ``world_rot`` (T,J,4) XYZW and ``world_pos`` (T,J,3) metres
    are every rig bone's world turn from its rest frame and head position per frame (``Motion`` convention, rig
    order), e.g. :meth:`backend.pipelines.rigs.RigBinding.world`. Every joint node gets a rotation channel (its local
    rotation in glTF's Y-up space, which like ours is XYZW); the nodes of ``translation_bones`` (the hips) also get a
    translation channel, as the first animation (Blender makes it the active action). Meshes, skins, materials and any
    animations already in the file are kept, after it.
    """
    import pygltflib
    out_path = Path(out_path)
    if out_path.suffix.lower() not in (".glb", ".gltf"):
        raise RigError(f"{out_path.name}: a glTF output must end in .glb or .gltf")
    world_rot = np.asarray(world_rot, np.float64)
    world_pos = np.asarray(world_pos, np.float64)
    T, J = world_rot.shape[:2]
    if J != len(rig.names) or world_pos.shape != (T, J, 3) or T < 1:
        raise RigError(f"expected world rotations (T, {len(rig.names)}, 4) and positions (T, {len(rig.names)}, 3)")
    g = _load(src_path)
    parent = _node_parents(g)
    joints = _select_bones(g, parent)
    node_of = [joints[rig.order[k]] for k in range(J)]
    if [g.nodes[n].name or f"node{n}" for n in node_of] != list(rig.names):
        raise RigError(f"the rig does not come from {Path(src_path).name} (bone names differ)")
    glob_zup = _global_matrices(g, parent)
    zup_to_yup = np.linalg.inv(YUP_TO_ZUP)
    # posed armature-space bone matrices: rotation W^-1 G B_w, head W^-1 (P - loc) / scale (rig.py conventions)
    w_inv = np_quat_to_matrix(rig.world_rot).T
    bone_rot = np_quat_to_matrix(rig.rest_rot)  # (J,3,3) world rest frames W B
    posed = np.zeros((T, J, 4, 4))
    posed[..., :3, :3] = np.einsum("ab,tjbc,jcd->tjad", w_inv, np_quat_to_matrix(world_rot), bone_rot)
    posed[..., :3, 3] = np.einsum("ab,tjb->tja", w_inv, world_pos - rig.world_loc) / rig.unit_scale
    posed[..., 3, 3] = 1.0
    # a joint node's posed global matrix (glTF space, with the node's own scale):
    #   M_j(t) = Y^-1  posed_k(t)  rest_k^-1  (Y M0_j)      (at rest: M0_j, the file's own global matrix)
    rest_inv = np.linalg.inv(rig.rest_local)
    animated = {}
    for k, n in enumerate(node_of):
        animated[n] = zup_to_yup @ posed[:, k] @ (rest_inv[k] @ glob_zup[n])
    cache = {}

    def global_of(i):  # (T,4,4) posed global matrix of node i (non-joint nodes follow their parents)
        if i not in cache:
            if i in animated:
                cache[i] = animated[i]
            elif parent[i] < 0:
                cache[i] = np.broadcast_to(_local_matrix(g.nodes[i]), (T, 4, 4))
            else:
                cache[i] = global_of(parent[i]) @ _local_matrix(g.nodes[i])
        return cache[i]

    loc_nodes = {node_of[rig.names.index(b)] for b in translation_bones}
    blob = bytearray(_blob(g, pygltflib))
    times = np.arange(T, dtype=np.float32) / np.float32(fps)
    t_acc = _add_accessor(g, blob, times, pygltflib.SCALAR, pygltflib)
    anim = pygltflib.Animation(name=name, channels=[], samplers=[])
    for n in sorted(set(node_of)):
        p = parent[n]
        local = global_of(n) if p < 0 else np.linalg.inv(global_of(p)) @ global_of(n)
        scale = np.linalg.norm(local[:, :3, :3], axis=1)  # column norms
        q = np_matrix_to_quat(local[:, :3, :3] / scale[:, None, :])
        d = np.sum(q[1:] * q[:-1], -1)  # sign continuity: samplers interpolate components
        q[1:] *= np.cumprod(np.where(d < 0, -1.0, 1.0))[:, None]
        channels = [("rotation", q, pygltflib.VEC4)]
        if n in loc_nodes:
            channels.append(("translation", local[:, :3, 3], pygltflib.VEC3))
        for path, values, kind in channels:
            v_acc = _add_accessor(g, blob, values.astype(np.float32), kind, pygltflib)
            anim.samplers.append(pygltflib.AnimationSampler(input=t_acc, output=v_acc, interpolation="LINEAR"))
            anim.channels.append(pygltflib.AnimationChannel(
                sampler=len(anim.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=n, path=path)))
    g.animations = [anim] + list(g.animations or [])  # first: importers (Blender) make the first one active
    if g.buffers:
        g.buffers[0].byteLength = len(blob)
    else:
        g.buffers = [pygltflib.Buffer(byteLength=len(blob))]
    g.set_binary_blob(bytes(blob))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix.lower() == ".glb":
        g.save_binary(str(out_path))
    else:
        g.convert_buffers(pygltflib.BufferFormat.DATAURI)
        g.save_json(str(out_path))
    return out_path


def _blob(g, pygltflib) -> bytes:
    """The file's buffer 0 as bytes (a .glb's binary chunk, or a .gltf's data URI / external .bin)."""
    blob = g.binary_blob()
    if blob is None and g.buffers:
        g.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)
        blob = g.binary_blob()
    if len(g.buffers) > 1:
        raise RigError("glTF files with more than one buffer are not supported for writing")
    return blob or b""


def _add_accessor(g, blob: bytearray, values: np.ndarray, kind: str, pygltflib) -> int:
    """Append float32 ``values`` to ``blob`` (4-byte aligned) with a buffer view and an accessor; its index."""
    values = np.ascontiguousarray(values, dtype="<f4")
    while len(blob) % 4:
        blob.append(0)
    view = pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=values.nbytes)
    blob.extend(values.tobytes())
    g.bufferViews.append(view)
    flat = values.reshape(len(values), -1)
    acc = pygltflib.Accessor(bufferView=len(g.bufferViews) - 1, componentType=pygltflib.FLOAT, count=len(values),
                             type=kind, min=flat.min(0).tolist(), max=flat.max(0).tolist())
    g.accessors.append(acc)
    return len(g.accessors) - 1
