"""Token, host and body-size rules over a real socket."""
from __future__ import annotations

import http.client
import json

import pytest
from srv_live import start_server


def _get(port, path, headers=None, host="127.0.0.1"):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, json.loads(body) if body else None, r


@pytest.fixture(scope="module")
def public_server():
    s = start_server("--host", "0.0.0.0", "--token", "s3cret-token", "--max-body-mb", "0.01")
    yield s
    s.stop()


def test_non_loopback_needs_the_token(public_server):
    port = public_server.port
    for path in ("/health", "/v1/models", "/openapi.json", "/v1/jobs/x/events"):
        status, body, r = _get(port, path)
        assert status == 401, path
        assert "token" in body["error"] and r.getheader("www-authenticate").startswith("Bearer")
    status, body, _ = _get(port, "/health", {"Authorization": "Bearer wrong"})
    assert status == 401
    status, body, _ = _get(port, "/health", {"Authorization": "Basic s3cret-token"})
    assert status == 401
    status, body, _ = _get(port, "/health", {"Authorization": "Bearer s3cret-token"})
    assert status == 200 and body["status"] == "ok"
    c = public_server.client(token="s3cret-token")
    job = c.submit({"task": "echo", "steps": 2})
    assert list(c.events(job))[-1]["type"] == "result"
    assert public_server.client().request("POST", "/v1/jobs", {"task": "echo"})[0] == 401


def test_body_over_the_limit_is_413(public_server):
    c = public_server.client(token="s3cret-token")
    status, body = c.request("POST", "/v1/jobs", {"task": "echo", "payload": "x" * 20_000})
    assert status == 413 and "over the limit" in body["error"]
    # a chunked body (no Content-Length) is cut off at the limit too
    conn = http.client.HTTPConnection("127.0.0.1", public_server.port, timeout=30)
    chunks = (b'{"task": "echo", "payload": "' + b"y" * 4000 for _ in range(5))
    conn.request("POST", "/v1/jobs", body=chunks, encode_chunked=True,
                 headers={"Authorization": "Bearer s3cret-token", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
    assert c.health()["status"] == "ok"


def test_a_token_is_generated_and_printed_when_none_is_given():
    s = start_server("--host", "0.0.0.0")
    try:
        assert s.token and len(s.token) >= 20
        assert _get(s.port, "/health")[0] == 401
        assert _get(s.port, "/health", {"Authorization": f"Bearer {s.token}"})[0] == 200
    finally:
        s.stop()


def test_token_from_the_environment():
    s = start_server("--host", "0.0.0.0", env={"MOTIONLOOM_TOKEN": "from-env"})
    try:
        assert s.token is None  # not printed: the caller already knows it
        assert _get(s.port, "/health")[0] == 401
        assert _get(s.port, "/health", {"Authorization": "Bearer from-env"})[0] == 200
    finally:
        s.stop()


def test_loopback_serves_without_token_but_refuses_foreign_host_headers(server):
    assert _get(server.port, "/health")[0] == 200
    status, body, _ = _get(server.port, "/health", {"Host": "attacker.example:80"})
    assert status == 421 and "127.0.0.1" in body["error"]
    assert _get(server.port, "/health", {"Host": f"localhost:{server.port}"})[0] == 200


def test_no_cors_headers_for_browsers_by_default(server):
    status, _, r = _get(server.port, "/health", {"Origin": "https://evil.example"})
    assert status == 200 and r.getheader("access-control-allow-origin") is None
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("OPTIONS", "/v1/jobs", headers={"Origin": "https://evil.example",
                                                 "Access-Control-Request-Method": "POST"})
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.getheader("access-control-allow-origin") is None and r.status >= 400
    assert r.getheader("allow") == "POST, OPTIONS"  # a plain OPTIONS gets 204 with it (tests/server/test_contract.py)
