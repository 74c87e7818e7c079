"""serve/guard.py: security headers, no caching, the CORS allowlist and the body limit (C9.3 API4/API8).

Through the whole app on both transports where the service's own settings apply; in process
only where the body limit is lowered for a test or the app is called as a server would call it
(raw ASGI messages); and on a bare app holding the guard alone (unit).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from api_support import ALLOWED_ORIGIN, problem, sample_records
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve.guard import Guard

pytestmark = [
    pytest.mark.requirement("C9.3"),
    pytest.mark.catalogue(
        part="Guard: security headers, caching, CORS allowlist, body limit",
        scope="integration",
        strategy="example-based, attack",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]
UNIT = pytest.mark.catalogue(scope="unit", tool="pytest, in-process (no Ray)")

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@pytest.mark.parametrize(
    "method,path,auth",
    [
        ("GET", "/v1/model", True),
        ("GET", "/v1/model", False),
        ("GET", "/health/live", False),
        ("GET", "/nope", False),
        ("POST", "/v1/predict", True),
    ],
)
def test_every_answer_carries_the_security_headers(http, method, path, auth):
    kwargs = {"json": {"records": sample_records(1)}} if method == "POST" else {}
    r = http.client.request(method, path, headers=http.headers("clinic") if auth else {}, **kwargs)
    assert {k: r.headers.get(k) for k in SECURITY} == SECURITY, (method, path, r.status_code)


def test_api_answers_are_never_cached_but_health_answers_may_be(http):
    assert http.predict("clinic").headers["cache-control"] == "no-store"
    assert http.client.get("/v1/model", headers=http.headers("clinic")).headers["cache-control"] == "no-store"
    assert http.token("clinic").headers["cache-control"] == "no-store"
    assert "cache-control" not in http.client.get("/health/live").headers


def test_an_allowed_origin_gets_the_cors_header_and_vary(http):
    r = http.client.get("/v1/model", headers=http.headers("clinic", Origin=ALLOWED_ORIGIN))
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN and r.headers["vary"] == "Origin"


def test_a_preflight_from_an_allowed_origin_is_answered_204_with_methods_and_headers(http):
    r = http.client.options("/v1/predict", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    assert "authorization" in r.headers["access-control-allow-headers"]


def test_another_origin_gets_no_cors_header(http):
    r = http.client.get("/v1/model", headers=http.headers("clinic", Origin="https://evil.example"))
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_a_preflight_from_another_origin_is_refused_with_403_problem(http):
    r = http.client.options(
        "/v1/predict", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert problem(r, 403)["type"].endswith("/cors-origin-refused")
    assert "access-control-allow-origin" not in r.headers


def test_a_body_over_the_limit_is_refused_with_413_before_any_route_runs(make_api):
    """In process only: the body limit is lowered for this test."""
    api = make_api(max_body_bytes=1000)
    r = api.client.post("/v1/predict", json={"records": sample_records(20)}, headers=api.headers("clinic"))
    assert problem(r, 413)["type"].endswith("/payload-too-large")
    assert r.headers["x-frame-options"] == "DENY"


def test_a_chunked_body_over_the_limit_is_refused_with_413(make_api):
    """In process only: the body limit is lowered for this test."""
    api = make_api(max_body_bytes=1000)
    payload = json.dumps({"records": sample_records(20)}).encode()

    def chunks():  # no Content-Length: the client sends Transfer-Encoding: chunked
        for i in range(0, len(payload), 300):
            yield payload[i : i + 300]

    r = api.client.post(
        "/v1/predict", content=chunks(), headers=api.headers("clinic", **{"Content-Type": "application/json"})
    )
    assert "content-length" not in r.request.headers
    problem(r, 413)


def _asgi(
    app: Any, method: str, path: str, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]] = ()
) -> tuple[list[dict[str, Any]], int]:
    """Call the app as a server would, with these request messages; return what it sent and how
    many messages it read."""
    sent: list[dict[str, Any]] = []
    queue = list(messages)
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent, reads


def test_many_small_chunks_adding_up_past_the_limit_are_refused_with_413(make_api):
    """In process only: raw ASGI messages."""
    api = make_api(max_body_bytes=1000)
    chunk = {"type": "http.request", "body": b"x" * 100, "more_body": True}
    sent, reads = _asgi(api.app, "POST", "/v1/predict", [chunk] * 50)
    assert sent[0]["status"] == 413
    assert reads == 11  # stopped reading at the first chunk past the limit


def test_a_client_that_disconnects_mid_upload_gets_no_answer(make_api):
    """In process only: raw ASGI messages."""
    api = make_api()
    sent, _ = _asgi(
        api.app,
        "POST",
        "/v1/predict",
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}],
    )
    assert sent == []


def test_a_non_numeric_content_length_is_refused_with_413(make_api):
    """In process only: raw ASGI messages."""
    api = make_api()
    sent, _ = _asgi(
        api.app,
        "POST",
        "/v1/predict",
        [{"type": "http.request", "body": b"{}"}],
        headers=[(b"content-length", b"12abc")],
    )
    assert sent[0]["status"] == 413


def test_a_declared_content_length_over_the_limit_is_refused_without_reading_the_body(make_api):
    """In process only: raw ASGI messages."""
    api = make_api(max_body_bytes=1000)
    sent, reads = _asgi(api.app, "POST", "/v1/predict", [], headers=[(b"content-length", b"5000")])
    assert sent[0]["status"] == 413 and reads == 0


def test_lifespan_events_pass_through_the_guard(make_api):
    """In process only: the ASGI lifespan protocol."""
    api = make_api()
    with api.client as client:  # entering runs the ASGI lifespan protocol through the whole stack
        assert client.get("/health/live").status_code == 200


# -- the guard alone ---------------------------------------------------------------------------


@pytest.fixture
def guarded():
    app = FastAPI()

    @app.post("/v1/echo")
    async def echo(body: dict) -> dict:
        return body

    app.add_middleware(Guard, max_body_bytes=100, cors_origins=["http://ok.test"])
    return TestClient(app)


@UNIT
def test_the_guard_passes_small_bodies_through_and_adds_security_headers(guarded):
    r = guarded.post("/v1/echo", json={"a": 1})
    assert r.json() == {"a": 1}
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


@UNIT
def test_the_guard_refuses_a_body_over_the_limit_with_a_413_problem(guarded):
    r = guarded.post("/v1/echo", json={"a": "x" * 200})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


@UNIT
def test_the_guard_answers_cors_only_for_allowed_origins(guarded):
    assert (
        guarded.post("/v1/echo", json={}, headers={"Origin": "http://ok.test"}).headers["access-control-allow-origin"]
        == "http://ok.test"
    )
    assert (
        "access-control-allow-origin"
        not in guarded.post("/v1/echo", json={}, headers={"Origin": "http://no.test"}).headers
    )


@UNIT
def test_the_guard_hands_further_reads_to_the_server_after_replaying_the_body():
    reads: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reads.append(await receive())
        reads.append(await receive())  # as a streaming response does, listening for a disconnect
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    messages = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"c", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": []}
    asyncio.run(Guard(app, max_body_bytes=10, cors_origins=[])(scope, receive, send))
    assert reads == [{"type": "http.request", "body": b"abc", "more_body": False}, {"type": "http.disconnect"}]
    assert (b"cache-control", b"no-store") in sent[0]["headers"]
