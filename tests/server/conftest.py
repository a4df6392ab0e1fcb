"""Fixtures for the server tests. The session server (``server``) is shared by tests that only need a
well-behaved service; tests that change settings (token, queue size, timeouts) or kill the server start their own
with :func:`srv_live.start_server`."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the srv_* helper modules

from srv_live import start_server

from backend.server.client import Client


@pytest.fixture(scope="session")
def server():
    s = start_server("--max-queue", "300", "--job-timeout", "120")
    yield s
    s.stop()


@pytest.fixture()
def client(server) -> Client:
    return server.client()
