"""MotionLoom backend: canonical motion core, data, models (in-betweening, text-to-motion), retargeting, server.

Never imports bpy. Quaternions are XYZW throughout (see :mod:`backend.motion.rotations`).
"""
__version__ = "0.1.0"
