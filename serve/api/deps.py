"""Dependencies of the routes: the live service, and the caller proven by an access token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from serve.api.errors import auth_problem
from serve.auth import AuthError, AuthService, Principal
from serve.problems import ApiProblem
from serve.ratelimit import retry_after_header
from serve.service import Service


def service_of(request: Request) -> Service:
    """The live parts of the app; 503 while they are not there (starting, or the OpenAPI export)."""
    service: Service | None = request.app.state.service
    if service is None:
        raise ApiProblem(
            503, "not-ready", "the service is starting; retry in a few seconds", headers={"Retry-After": "2"}
        )
    return service


async def get_service(request: Request) -> Service:
    """The dependency form of `service_of`, for the token endpoints. The routes behind a token
    call `service_of` instead: each dependency is one more level FastAPI solves per request.
    async: FastAPI runs a plain def dependency in a thread pool, a hand-off per request."""
    return service_of(request)


ServiceDep = Annotated[Service, Depends(get_service)]


def require(*scopes: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: a valid access token holding one of `scopes`, within its client's rate limit."""

    # async: a plain def dependency would run in a thread pool, a hand-off per request.
    async def principal(request: Request) -> Principal:
        service = service_of(request)
        try:
            found = service.auth.principal_from_header(request.headers.get("authorization"))
            if not found.scopes.intersection(scopes):
                AuthService.require_scope(found, scopes[0], service.auth.settings.realm)
        except AuthError as exc:
            raise auth_problem(exc) from None
        rate, _ = service.settings.limits.for_client(found.sub)
        wait = service.requests.take(found.sub, 1, rate.limit, rate.window_s)
        if wait:
            raise ApiProblem(
                429,
                "rate-limited",
                f"more than {rate.limit} requests in {rate.window_s:g} s; slow down",
                headers=retry_after_header(wait),
            )
        return found

    return principal


# The caller of each kind of route, as a typed parameter: `principal: Predictor`.
Predictor = Annotated[Principal, Depends(require("predict"))]
FeedbackSender = Annotated[Principal, Depends(require("feedback"))]
ModelReader = Annotated[Principal, Depends(require("predict", "monitor", "admin"))]
Admin = Annotated[Principal, Depends(require("admin"))]
MonitorReader = Annotated[Principal, Depends(require("monitor"))]


def security(*scopes: str) -> dict[str, Any]:
    """The OpenAPI security requirement of a route that needs one of `scopes`: one alternative
    per scope, so that the document says what `require(*scopes)` checks, and no more."""
    return {"security": [{"oauth2": [s]} for s in scopes]}
