"""Every route has one spelling: no slash redirect built from the Host header (C9.3 API8)."""

from __future__ import annotations

import pytest
from api_support import problem

pytestmark = [
    pytest.mark.requirement("C9.3"),
    pytest.mark.catalogue(
        part="API: route spellings and redirects",
        scope="integration",
        strategy="attack",
        tool="pytest, Starlette TestClient",
    ),
]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/model/"), ("POST", "/v1/predict/"), ("GET", "/health/live/"), ("POST", "/v1/auth/token/")],
)
def test_a_trailing_slash_is_a_404_problem_not_a_redirect_to_the_host_header(api, method, path):
    r = api.client.request(
        method,
        path,
        headers={**api.headers("clinic"), "Host": "evil.example", "X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert "location" not in r.headers
    problem(r, 404)
