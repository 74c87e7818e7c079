"""Errors as application/problem+json (RFC 9457): one shape for every 4xx and 5xx, no internals.

Each problem type has a stable URI under PROBLEM_BASE that docs/api.qmd explains; clients
switch on `type`, people read `title` and `detail`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://modelship.invalid/problems/"  # .invalid: an identifier, never fetched
log = logging.getLogger("modelship.api")


class ApiProblem(Exception):
    """Raise in a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra


class InvalidParam(BaseModel):
    name: str = Field(description="Where the problem is, e.g. `records.0.mean_radius`.")
    reason: str = Field(description="What is wrong, including the constraint that failed.")


class Problem(BaseModel):
    """RFC 9457 problem details. Some problems add members, listed in docs/api.qmd."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})
    type: str = Field(description="A URI identifying the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong for this request, and how to fix it.")
    instance: str = Field(description="The request path the problem relates to.")
    invalid_params: list[InvalidParam] | None = Field(
        default=None, description="For 422: every field that failed validation."
    )
    error: str | None = Field(default=None, description="For the auth endpoints: the RFC 6749 error code.")
    error_description: str | None = Field(default=None, description="For the auth endpoints: as `detail`.")


def problem_body(
    status: int, kind: str, detail: str, instance: str, *, title: str | None = None, **extra: Any
) -> bytes:
    """The JSON bytes of a problem document; members whose value is None are left out."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return json.dumps(body).encode()


def problem_response(
    status: int,
    kind: str,
    detail: str,
    instance: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    return Response(
        problem_body(status, kind, detail, instance, title=title, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


_KIND_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
    504: "timeout",
}


def kind_for(status: int) -> str:
    return _KIND_BY_STATUS.get(status, "http-error")


def _reason(err: Mapping[str, Any]) -> str:
    """The pydantic message plus the constraint's value, without echoing the input back."""
    msg = str(err.get("msg", "invalid value"))
    ctx = err.get("ctx") or {}
    if err.get("type") == "extra_forbidden":
        return "this field is not part of the schema; remove it"
    if err.get("type") == "missing":
        return "this field is required"
    if ctx and not any(str(v) in msg for v in ctx.values()):
        msg += " (" + ", ".join(f"{k}={v}" for k, v in ctx.items() if k != "error") + ")"
    return msg


def validation_params(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    out = []
    for err in errors[:50]:  # a 10,000-field garbage body must not make a 10,000-entry answer
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        out.append({"name": ".".join(loc) or "body", "reason": _reason(err)})
    return out


# Told of every problem the app answers with: (route template, status, type, invalid params).
ProblemHook = Callable[[str, int, str, list[dict[str, str]] | None], None]


def route_of(scope: Mapping[str, Any]) -> str:
    """The route template a request matched (`/v1/predictions/{prediction_id}`), never the raw
    path, so that what is counted per route has a bounded set of values; `other` when none."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


def install(app: FastAPI, on_problem: ProblemHook | None = None) -> None:
    """Make every error this app can produce a problem document; `on_problem` (monitoring)
    is told of each."""

    def told(request: Request, status: int, kind: str, params: list[dict[str, str]] | None = None) -> None:
        if on_problem is not None:
            on_problem(route_of(request.scope), status, kind, params)

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        told(request, exc.status, exc.kind, exc.extra.get("invalid_params"))
        return problem_response(
            exc.status, exc.kind, exc.detail, request.url.path, title=exc.title, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        params = validation_params(list(exc.errors()))
        names = ", ".join(sorted({p["name"] for p in params}))
        told(request, 422, "validation-error", params)
        return problem_response(
            422,
            "validation-error",
            f"the request does not match the schema; see invalid_params ({names})",
            request.url.path,
            invalid_params=params,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = {
            404: "no such resource: check the path against /openapi.json",
            405: "this method is not allowed on this path: see /openapi.json",
        }.get(exc.status_code, str(exc.detail) if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase)
        told(request, exc.status_code, kind_for(exc.status_code))
        return problem_response(
            exc.status_code, kind_for(exc.status_code), detail, request.url.path, headers=dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged with its traceback for the operator; the client sees no internals.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        told(request, 500, "internal-error")
        return problem_response(
            500,
            "internal-error",
            "the server failed to handle this request; retry later or contact the operator",
            request.url.path,
        )
