"""Request bodies the routes read themselves, and their OpenAPI descriptions.

FastAPI does not see these bodies as parameters, so each reader has a twin that describes it
in the OpenAPI document (`form_or_json_request`, `json_request`).
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from serve.api.errors import oauth_error
from serve.problems import ApiProblem, validation_params

M = TypeVar("M", bound=BaseModel)
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def _media_type(request: Request, default: str = "") -> str:
    return request.headers.get("content-type", default).split(";")[0].strip().lower()


async def form_or_json(request: Request) -> dict[str, Any]:
    """The parameters of an OAuth 2 endpoint: a form (RFC 6749) or a JSON object.

    A parameter sent twice is refused (RFC 6749, section 3.2)."""
    ctype = _media_type(request)
    raw = await request.body()
    if ctype == FORM:
        try:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise oauth_error(400, "invalid_request", "the form body is not valid UTF-8 urlencoded data") from None
        repeated = sorted(k for k, v in parsed.items() if len(v) > 1)
        if repeated:
            raise oauth_error(400, "invalid_request", f"parameters sent more than once: {', '.join(repeated)}")
        return {k: v[0] for k, v in parsed.items()}
    if ctype == JSON:
        try:
            data = json.loads(raw)
        # RecursionError: a deeply nested array or object, well under the body limit.
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise oauth_error(400, "invalid_request", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise oauth_error(400, "invalid_request", "the JSON body must be an object")
        return data
    raise ApiProblem(415, "unsupported-media-type", f"send {FORM} (or {JSON})")


def validated_params(model: type[M], params: dict[str, Any]) -> M:
    """OAuth 2 parameters checked against their model; a 400 invalid_request names each field."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        fields = validation_params(list(exc.errors()))
        names = ", ".join(sorted({p["name"] for p in fields}))
        raise oauth_error(400, "invalid_request", f"invalid or missing parameters: {names}",
                          invalid_params=fields) from None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Client credentials sent as HTTP Basic (RFC 6749, section 2.3.1), or None."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth_error(400, "invalid_request", "the Basic credentials are not valid base64") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise oauth_error(400, "invalid_request", "the Basic credentials must be client_id:client_secret")
    return unquote(client_id), unquote(secret)


async def json_body(request: Request, model: type[M]) -> M:
    """The body, parsed and validated in one pass by pydantic's JSON parser: the same rules and
    422 problems as FastAPI's own body handling, without building Python objects twice."""
    ctype = _media_type(request, JSON)
    if ctype != JSON and not (ctype.startswith("application/") and ctype.endswith("+json")):
        raise ApiProblem(415, "unsupported-media-type", f"send the body as {JSON}")
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def form_or_json_request(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI of a body that `form_or_json` reads."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}, JSON: {"schema": schema}}}}


def json_request(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI of a body that `json_body` reads (its schema is added by serve/api/openapi.py)."""
    return {"requestBody": {"required": True, "content": {JSON: {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}
