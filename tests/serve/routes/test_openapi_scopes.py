"""The OpenAPI document states each operation's scopes, and the service enforces exactly those
(serve/api/deps.py, security and require; serve/api/openapi.py)."""

from __future__ import annotations

import pytest
from api_support import CLIENTS

pytestmark = [
    pytest.mark.requirement("C9.9", "C9.10"),
    pytest.mark.catalogue(
        part="API: the scopes in the OpenAPI document",
        scope="integration",
        strategy="example-based",
        tool="pytest, Starlette TestClient",
    ),
]

EXPECTED = {
    ("post", "/v1/predict"): {"predict"},
    ("get", "/v1/predictions/{prediction_id}"): {"predict"},
    ("post", "/v1/feedback"): {"feedback"},
    ("get", "/v1/model"): {"predict", "monitor", "admin"},
    ("post", "/v1/admin/model"): {"admin"},
    ("get", "/v1/monitoring/summary"): {"monitor"},
    ("get", "/v1/monitoring/metrics"): {"monitor"},
}
# Clients whose limits are lowered for other tests are left out: their 429 would hide a 403.
CALLERS = sorted(set(CLIENTS) - {"limited", "quota"})


def protected(spec: dict) -> dict[tuple[str, str], list[dict]]:
    return {
        (method, path): op["security"]
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "security" in op
    }


def scopes_in_spec(requirements: list[dict]) -> set[str]:
    return {scope for req in requirements for scope in req["oauth2"]}


def test_each_protected_operation_requires_oauth2_with_one_alternative_per_accepted_scope(api):
    ops = protected(api.client.get("/openapi.json").json())
    assert set(ops) == set(EXPECTED)  # the auth and health operations need no token
    for key, requirements in ops.items():
        assert all(list(req) == ["oauth2"] and len(req["oauth2"]) == 1 for req in requirements), key
        assert scopes_in_spec(requirements) == EXPECTED[key], key


def test_no_operation_accepts_a_bare_bearer_token(api):
    spec = api.client.get("/openapi.json").json()
    assert "bearer" not in spec["components"]["securitySchemes"]
    for requirements in protected(spec).values():
        assert {"bearer": []} not in requirements and {} not in requirements


@pytest.mark.parametrize("caller", CALLERS)
def test_a_token_is_refused_with_403_exactly_where_the_spec_lists_none_of_its_scopes(api, caller):
    ops = protected(api.client.get("/openapi.json").json())
    for (method, path), requirements in ops.items():
        url = path.replace("{prediction_id}", "0" * 32)
        r = api.client.request(method.upper(), url, headers=api.headers(caller), json={} if method == "post" else None)
        allowed = bool(scopes_in_spec(requirements) & set(CLIENTS[caller]))
        assert (r.status_code == 403) is not allowed, (caller, method, path, r.status_code)
