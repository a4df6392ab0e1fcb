"""Canonical motion core: skeletons, motions, rotations, forward kinematics, contacts, file formats.

Pure numpy/torch; imports nothing else of the project.
"""
from .motion import Motion, MotionError
from .skeleton import CANONICAL, CANONICAL_FPS, CANONICAL_JOINTS, Skeleton, SkeletonError

__all__ = ["CANONICAL", "CANONICAL_FPS", "CANONICAL_JOINTS", "Motion", "MotionError", "Skeleton", "SkeletonError"]
