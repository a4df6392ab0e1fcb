"""The one command line: ``python -m backend <command> ...``.

Each top-level command is a module in this package exposing ``register(subparsers)``; it adds its parser and sets
``func`` to a callable taking the parsed args and returning an exit code. Modules import heavy dependencies (torch,
uvicorn, ...) inside their functions so ``--help`` stays fast. Grouped commands (``train``, ``eval``, ``bench``)
discover their tasks the same way in ``backend/train``, ``backend/eval`` and ``backend/bench``.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def discover(package: str, subparsers) -> None:
    """Import every module of ``package`` that has ``register`` and let it add its parser."""
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        src = Path(pkg.__path__[0]) / f"{info.name}.py"
        if src.exists() and "def register(" not in src.read_text():
            continue  # helper modules (e.g. backend/train/common.py) are not commands; skip importing them
        mod = importlib.import_module(f"{package}.{info.name}")
        if hasattr(mod, "register"):
            mod.register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    from backend import __version__
    parser = argparse.ArgumentParser(prog="python -m backend", description="MotionLoom backend: data, models, server.")
    parser.add_argument("--version", action="version", version=f"motionloom-backend {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    discover("backend.cli", sub)
    return parser


def group_command(subparsers, name: str, package: str, help: str):
    """A command whose subcommands are the modules of ``package`` (e.g. ``eval inbetween``)."""
    p = subparsers.add_parser(name, help=help, description=help)
    sub = p.add_subparsers(dest=f"{name}_task", metavar="<task>")
    sub.required = True
    discover(package, sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
