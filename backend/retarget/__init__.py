"""Retargeting: rigs, bone maps, rest alignment, transfer, contact cleanup, control rigs.

Entry points (see :mod:`backend.retarget.api`): ``from_canonical(rig, motion)`` -> the rig's pose channels,
``to_canonical(rig, pose)`` -> a canonical motion, ``retarget(src_rig, pose, dst_rig)``. Modules:

* ``rig``: Blender-style rigs (oriented bones) <-> world-aligned skeletons; ``rig_files``/``gltf``: loaders;
* ``bonemap``: automatic canonical <-> bone maps from names and chain topology, with confidences;
* ``transfer``: world-space rest-offset rotation transfer, hips scaled by leg length;
* ``ik`` and ``cleanup``: analytic two-bone IK, planted feet, floor, hand targets;
* ``control_rigs``: write onto Rigify's FK controls; ``naive``: the Copy Rotation baseline.

Quaternions are XYZW throughout; Blender's WXYZ appears only where the add-on writes ``rotation_quaternion``.
"""
