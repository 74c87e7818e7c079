"""GET /openapi.json (C9.10, C9.3 API9): OpenAPI 3.1, equal to the committed snapshot."""
import json
import pytest

from fastapi.routing import APIRoute

from serve.spec import openapi_document, render, settings_from_config
from tests.api.builders import ROOT
from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.8", "C9.10"),
    pytest.mark.catalogue(
        part="API: GET /openapi.json and the committed docs/api/openapi.json",
        scope="system", strategy="snapshot", tool="pytest + httpx, live Ray Serve",
    ),
]

SNAPSHOT = ROOT / "docs" / "api" / "openapi.json"


def test_the_service_serves_an_openapi_3_1_document(api):
    r = api.get("/openapi.json")
    assert r.status_code == 200
    assert r.json()["openapi"] == "3.1.0"


def test_the_served_document_equals_the_committed_snapshot(api):
    served = api.get("/openapi.json").json()
    assert render(served) == SNAPSHOT.read_text(encoding="utf-8"), "run `make openapi` and commit docs/api/openapi.json"


def test_the_snapshot_is_what_the_project_config_generates():
    spec = openapi_document(settings_from_config(ROOT / "serve" / "config.yaml"))
    assert render(spec) == SNAPSHOT.read_text(encoding="utf-8"), "run `make openapi` and commit docs/api/openapi.json"


def test_the_routes_the_app_serves_are_exactly_the_documented_operations():
    from modelship.contract import load_contract
    from serve.api import create_api

    settings = settings_from_config(ROOT / "serve" / "config.yaml")
    app = create_api(settings, load_contract(settings.contract_path))
    served = {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods}
    documented = {(m.upper(), p) for p, ops in json.loads(SNAPSHOT.read_text())["paths"].items() for m in ops}
    assert served == documented


def test_every_error_response_is_documented_as_problem_json(api):
    spec = api.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if code[0] in "45":
                    assert list(resp["content"]) == ["application/problem+json"], (method, path, code)


def test_every_protected_operation_declares_its_security_and_401(api):
    spec = api.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/") and not path.startswith("/v1/auth/"):
                assert op["security"][0] == {"bearer": []}, (method, path)
                assert "401" in op["responses"] and "403" in op["responses"], (method, path)


def test_the_interactive_docs_pages_are_disabled(api):
    # They load scripts from a CDN: blank offline, and a third-party dependency in the browser.
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        problem_of(api.get(path), 404)
