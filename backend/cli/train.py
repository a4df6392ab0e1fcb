"""``python -m backend train <task>``: one module per task in ``backend/train/``."""
from ..cli import group_command


def register(subparsers):
    group_command(subparsers, "train", "backend.train", "train a model")
