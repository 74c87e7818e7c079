"""GET /openapi.json (C9.3 API9, C9.8, C9.10): OpenAPI 3.1, equal to the committed snapshot.

The served document is checked on both transports; the routes served against the documented
ones, a lowered batch cap and the document's caching run in process only.
"""

from __future__ import annotations

import json

import pytest
from api_support import ROOT, problem

from serve.settings import Settings
from serve.spec import openapi_document, render

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.8", "C9.10"),
    pytest.mark.catalogue(
        part="API: GET /openapi.json and the committed docs/api/openapi.json",
        scope="integration",
        strategy="example-based, snapshot",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]

SNAPSHOT = ROOT / "docs" / "api" / "openapi.json"
REMEDY = "run `make openapi` and commit docs/api/openapi.json"


def test_the_openapi_document_is_3_1_with_the_oauth2_scheme_only(http):
    r = http.client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"] == "3.1.0" and spec["info"]["version"] == "1.0.0"
    schemes = spec["components"]["securitySchemes"]
    assert list(schemes) == ["oauth2"]
    assert set(schemes["oauth2"]["flows"]) == {"clientCredentials", "password"}


def test_the_served_document_equals_the_committed_snapshot(http):
    assert render(http.client.get("/openapi.json").json()) == SNAPSHOT.read_text(encoding="utf-8"), REMEDY


def test_the_snapshot_is_what_the_project_config_generates():
    spec = openapi_document(Settings.from_config(ROOT / "serve" / "config.yaml"))
    assert render(spec) == SNAPSHOT.read_text(encoding="utf-8"), REMEDY


def test_every_documented_operation_is_served_and_nothing_else_answers():
    from fastapi.testclient import TestClient

    from modelship.contract import load_contract
    from serve.api import create_api

    settings = Settings.from_config(ROOT / "serve" / "config.yaml")
    client = TestClient(create_api(settings, load_contract(settings.paths.contract)))
    documented = {(m.upper(), p) for p, ops in json.loads(SNAPSHOT.read_text())["paths"].items() for m in ops}
    for method, path in documented:
        url = path.replace("{prediction_id}", "0" * 32)
        assert client.request(method, url).status_code not in (404, 405), (method, path)
    # Built-in pages FastAPI would add, another method, a second spelling of a route: not served.
    for method, url in [
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/v1/predict"),
        ("GET", "/v1/model/"),
        ("POST", "/v1/predict/"),
        ("DELETE", "/v1/model"),
    ]:
        assert client.request(method, url).status_code in (404, 405), (method, url)


def test_every_documented_error_is_problem_json(http):
    spec = http.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if code[0] in "45":
                    assert list(resp["content"]) == ["application/problem+json"], (method, path, code)


def test_every_protected_operation_declares_its_security_and_401(http):
    spec = http.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/") and not path.startswith("/v1/auth/"):
                assert op["security"] and all(list(r) == ["oauth2"] for r in op["security"]), (method, path)
                assert "401" in op["responses"] and "403" in op["responses"], (method, path)


def test_the_openapi_document_links_a_prediction_to_its_read_back(http):
    spec = http.client.get("/openapi.json").json()
    link = spec["paths"]["/v1/predict"]["post"]["responses"]["200"]["links"]["ReadPrediction"]
    assert link["parameters"] == {"prediction_id": "$response.body#/predictions/0/prediction_id"}


def test_no_interactive_docs_that_would_load_assets_from_a_cdn(http):
    # They load scripts from a CDN: blank offline, and a third-party dependency in the browser.
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        problem(http.client.get(path), 404)


def test_the_record_schema_comes_from_the_contract_with_its_bounds_and_cap(make_api):
    """In process only: the batch cap is lowered for this test."""
    spec = make_api(max_batch_rows=9).client.get("/openapi.json").json()
    request = spec["components"]["schemas"]["PredictRequest"]
    assert request["properties"]["records"]["maxItems"] == 9
    radius = spec["components"]["schemas"]["Record"]["properties"]["mean_radius"]
    assert (radius["minimum"], radius["maximum"], radius["x-unit"]) == (0.5, 50, "px")


def test_the_openapi_document_is_built_once_and_reused(api):
    """In process only: looks at the app object."""
    assert api.app.openapi() is api.app.openapi()
