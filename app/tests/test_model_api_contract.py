"""Every request the app's API client can send matches the API's published OpenAPI document:
the path and method exist, the media type is one the operation accepts, and the body validates
against its request schema (jsonschema, draft 2020-12, the document's own components). A change
of the API that breaks the app fails here.

The document is the API's, docs/api/openapi.json of the repository the app lives in today;
PATHLAB_OPENAPI names another copy (for the app in a repository of its own)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pathlab.model_api import BadAnswer, ModelApi, documented_cap
from pathlab.settings import PROJECT_DIR, ModelApiSettings
from stub_api import CLIENT_ID, SECRET, Recorded, Stub, stub_api

pytestmark = [
    pytest.mark.requirement("C10.3", "C10.4"),
    pytest.mark.catalogue(
        part="Lab app: the API client against the published OpenAPI document",
        scope="unit",
        strategy="inspection",
        tool="pytest, jsonschema, http.server",
    ),
]

OPENAPI = Path(os.environ.get("PATHLAB_OPENAPI", PROJECT_DIR.parent / "docs" / "api" / "openapi.json"))
HOLDING = json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    assert OPENAPI.is_file(), f"the API's OpenAPI document is not at {OPENAPI}: set PATHLAB_OPENAPI"
    return json.loads(OPENAPI.read_text(encoding="utf-8"))


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, operations in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            assert method.lower() in operations, f"{method} is not an operation of {template}"
            return operations[method.lower()]
    raise AssertionError(f"{path} is not a path of the API")


def _check(document: dict[str, Any], request: Recorded) -> None:
    operation = _operation(document, request.method, request.path)
    body = operation.get("requestBody")
    if body is None:
        assert request.body is None, f"{request.method} {request.path} takes no body"
        return
    content = body["content"]
    assert request.content_type in content, f"{request.path} does not accept {request.content_type}"
    schema = {**content[request.content_type]["schema"], "components": document["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(request.body), key=lambda e: list(e.path))
    assert not errors, f"{request.method} {request.path}: " + "; ".join(e.message for e in errors)


def _every_request() -> list[Recorded]:
    """Drive every operation of the client, renewals included, against the recording server."""
    clock = [0.0]
    record = {m["name"]: HOLDING["cases"][0]["values"][m["name"]] for m in HOLDING["measurements"]}

    async def go(stub: Stub) -> None:
        settings = ModelApiSettings(enabled=True, base_url=stub.url, client_id=CLIENT_ID)
        api = ModelApi(settings, SECRET, clock=lambda: clock[0])
        prediction = await api.predict(record)  # client credentials, then predict
        cap = await api.batch_cap()  # the API's own document, GET /openapi.json
        await api.predict_many([record] * cap)
        await api.feedback(prediction.prediction_id, HOLDING["diagnosis"]["classes"][0])
        clock[0] += 10_000  # past expiry: the refresh grant
        await api.model_card()
        await api.revoke()
        await api.aclose()

    with stub_api() as stub:
        asyncio.run(go(stub))
        return list(stub.state.requests)


def test_every_request_of_the_client_is_in_the_openapi_document(document: dict[str, Any]) -> None:
    requests = _every_request()
    # GET /openapi.json reads the document itself (the batch cap): it is not one of its operations
    assert ("GET", "/openapi.json") in {(r.method, r.path) for r in requests}
    requests = [r for r in requests if r.path != "/openapi.json"]
    sent = {(r.method, r.path) for r in requests}
    assert sent == {
        ("POST", "/v1/auth/token"),
        ("POST", "/v1/auth/refresh"),
        ("POST", "/v1/auth/revoke"),
        ("POST", "/v1/predict"),
        ("POST", "/v1/feedback"),
        ("GET", "/v1/model"),
    }
    for request in requests:
        _check(document, request)


def test_the_check_catches_a_request_the_api_would_refuse(document: dict[str, Any]) -> None:
    bad = [
        Recorded("POST", "/v1/feedback", "application/json", {"prediction_id": "x", "label": "maybe"}),
        Recorded("POST", "/v1/predict", "application/json", {"records": [{"mean_radius": "12"}]}),
        Recorded("POST", "/v1/predict", "text/plain", None),
        Recorded("GET", "/v1/feedback", "", None),
        Recorded("GET", "/v2/model", "", None),
    ]
    for request in bad:
        with pytest.raises(AssertionError):
            _check(document, request)


def test_the_batch_cap_is_read_from_the_published_document(document: dict[str, Any]) -> None:
    # the app never copies the limit: it follows the document's $ref to maxItems
    cap = documented_cap(document)
    schema = document["components"]["schemas"]["PredictRequest"]["properties"]["records"]
    assert cap == schema["maxItems"] >= 1
    broken = json.loads(json.dumps(document))
    del broken["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"]
    with pytest.raises(BadAnswer, match="records limit"):
        documented_cap(broken)
