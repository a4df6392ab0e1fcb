"""``python -m backend bench <task>``: one module per task in ``backend/bench/``."""
from ..cli import group_command


def register(subparsers):
    group_command(subparsers, "bench", "backend.bench", "benchmarks against a baseline measured in the same run")
