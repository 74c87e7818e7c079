"""Limits, faults and the guard in-process (C9.3, C9.6): OWASP API4/API6/API7/API8 answers.

Security headers, CORS allowlist, body limit (declared and chunked), request rate and row
quota (429 + Retry-After), a slow or unreachable model (503 + Retry-After, never a hang),
unknown routes and methods, and a server error that still shows no internals.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.api.builders import sample_records
from tests.serve.api.inproc_support import ALLOWED_ORIGIN, GoneModel, SlowModel, problem

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.6"),
    pytest.mark.catalogue(
        part="API in-process: security headers, CORS, body limit, rate and quota, slow or unreachable model",
        scope="integration", strategy="example-based, attack, fault injection",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]

SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
            "content-security-policy": "default-src 'none'; frame-ancestors 'none'"}


def test_every_answer_carries_the_security_headers(api):
    for r in (api.client.get("/health/live"), api.predict("clinic"), api.client.get("/nowhere")):
        assert {k: r.headers.get(k) for k in SECURITY} == SECURITY, r.request.url


def test_api_answers_are_never_cached_but_health_answers_may_be(api):
    assert api.predict("clinic").headers["cache-control"] == "no-store"
    assert "cache-control" not in api.client.get("/health/live").headers


def test_an_allowed_origin_gets_the_cors_header_and_vary(api):
    r = api.client.get("/v1/model", headers=api.headers("clinic", Origin=ALLOWED_ORIGIN))
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN and r.headers["vary"] == "Origin"


def test_another_origin_gets_no_cors_header(api):
    r = api.client.get("/v1/model", headers=api.headers("clinic", Origin="http://evil.test"))
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_a_preflight_from_an_allowed_origin_is_answered_204_with_methods_and_headers(api):
    r = api.client.options("/v1/predict", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    assert "authorization" in r.headers["access-control-allow-headers"]


def test_a_preflight_from_another_origin_is_refused_with_403_problem(api):
    r = api.client.options("/v1/predict", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert problem(r, 403)["type"].endswith("/cors-origin-refused")
    assert "access-control-allow-origin" not in r.headers


def test_a_body_over_the_limit_is_refused_with_413_before_any_route_runs(make_api):
    api = make_api(max_body_bytes=1000)
    r = api.client.post("/v1/predict", json={"records": sample_records(20)}, headers=api.headers("clinic"))
    assert problem(r, 413)["type"].endswith("/payload-too-large")
    assert r.headers["x-frame-options"] == "DENY"


def test_a_chunked_body_over_the_limit_is_refused_with_413(make_api):
    api = make_api(max_body_bytes=1000)
    payload = json.dumps({"records": sample_records(20)}).encode()

    def chunks():  # no Content-Length: the client sends Transfer-Encoding: chunked
        for i in range(0, len(payload), 300):
            yield payload[i:i + 300]

    r = api.client.post("/v1/predict", content=chunks(), headers=api.headers("clinic", **{
        "Content-Type": "application/json"}))
    assert "content-length" not in r.request.headers
    problem(r, 413)


def _asgi(app: Any, method: str, path: str, messages: list[dict[str, Any]],
          headers: list[tuple[bytes, bytes]] = ()) -> tuple[list[dict[str, Any]], int]:
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

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": list(headers), "client": ("127.0.0.1", 1), "server": ("test", 80)}
    asyncio.run(app(scope, receive, send))
    return sent, reads


def test_many_small_chunks_adding_up_past_the_limit_are_refused_with_413(make_api):
    api = make_api(max_body_bytes=1000)
    chunk = {"type": "http.request", "body": b"x" * 100, "more_body": True}
    sent, reads = _asgi(api.app, "POST", "/v1/predict", [chunk] * 50)
    assert sent[0]["status"] == 413
    assert reads == 11  # stopped reading at the first chunk past the limit


def test_a_client_that_disconnects_mid_upload_gets_no_answer(make_api):
    api = make_api()
    sent, _ = _asgi(api.app, "POST", "/v1/predict",
                    [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}])
    assert sent == []


def test_a_non_numeric_content_length_is_refused_with_413(make_api):
    api = make_api()
    sent, _ = _asgi(api.app, "POST", "/v1/predict", [{"type": "http.request", "body": b"{}"}],
                    headers=[(b"content-length", b"12abc")])
    assert sent[0]["status"] == 413


def test_a_declared_content_length_over_the_limit_is_refused_without_reading_the_body(make_api):
    api = make_api(max_body_bytes=1000)
    sent, reads = _asgi(api.app, "POST", "/v1/predict", [], headers=[(b"content-length", b"5000")])
    assert sent[0]["status"] == 413 and reads == 0


def test_lifespan_events_pass_through_the_guard(make_api):
    api = make_api()
    with api.client as client:  # entering runs the ASGI lifespan protocol through the whole stack
        assert client.get("/health/live").status_code == 200


def test_a_client_over_its_request_rate_gets_429_with_retry_after(api):
    for _ in range(3):
        assert api.client.get("/v1/model", headers=api.headers("limited")).status_code == 200
    r = api.client.get("/v1/model", headers=api.headers("limited"))
    body = problem(r, 429)
    assert body["type"].endswith("/rate-limited") and int(r.headers["retry-after"]) >= 1
    assert api.client.get("/v1/model", headers=api.headers("clinic")).status_code == 200  # others unaffected


def test_a_client_over_its_row_quota_gets_429_quota_exceeded(api):
    assert api.predict("quota", n=4).status_code == 200
    r = api.predict("quota", n=2)
    assert problem(r, 429)["type"].endswith("/quota-exceeded") and int(r.headers["retry-after"]) >= 1


def test_a_batch_bigger_than_the_whole_row_quota_says_to_wait_a_full_window(api):
    r = api.predict("quota", n=6)
    problem(r, 429)
    assert r.headers["retry-after"] == "3600"


def test_a_model_slower_than_the_timeout_gives_503_with_retry_after_not_a_hang(make_api):
    api = make_api(backend=SlowModel(), predict_timeout_s=0.1)
    start = time.monotonic()
    r = api.predict("clinic")
    assert time.monotonic() - start < 5
    assert problem(r, 503)["type"].endswith("/model-unavailable") and r.headers["retry-after"] == "1"


def test_an_unreachable_model_gives_503_with_retry_after(make_api):
    api = make_api(backend=GoneModel())
    r = api.predict("clinic")
    assert problem(r, 503)["type"].endswith("/model-unavailable") and r.headers["retry-after"] == "1"


def test_the_model_card_of_an_unreachable_model_gives_503(make_api):
    api = make_api(backend=GoneModel())
    problem(api.client.get("/v1/model", headers=api.headers("clinic")), 503)


def test_the_model_card_of_a_slow_model_gives_503(make_api):
    api = make_api(backend=SlowModel(), predict_timeout_s=0.1)
    problem(api.client.get("/v1/model", headers=api.headers("clinic")), 503)


def test_an_unknown_route_gets_a_404_problem(api):
    body = problem(api.client.get("/v1/nothing-here"), 404)
    assert body["type"].endswith("/not-found") and "/openapi.json" in body["detail"]


def test_a_wrong_method_gets_a_405_problem_with_allow(api):
    r = api.client.get("/v1/predict", headers=api.headers("clinic"))
    assert problem(r, 405)["type"].endswith("/method-not-allowed")
    assert r.headers["allow"] == "POST"


def test_a_server_error_is_a_500_problem_with_no_internals_and_the_security_headers(make_api):
    # A real failure: the store's database connections are gone (closed), so reading fails.
    api = make_api(raise_server_exceptions=False)
    api.store.close()
    r = api.client.get("/v1/predictions/" + "a" * 32, headers=api.headers("clinic"))
    body = problem(r, 500)
    assert body["type"].endswith("/internal-error") and "sqlite" not in r.text.lower()
    assert r.headers["x-content-type-options"] == "nosniff"
