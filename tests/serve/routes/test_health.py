"""GET /health/live and /health/ready (C9.2, C9.5): no auth, no internals.

On both transports; the answers before the service is built, or with the model gone, run in
process only (the app is built without a service, or with the backend replaced).
"""

from __future__ import annotations

import pytest
from api_support import GoneModel, problem

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: GET /health/live, /health/ready",
        scope="integration",
        strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


def test_live_answers_ok_without_a_token(http):
    r = http.client.get("/health/live")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_answers_ready_once_the_model_is_loaded(http):
    r = http.client.get("/health/ready")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_health_answers_reveal_no_version_or_internal_detail(http):
    for path in ("/health/live", "/health/ready"):
        body = http.client.get(path).text
        assert "v000" not in body and "ray" not in body.lower() and "/" not in body


def test_health_ignores_an_invalid_token(http):
    assert http.client.get("/health/live", headers={"Authorization": "Bearer nonsense"}).status_code == 200


def test_posting_to_a_health_endpoint_is_a_405_problem(http):
    problem(http.client.post("/health/live"), 405)


def test_ready_answers_503_with_retry_after_before_the_service_is_built(make_api):
    """In process only: the app is built without its service, as while the replica starts."""
    r = make_api(service=False).client.get("/health/ready")
    assert problem(r, 503)["type"].endswith("/not-ready") and r.headers["retry-after"] == "2"


def test_live_answers_ok_before_the_service_is_built(make_api):
    """In process only: the app is built without its service."""
    assert make_api(service=False).client.get("/health/live").status_code == 200


def test_ready_answers_503_when_the_model_is_unreachable(make_api):
    """In process only: the model backend is replaced by one that is gone."""
    api = make_api(backend=GoneModel())
    assert problem(api.client.get("/health/ready"), 503)["type"].endswith("/not-ready")
