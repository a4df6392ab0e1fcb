"""``python -m backend eval <task>``: one module per task in ``backend/eval/``."""
from ..cli import group_command


def register(subparsers):
    group_command(subparsers, "eval", "backend.eval", "evaluate on the held-out split")
