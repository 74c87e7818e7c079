"""serve/problems.py: every error is an RFC 9457 problem, with no internals (C9.2, C9.3 API8, C9.10).

Unknown routes and methods through the whole app on both transports; a real server error in
process only (the test closes the store under the app); the handlers alone on a bare app.
"""

from __future__ import annotations

import pytest
from api_support import TOY_CONTRACT, problem
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from serve.problems import install, kind_for, validation_params
from serve.schemas import contract_models

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.10"),
    pytest.mark.catalogue(
        part="Problems: RFC 9457 answers for every error",
        scope="unit",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]
THROUGH_THE_API = pytest.mark.catalogue(scope="integration", tool="pytest + Starlette TestClient, API app in-process")
FAULTS = pytest.mark.requirement("C9.6")


@FAULTS
def test_an_unknown_route_gets_a_404_problem(http):
    body = problem(http.client.get("/v1/nothing-here"), 404)
    assert body["type"].endswith("/not-found") and "/openapi.json" in body["detail"]


@FAULTS
def test_a_wrong_method_gets_a_405_problem_with_allow(http):
    r = http.client.get("/v1/predict", headers=http.headers("clinic"))
    assert problem(r, 405)["type"].endswith("/method-not-allowed")
    assert r.headers["allow"] == "POST"


@FAULTS
@THROUGH_THE_API
def test_a_server_error_is_a_500_problem_with_no_internals_and_the_security_headers(make_api):
    """In process only: the test closes the store under the running app."""
    # A real failure: the store's database connections are gone (closed), so reading fails.
    api = make_api(raise_server_exceptions=False)
    api.store.close()
    r = api.client.get("/v1/predictions/" + "a" * 32, headers=api.headers("clinic"))
    body = problem(r, 500)
    assert body["type"].endswith("/internal-error") and "sqlite" not in r.text.lower()
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.fixture
def bare() -> TestClient:
    """A bare app with only the problem handlers: routes raise what no route of the API raises."""
    app = FastAPI()
    install(app)

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, detail="short and stout")

    @app.get("/structured")
    async def structured() -> None:
        raise HTTPException(400, detail={"not": "a string"})

    return TestClient(app)


def test_an_http_error_with_an_unmapped_status_is_a_generic_problem_with_its_detail(bare):
    body = problem(bare.get("/teapot"), 418)
    assert body["type"].endswith("/http-error") and body["detail"] == "short and stout"


def test_an_http_error_with_a_structured_detail_shows_the_status_phrase_not_the_structure(bare):
    body = problem(bare.get("/structured"), 400)
    assert body["detail"] == "Bad Request" and body["type"].endswith("/bad-request")


def test_each_known_status_has_its_problem_kind():
    assert (kind_for(404), kind_for(429), kind_for(503), kind_for(599)) == (
        "not-found",
        "too-many-requests",
        "service-unavailable",
        "http-error",
    )


def test_validation_params_keep_at_most_fifty_entries():
    errors = [{"loc": ("body", "records", i), "msg": "bad", "type": "x"} for i in range(500)]
    assert len(validation_params(errors)) == 50


def test_validation_params_add_the_constraint_when_the_message_lacks_it():
    (param,) = validation_params([{"loc": ("query", "n"), "msg": "too small", "type": "x", "ctx": {"ge": 3}}])
    assert param == {"name": "n", "reason": "too small (ge=3)"}


def test_validation_params_name_the_body_when_the_error_has_no_location():
    assert validation_params([{"loc": ("body",), "msg": "Field required", "type": "missing"}]) == [
        {"name": "body", "reason": "this field is required"}
    ]


def test_validation_params_name_the_field_and_the_bound_without_echoing_the_input():
    request = contract_models(TOY_CONTRACT, max_rows=5).predict_request
    with pytest.raises(ValidationError) as info:
        request.model_validate({"records": [{"count": 99, "colour": "red", "secret": "s3cr3t"}]})
    params = validation_params(info.value.errors())
    assert {"name": "records.0.count", "reason": "Input should be less than or equal to 10"} in params
    assert all("s3cr3t" not in p["reason"] for p in params)
