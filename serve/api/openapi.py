"""The OpenAPI document: error responses of each operation, and what FastAPI cannot infer.

The routes read some bodies themselves (serve/api/body.py), so their schemas are added here;
problem responses are declared as application/problem+json; the security schemes and the
link from a prediction to its read-back are written out.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from serve.auth import SCOPES
from serve.problems import PROBLEM_JSON, Problem

TAGS = ("auth", "predict", "feedback", "model", "monitoring", "admin", "health")

_ERRORS = {
    400: "An OAuth 2 error (RFC 6749, section 5.2): the code is in `error`.",
    401: "Missing, invalid or expired access token; see the WWW-Authenticate header.",
    403: "The token lacks the scope this operation needs.",
    404: "No such resource, or not yours.",
    409: "Conflicts with the current state.",
    413: "The request body is larger than the configured limit.",
    415: "Unsupported content type.",
    422: "The body is not JSON or does not match the schema; `invalid_params` names each field and constraint.",
    429: "Rate limit or row quota exceeded; retry after the Retry-After header's seconds.",
    503: "The model is not available right now (starting, restarting or overloaded); retry later.",
}
# What every operation behind a token may answer.
AUTHENTICATED = (401, 403, 413, 429)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an operation that may answer these problem statuses."""
    return {c: {"model": Problem, "description": _ERRORS[c]} for c in codes}


def install(app: FastAPI, bodies: list[type[BaseModel]]) -> None:
    """Make `app.openapi()` build the project's document (once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version="3.1.0",
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=[{"name": t} for t in TAGS],
        )
        _, defs = models_json_schema([(b, "validation") for b in bodies], ref_template="#/components/schemas/{model}")
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs.get("$defs", {}))
        spec["components"]["schemas"] = dict(sorted(schemas.items()))
        # One scheme: its flows say where the token comes from and its scopes which operations
        # it opens (a bare `bearer` scheme would say any token opens them all).
        spec["components"]["securitySchemes"] = {
            "oauth2": {
                "type": "oauth2",
                "description": (
                    "An access token (a JWT) from POST /v1/auth/token, sent as `Authorization: Bearer <token>`; "
                    "each operation needs one of the scopes it lists."
                ),
                "flows": {
                    "clientCredentials": {"tokenUrl": "/v1/auth/token", "scopes": {s: s for s in SCOPES}},
                    "password": {"tokenUrl": "/v1/auth/token", "scopes": {s: s for s in SCOPES}},
                },
            },
        }
        # OpenAPI links: a prediction id from POST /v1/predict feeds GET /v1/predictions/{id}
        # (clients and stateful fuzzers follow them).
        spec["paths"]["/v1/predict"]["post"]["responses"]["200"]["links"] = {
            "ReadPrediction": {
                "operationRef": "#/paths/~1v1~1predictions~1{prediction_id}/get",
                "parameters": {"prediction_id": "$response.body#/predictions/0/prediction_id"},
                "description": "Read the first prediction back.",
            }
        }
        for path in spec["paths"].values():
            for op in path.values():
                for code, resp in op.get("responses", {}).items():
                    content = resp.get("content", {})
                    if code[0] in "45" and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
