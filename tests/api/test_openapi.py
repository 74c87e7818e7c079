"""GET /openapi.json (C9.10, C9.3 API9): OpenAPI 3.1, equal to the committed snapshot."""
import json
import pytest

from serve.settings import Settings
from serve.spec import openapi_document, render
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
    spec = openapi_document(Settings.from_config(ROOT / "serve" / "config.yaml"))
    assert render(spec) == SNAPSHOT.read_text(encoding="utf-8"), "run `make openapi` and commit docs/api/openapi.json"


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
    for method, url in [("GET", "/docs"), ("GET", "/redoc"), ("GET", "/docs/oauth2-redirect"), ("GET", "/v1/predict"),
                        ("GET", "/v1/model/"), ("POST", "/v1/predict/"), ("DELETE", "/v1/model")]:
        assert client.request(method, url).status_code in (404, 405), (method, url)


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
                assert op["security"] and all(list(r) == ["oauth2"] for r in op["security"]), (method, path)
                assert "401" in op["responses"] and "403" in op["responses"], (method, path)


def test_the_interactive_docs_pages_are_disabled(api):
    # They load scripts from a CDN: blank offline, and a third-party dependency in the browser.
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        problem_of(api.get(path), 404)
