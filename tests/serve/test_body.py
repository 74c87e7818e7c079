"""Strict request bodies: a key repeated in a JSON object is refused, as a repeated form field
is, and only application/json with identity coding is taken (serve/api/body.py, serve/guard.py)."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
from api_support import problem, sample_records
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.requests import Request

import serve.api.body
from serve.api.body import json_body

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.5"),
    pytest.mark.catalogue(
        part="API: strict bodies (repeated keys, media types, content coding)",
        scope="integration",
        strategy="attack",
        tool="pytest, Starlette TestClient",
    ),
]

JSON = {"Content-Type": "application/json"}


def records_json(n: int) -> str:
    return json.dumps(sample_records(n))


@pytest.fixture
def second_parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies json_body parsed a second time (with json.loads) to look for repeated keys."""
    calls: list[bytes] = []
    real = serve.api.body.json.loads

    def counted(raw, **kwargs):
        if kwargs.get("object_pairs_hook") is not None:  # not the JWT library's own parsing
            calls.append(raw)
        return real(raw, **kwargs)

    monkeypatch.setattr(serve.api.body.json, "loads", counted)
    return calls


def test_a_repeated_top_level_key_in_a_predict_body_is_refused_with_422(api):
    body = f'{{"records": {records_json(1)}, "records": {records_json(2)}}}'
    r = api.client.post("/v1/predict", content=body, headers=api.headers("clinic", **JSON))
    params = problem(r, 422)["invalid_params"]
    assert params == [
        {"name": "records", "reason": "the key 'records' appears more than once in one object; send each key once"}
    ]


def test_a_repeated_feature_in_one_record_is_refused_with_422(api):
    record = sample_records(1)[0]
    first = next(iter(record))
    text = json.dumps(record)[:-1] + f', "{first}": 1.0}}'
    r = api.client.post("/v1/predict", content=f'{{"records": [{text}]}}', headers=api.headers("clinic", **JSON))
    assert [p["name"] for p in problem(r, 422)["invalid_params"]] == [first]


def test_a_key_repeated_through_a_unicode_escape_is_still_a_repeat(api):
    body = f'{{"records": {records_json(1)}, "rec\\u006frds": {records_json(1)}}}'
    r = api.client.post("/v1/predict", content=body, headers=api.headers("clinic", **JSON))
    problem(r, 422)


def test_a_100_record_predict_body_is_checked_for_repeats_without_a_second_parse(api, second_parses):
    r = api.client.post(
        "/v1/predict", content=f'{{"records": {records_json(100)}}}', headers=api.headers("clinic", **JSON)
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 100
    assert second_parses == []


def test_a_colon_inside_a_string_falls_back_to_the_full_check_and_is_accepted(api, second_parses):
    r = api.client.post(
        "/v1/admin/model",
        content='{"action": "activate", "version": "v0002", "reason": "note: ok"}',
        headers=api.headers("admin", **JSON),
    )
    assert r.status_code == 200, r.text
    assert len(second_parses) == 1


def test_a_repeated_key_in_a_feedback_body_is_refused_with_422(api):
    pid = api.predict().json()["predictions"][0]["prediction_id"]
    body = f'{{"prediction_id": "{pid}", "label": "benign", "label": "malignant"}}'
    r = api.client.post("/v1/feedback", content=body, headers=api.headers("clinic", **JSON))
    assert [p["name"] for p in problem(r, 422)["invalid_params"]] == ["label"]
    # Nothing was recorded: the right feedback can still be sent once.
    r = api.client.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=api.headers("clinic"))
    assert r.status_code == 201, r.text


def test_a_repeated_key_in_an_admin_body_is_refused_and_production_is_unchanged(api):
    before = api.registry.production()
    body = '{"action": "rollback", "action": "activate", "version": "v0002"}'
    r = api.client.post("/v1/admin/model", content=body, headers=api.headers("admin", **JSON))
    assert [p["name"] for p in problem(r, 422)["invalid_params"]] == ["action"]
    assert api.registry.production() == before


@pytest.mark.parametrize("path", ["/v1/auth/token", "/v1/auth/refresh", "/v1/auth/revoke"])
def test_a_repeated_key_in_an_auth_json_body_is_refused_like_a_repeated_form_field(api, path):
    body = '{"grant_type": "refresh_token", "refresh_token": "a", "refresh_token": "b", "token": "c", "token": "d"}'
    r = api.client.post(path, content=body, headers=JSON)
    body = problem(r, 400)
    assert body["error"] == "invalid_request" and "more than once" in body["detail"]


def test_a_repeated_client_secret_in_json_never_reaches_the_secret_check(api):
    secret = api.clients.secrets["clinic"]
    body = (
        '{"grant_type": "client_credentials", "client_id": "clinic", '
        f'"client_secret": "x", "client_secret": "{secret}"}}'
    )
    r = api.client.post("/v1/auth/token", content=body, headers=JSON)
    assert "client_secret" in problem(r, 400)["detail"]


@pytest.mark.parametrize(
    "media_type",
    ["application/vnd.api+json", "application/json-patch+json", "application/merge-patch+json", "text/plain"],
)
@pytest.mark.parametrize(
    "path,client", [("/v1/predict", "clinic"), ("/v1/feedback", "clinic"), ("/v1/admin/model", "admin")]
)
def test_a_body_in_another_media_type_is_refused_with_415(api, path, client, media_type):
    r = api.client.post(
        path, content=f'{{"records": {records_json(1)}}}', headers=api.headers(client, **{"Content-Type": media_type})
    )
    assert problem(r, 415)["type"].endswith("/unsupported-media-type")


@pytest.mark.parametrize("media_type", ["application/vnd.api+json", "application/json-patch+json"])
def test_the_token_endpoint_refuses_a_json_variant_with_415(api, media_type):
    r = api.client.post(
        "/v1/auth/token", content='{"grant_type": "client_credentials"}', headers={"Content-Type": media_type}
    )
    problem(r, 415)


def test_json_with_a_charset_parameter_is_still_json(api):
    r = api.client.post(
        "/v1/predict",
        content=f'{{"records": {records_json(1)}}}',
        headers=api.headers("clinic", **{"Content-Type": "application/json; charset=utf-8"}),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "gzip, identity"])
def test_a_compressed_body_is_refused_with_415_before_it_is_read(api, coding):
    body = gzip.compress(f'{{"records": {records_json(1)}}}'.encode())
    r = api.client.post(
        "/v1/predict", content=body, headers=api.headers("clinic", **JSON, **{"Content-Encoding": coding})
    )
    body = problem(r, 415)
    assert "Content-Encoding" in body["detail"] and r.headers["x-content-type-options"] == "nosniff"


def test_a_compressed_token_request_is_refused_with_415(api):
    r = api.client.post(
        "/v1/auth/token",
        content=gzip.compress(b"grant_type=client_credentials"),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
    )
    problem(r, 415)


def test_identity_coding_is_accepted(api):
    r = api.client.post(
        "/v1/predict",
        content=f'{{"records": {records_json(1)}}}',
        headers=api.headers("clinic", **JSON, **{"Content-Encoding": "identity"}),
    )
    assert r.status_code == 200, r.text


def test_the_openapi_document_declares_415_for_the_admin_body(api):
    op = api.client.get("/openapi.json").json()["paths"]["/v1/admin/model"]["post"]
    assert "415" in op["responses"]
    assert list(op["requestBody"]["content"]) == ["application/json"]


class Inner(BaseModel):
    name: str
    tags: dict[str, int] = {}


class Outer(BaseModel):
    items: list[Inner]
    note: str | None = None


def read(raw: bytes) -> BaseModel:
    """serve.api.body.json_body on a real Starlette request carrying `raw`."""

    async def receive():
        return {"type": "http.request", "body": raw, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", b"application/json")]}
    return asyncio.run(json_body(Request(scope, receive), Outer))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"items": [{"name": "a", "tags": {"x": 1, "x": 2}}]}',
        b'{"items": [{"name": "a"}, {"name": "b", "name": "c"}]}',
        b'{"items": [], "note": "n", "note": "m"}',
    ],
)
def test_a_repeated_key_at_any_depth_of_a_nested_body_is_refused(raw):
    with pytest.raises(RequestValidationError):
        read(raw)


def test_a_nested_body_without_repeats_needs_no_second_parse(second_parses):
    parsed = read(b'{"items": [{"name": "a", "tags": {"x": 1, "y": 2}}, {"name": "b"}], "note": "n"}')
    assert parsed.items[0].tags == {"x": 1, "y": 2} and second_parses == []
