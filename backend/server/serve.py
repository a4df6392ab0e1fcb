"""Run the service: bind the socket, print where it listens, serve until SIGINT/SIGTERM.

The first line on stdout is machine-readable, for a parent process (the Blender add-on) that started the server
with ``--port 0`` and needs the port::

    MOTIONLOOM_SERVER http://127.0.0.1:54321

When the server generated its token (non-loopback address, none given), a second line carries it:
``MOTIONLOOM_TOKEN <token>``. On shutdown, unfinished jobs end with an ``error`` event so clients are told.
"""
from __future__ import annotations

import socket
import sys

from .settings import ServerSettings, is_loopback


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise SystemExit(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    h = host.strip("[]")
    return f"http://[{h}]:{port}" if ":" in h else f"http://{h}:{port}"


def serve(settings: ServerSettings, log_level: str = "warning") -> int:
    import uvicorn

    from .app import create_app

    app = create_app(settings)
    manager = app.state.manager
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    url = url_of(settings.host, port)

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if self.started:
                print(f"MOTIONLOOM_SERVER {url}", flush=True)
                if settings.token_generated:
                    print(f"MOTIONLOOM_TOKEN {settings.token}", flush=True)
                if not is_loopback(settings.host):
                    print(f"listening on {settings.host} (not loopback): every request needs "
                          f"'Authorization: Bearer <token>'", file=sys.stderr, flush=True)

        def handle_exit(self, sig, frame):
            manager.shutdown()  # end open event streams with a clear error so uvicorn can close them
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5, lifespan="on",
                            access_log=log_level in ("debug", "info"))
    Server(config).run(sockets=[sock])
    return 0
