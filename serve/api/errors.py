"""The problems the routes raise for OAuth 2 and token errors (RFC 6749 section 5.2, RFC 6750)."""

from __future__ import annotations

from typing import Any

from serve.auth import NO_STORE, AuthError
from serve.problems import ApiProblem


def oauth_error(status: int, error: str, detail: str, **extra: Any) -> ApiProblem:
    """An OAuth 2 error as a problem document that also carries `error` and `error_description`."""
    return ApiProblem(
        status,
        "oauth-" + error.replace("_", "-"),
        detail,
        headers=dict(NO_STORE),
        error=error,
        error_description=detail,
        **extra,
    )


def auth_problem(exc: AuthError) -> ApiProblem:
    """An AuthError as a problem: 401 and 403 by their status, 400s by their OAuth 2 code."""
    headers = dict(NO_STORE)
    if exc.www_authenticate:
        headers["WWW-Authenticate"] = exc.www_authenticate
    kind = {401: "unauthorized", 403: "insufficient-scope"}.get(exc.status, "oauth-" + exc.error.replace("_", "-"))
    return ApiProblem(exc.status, kind, exc.detail, headers=headers, error=exc.error, error_description=exc.detail)


def model_unavailable(
    detail: str = "the model did not answer in time (restarting or overloaded); retry shortly",
) -> ApiProblem:
    return ApiProblem(503, "model-unavailable", detail, headers={"Retry-After": "1"})
