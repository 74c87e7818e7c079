"""A client's X-Request-ID is echoed only when it is a short token of safe characters
(serve/guard.py, RequestIdFilter).

The echo is Ray Serve's: its RequestIdMiddleware wraps each replica's HTTP server, outside the
app. These tests build the server's app the way Ray 2.60.0 does (`_apply_middlewares`, with
RequestIdFilter as one of the HTTP options' middlewares) around the real API."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from ray.serve._private.http_util import _apply_middlewares
from starlette.middleware import Middleware

from serve.guard import RequestIdFilter

pytestmark = [
    pytest.mark.requirement("C9.3"),
    pytest.mark.catalogue(
        part="Service: X-Request-ID filter (serve/guard.py, Ray's middleware stack)",
        scope="unit",
        strategy="attack",
        tool="pytest, Starlette, Ray Serve middleware",
    ),
]


def served_as_ray_does(app, middlewares: list[Middleware]) -> TestClient:
    return TestClient(_apply_middlewares(app, middlewares))


def echoed(client: TestClient, request_id: str) -> list[str]:
    r = client.get("/health/live", headers={"X-Request-ID": request_id.encode("utf-8")})
    assert r.status_code == 200
    return [v.decode("utf-8") for k, v in r.headers.raw if k.lower() == b"x-request-id"]


@pytest.fixture
def filtered(api):
    return served_as_ray_does(api.app, [Middleware(RequestIdFilter)])


def test_ray_serve_alone_echoes_a_client_request_id_unchanged(api):
    # Why the filter exists, and a pin on Ray's behaviour: if this changes, so may the fix.
    assert echoed(served_as_ray_does(api.app, []), "<script>alert(1)</script>") == ["<script>alert(1)</script>"]


@pytest.mark.parametrize(
    "request_id", ["<script>alert(1)</script>", "a" * 65, "id with spaces", 'ok"quote', "é-accent", "a;b"]
)
def test_an_unsafe_request_id_is_replaced_by_one_the_server_makes(filtered, request_id):
    [answer] = echoed(filtered, request_id)
    assert answer != request_id
    uuid.UUID(answer)  # Ray's own: a random UUID


@pytest.mark.parametrize(
    "request_id", ["abc-123", "0f1e2d3c.4b5a_69", "a" * 64, "2b87c4ac-4c66-4b19-89e0-dfd147f88419"]
)
def test_a_safe_request_id_is_kept_for_tracing(filtered, request_id):
    assert echoed(filtered, request_id) == [request_id]


def test_a_request_without_an_id_gets_one_from_the_server(filtered):
    r = filtered.get("/health/live")
    uuid.UUID(r.headers["x-request-id"])
