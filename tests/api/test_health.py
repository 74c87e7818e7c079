"""GET /health/live and /health/ready: no auth, no internals (C9.2, C9.5)."""
import pytest

from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: GET /health/live, /health/ready",
        scope="system", strategy="example-based", tool="pytest + httpx, live Ray Serve",
    ),
]


def test_liveness_answers_without_a_token(api):
    r = api.get("/health/live")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readiness_answers_ready_once_the_model_is_loaded(api):
    r = api.get("/health/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


def test_health_answers_reveal_no_version_or_internal_detail(api):
    for path in ("/health/live", "/health/ready"):
        body = api.get(path).text
        assert "v000" not in body and "ray" not in body.lower() and "/" not in body


def test_health_ignores_an_invalid_token(api):
    r = api.get("/health/live", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 200


def test_posting_to_a_health_endpoint_is_a_405_problem(api):
    problem_of(api.post("/health/live"), 405)
