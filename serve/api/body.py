"""Request bodies the routes read themselves, and their OpenAPI descriptions.

FastAPI does not see these bodies as parameters, so each reader has a twin that describes it
in the OpenAPI document (`form_or_json_request`, `json_request`).
"""
from __future__ import annotations

import base64
import binascii
import enum
import functools
import json
import types
from typing import Any, Literal, TypeVar, Union, get_args, get_origin
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


class RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears more than once in one object")
        self.key = key


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object hook: an object, unless a key repeats (JSON parsers disagree on which wins)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise RepeatedKey(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return obj


_SCALARS = (int, float, str, bool, type(None))


def _is_scalar(annotation: Any) -> bool:
    if annotation in _SCALARS or get_origin(annotation) is Literal:
        return True
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return all(_is_scalar(a) for a in get_args(annotation))
    return False


@functools.cache
def _flat(model: type[BaseModel]) -> bool:
    """Whether no field of `model` can hold an object (its keys are then its fields set)."""
    return all(_is_scalar(f.annotation) for f in model.model_fields.values())


def _keys_kept(value: Any) -> int:
    """How many object keys the validated `value` was built from (fields given, not defaults)."""
    if isinstance(value, BaseModel):
        given = value.model_fields_set
        if _flat(type(value)):
            return len(given)
        return len(given) + sum(_keys_kept(getattr(value, name)) for name in given)
    if isinstance(value, list | tuple):
        first = type(value[0]) if value else None
        if first is not None and issubclass(first, BaseModel) and _flat(first):
            # The common case (a list of records), without a call per item.
            return sum(len(v.model_fields_set) if type(v) is first else _keys_kept(v) for v in value)
        return sum(_keys_kept(v) for v in value)
    if isinstance(value, dict):
        return len(value) + sum(_keys_kept(v) for v in value.values())
    return 0


def _refuse_repeated_keys(raw: bytes, parsed: BaseModel) -> None:
    """422 if a key repeats in one object of the body that `parsed` was validated from.

    Every key in the text is followed by a colon, and colons elsewhere can only sit inside
    strings: so the body holds at least as many colons as keys, and at least as many keys as
    the model kept. When the colons are as many as the keys kept, no key can repeat, and the
    body need not be parsed again; otherwise (a colon in a string, an ignored field) it is."""
    if raw.count(b":") == _keys_kept(parsed):
        return
    try:
        json.loads(raw, object_pairs_hook=_object_without_repeats)
    except RepeatedKey as exc:
        raise RequestValidationError([{"type": "repeated_key", "loc": ("body", exc.key),
                                       "msg": f"{exc}; send each key once", "input": None}]) from None


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
            data = json.loads(raw, object_pairs_hook=_object_without_repeats)
        except RepeatedKey as exc:
            raise oauth_error(400, "invalid_request", f"parameters sent more than once: {exc.key}") from None
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
    422 problems as FastAPI's own body handling, without building Python objects twice, and a
    key repeated in one object refused (pydantic would keep the last one silently)."""
    if _media_type(request, JSON) != JSON:
        # Only JSON itself: a +json type (JSON:API, JSON Patch) has rules of its own we do not apply.
        raise ApiProblem(415, "unsupported-media-type", f"send the body as {JSON}")
    raw = await request.body()
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    _refuse_repeated_keys(raw, parsed)
    return parsed


def form_or_json_request(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI of a body that `form_or_json` reads."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}, JSON: {"schema": schema}}}}


def json_request(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI of a body that `json_body` reads (its schema is added by serve/api/openapi.py)."""
    return {"requestBody": {"required": True, "content": {JSON: {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}
