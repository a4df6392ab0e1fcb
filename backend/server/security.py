"""The guard in front of every request: host check, bearer token, body size limit.

A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which would buffer the SSE streams):

* **Host**: bound to loopback, only ``Host: 127.0.0.1 / localhost / [::1]`` is served, so a web page cannot reach
  the service through DNS rebinding.
* **Token**: when a token is set (always, off loopback) every request needs ``Authorization: Bearer <token>``;
  otherwise 401. Compared in constant time.
* **Body size**: a declared ``Content-Length`` over the limit is refused before reading; a chunked body is read up
  to the limit and refused past it (413), so nothing large is parsed.
"""
from __future__ import annotations

import hmac
import json

from .settings import LOOPBACK_NAMES


def _json(status: int, error: str, extra_headers=()) -> tuple[dict, dict]:
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += list(extra_headers)
    return {"type": "http.response.start", "status": status, "headers": headers}, \
        {"type": "http.response.body", "body": body}


class Guard:
    def __init__(self, app, *, token: str | None, loopback_only_hosts: bool, max_body_bytes: int):
        self.app = app
        self.token = token.encode() if token else None
        self.loopback_only_hosts = loopback_only_hosts
        self.max_body = max_body_bytes

    async def _refuse(self, send, status: int, error: str, extra_headers=()):
        start, body = _json(status, error, extra_headers)
        await send(start)
        await send(body)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.loopback_only_hosts:
            host = headers.get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in LOOPBACK_NAMES:
                return await self._refuse(send, 421, f"this MotionLoom backend only answers requests addressed to "
                                                     f"127.0.0.1 or localhost, not {host!r}")
        if self.token is not None:
            auth = headers.get(b"authorization", b"")
            scheme, _, given = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                return await self._refuse(send, 401, "missing or wrong token: send 'Authorization: Bearer <token>' "
                                                     "with the token the server printed or was started with",
                                          [(b"www-authenticate", b'Bearer realm="motionloom"')])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await self._refuse(send, 400, "the Content-Length header is not a number")
            if n > self.max_body:
                return await self._refuse(send, 413, f"request body of {n} bytes is over the limit of "
                                                     f"{self.max_body} bytes")
            return await self.app(scope, receive, send)
        if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return await self.app(scope, receive, send)
        # no declared length (chunked): read up to the limit, then replay to the app
        chunks, total = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                return await self._refuse(send, 413, f"request body is over the limit of {self.max_body} bytes")
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)
