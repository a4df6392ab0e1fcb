"""Server settings: one dataclass, filled from ``python -m backend serve`` flags (or a test)."""
from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field

TOKEN_ENV = "MOTIONLOOM_TOKEN"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None  # bearer token; required (generated if absent) when not bound to loopback
    max_queue: int = 64  # queued jobs beyond this get 503
    job_timeout_s: float = 600.0
    keep_results_s: float = 900.0  # finished jobs (events and result) stay readable this long
    max_retained_jobs: int = 500  # and at most this many finished jobs are kept
    max_retained_bytes: int = 1 << 30  # and at most this much event data (oldest finished jobs go first)
    max_body_bytes: int = 64 * 1024 * 1024
    keepalive_s: float = 10.0  # SSE comment line when nothing else was sent for this long
    cors_origins: list[str] = field(default_factory=list)  # none by default: browsers get no CORS headers
    torch_threads: int = 2
    device: str | None = None  # None: cuda if available, else cpu
    token_generated: bool = False  # set by resolve_token: the token was made here and must be printed

    def resolve_token(self) -> str | None:
        """Token from the flag, else ``$MOTIONLOOM_TOKEN``; on a non-loopback address one is generated if both are
        empty. Returns the token in force (None = no auth, loopback only)."""
        if not self.token:
            self.token = os.environ.get(TOKEN_ENV) or None
        if not self.token and not is_loopback(self.host):
            self.token = secrets.token_urlsafe(24)
            self.token_generated = True
        return self.token
