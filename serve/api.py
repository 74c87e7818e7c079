"""The HTTP API as a FastAPI app: routes, auth, validation, limits. No Ray in this module.

`create_api(settings, contract, service)` builds the app. serve/app.py runs it inside the
Ray Serve ingress deployment with a backend that calls the model deployment; the OpenAPI
export runs it with no service at all (routes are the same, only the spec is read).
"""
# No `from __future__ import annotations`: FastAPI must see the generated body models
# (local variables) as real annotations, not as names to look up in module globals.
import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import numpy as np
from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.json_schema import models_json_schema

from modelship.contract import Contract
from modelship.registry import IntegrityError, Registry, RegistryError
from serve.auth import SCOPES, AuthError, AuthService, Principal
from serve.guard import Guard
from serve.model import Backend, ModelUnavailable
from serve.problems import PROBLEM_JSON, ApiProblem, Problem, install, validation_params
from serve.ratelimit import TokenBuckets, retry_after_header
from serve.schemas import (
    DECISION_SUPPORT,
    ID_PATTERN,
    AdminAction,
    AdminModelRequest,
    AdminModelResponse,
    FeedbackResponse,
    Health,
    ModelCard,
    PredictResponse,
    RefreshRequest,
    RevokeRequest,
    RevokeResponse,
    StoredPrediction,
    TokenRequest,
    TokenResponse,
    predict_models,
)
from serve.settings import ServiceSettings
from serve.store import (FeedbackExists, PredictionRow, Store, new_prediction_ids, prediction_id_age_s,
                         utcnow)

log = logging.getLogger("modelship.api")
API_VERSION = "1.0.0"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANT_TYPES = ("client_credentials", "password", "refresh_token")


@dataclass
class Service:
    """The live parts of the API (absent when only the OpenAPI document is wanted)."""

    auth: AuthService
    backend: Backend
    store: Store
    registry: Registry
    requests: TokenBuckets
    rows: TokenBuckets
    token_attempts: TokenBuckets


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Malformed request: a body that is not JSON, or an OAuth 2 error (code in `error`).",
        401: "Missing, invalid or expired access token; see the WWW-Authenticate header.",
        403: "The token lacks the scope this operation needs.",
        404: "No such resource, or not yours.",
        409: "Conflicts with the current state.",
        413: "The request body is larger than the configured limit.",
        415: "Unsupported content type.",
        422: "The body does not match the schema; `invalid_params` names each field and constraint.",
        429: "Rate limit or row quota exceeded; retry after the Retry-After header's seconds.",
        503: "The model is not available right now (starting, restarting or overloaded); retry later.",
    }
    return {c: {"model": Problem, "description": text[c]} for c in codes}


_BASE_ERRORS = (401, 403, 413, 429)


def create_api(settings: ServiceSettings, contract: Contract, service: Service | None = None) -> FastAPI:
    predict_request, label_enum = predict_models(contract, settings.max_batch_rows)
    feature_names = contract.feature_names
    numeric = all(f.is_numeric for f in contract.features)
    int_features = {f.name for f in contract.features if f.type == "int"}
    feedback_request = create_model(
        "FeedbackRequest",
        __config__=ConfigDict(strict=True, extra="forbid"),
        __doc__="The diagnosis confirmed for a past prediction (once per prediction).",
        prediction_id=(str, Field(pattern=ID_PATTERN, description="From a POST /v1/predict answer.")),
        label=(label_enum, Field(description="The confirmed class.")),
    )

    app = FastAPI(
        title=settings.title,
        version=API_VERSION,
        summary=f"Scores {contract.title or contract.name} cases with the production model.",
        description=(
            f"{DECISION_SUPPORT}\n\nAuthenticate at `POST /v1/auth/token` (OAuth 2 client credentials, "
            "or password for people), then send `Authorization: Bearer <access token>`. Every error is "
            "`application/problem+json` (RFC 9457). See docs/api.qmd."),
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,  # they load assets from a CDN
        openapi_url="/openapi.json",
    )
    app.state.service = service
    install(app)

    def svc() -> Service:
        if app.state.service is None:
            raise ApiProblem(503, "not-ready", "the service is starting; retry in a few seconds",
                             headers={"Retry-After": "2"})
        return app.state.service

    # -- auth dependencies --------------------------------------------------------------
    def require(*scopes: str) -> Callable[[Request], Principal]:
        """A dependency: a valid access token holding one of `scopes`, within its rate limit."""

        # async: a plain def dependency would run in a thread pool, a hand-off per request.
        async def dependency(request: Request) -> Principal:
            s = svc()
            try:
                principal = s.auth.principal_from_header(request.headers.get("authorization"))
                if not principal.scopes.intersection(scopes):
                    AuthService.require_scope(principal, scopes[0], s.auth.settings.realm)
            except AuthError as exc:
                raise _auth_problem(exc) from None
            rate, _ = settings.limits_for(principal.sub)
            wait = s.requests.take(principal.sub, 1, rate.limit, rate.window_s)
            if wait:
                raise ApiProblem(429, "rate-limited",
                                 f"more than {rate.limit} requests in {rate.window_s:g} s; slow down",
                                 headers=retry_after_header(wait))
            return principal

        return dependency

    def security(*scopes: str) -> dict[str, Any]:
        # Alternatives (OR): any bearer token, checked for one of these scopes.
        return {"security": [{"bearer": []}] + [{"oauth2": [s]} for s in scopes]}

    # -- auth routes ----------------------------------------------------------------------
    token_schema = TokenRequest.model_json_schema()
    form_body = {"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": token_schema},
        "application/json": {"schema": token_schema},
    }}}

    async def read_params(request: Request) -> dict[str, str]:
        """Form (RFC 6749) or JSON parameters; a repeated form parameter is refused (RFC 6749, 3.2)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        if ctype == "application/x-www-form-urlencoded":
            try:
                parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
            except (UnicodeDecodeError, ValueError):
                raise _oauth_error(400, "invalid_request", "the form body is not valid UTF-8 urlencoded data") from None
            repeated = sorted(k for k, v in parsed.items() if len(v) > 1)
            if repeated:
                raise _oauth_error(400, "invalid_request", f"parameters sent more than once: {', '.join(repeated)}")
            return {k: v[0] for k, v in parsed.items()}
        if ctype == "application/json":
            try:
                data = json.loads(raw)
            # RecursionError: a deeply nested array or object, well under the body limit.
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise _oauth_error(400, "invalid_request", "the body is not valid JSON") from None
            if not isinstance(data, dict):
                raise _oauth_error(400, "invalid_request", "the JSON body must be an object")
            return data
        raise ApiProblem(415, "unsupported-media-type",
                         "send application/x-www-form-urlencoded (or application/json)")

    def validated(model: type[BaseModel], params: dict[str, Any]) -> Any:
        try:
            return model.model_validate(params)
        except ValidationError as exc:
            fields = validation_params(list(exc.errors()))
            names = ", ".join(sorted({p["name"] for p in fields}))
            raise _oauth_error(400, "invalid_request", f"invalid or missing parameters: {names}",
                               invalid_params=fields) from None

    async def json_body(request: Request, model: type[BaseModel]) -> Any:
        """The body, parsed and validated in one pass (pydantic's JSON parser): for 100 records,
        ~0.35 ms against ~1.1 ms for json.loads then validation, FastAPI's way. Same rules,
        same 422 problems; a body declared as something other than JSON is a 415."""
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype != "application/json" and not (ctype.startswith("application/") and ctype.endswith("+json")):
            raise ApiProblem(415, "unsupported-media-type", "send the body as application/json")
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None

    def json_request(model: type[BaseModel]) -> dict[str, Any]:
        """The OpenAPI of a body that json_body reads (FastAPI does not see it as a parameter)."""
        return {"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}

    async def call_auth(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # argon2 hashing takes tens of milliseconds: keep it off the event loop.
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except AuthError as exc:
            raise _auth_problem(exc, oauth=True) from None

    def token_response(pair: Any) -> Any:
        from starlette.responses import JSONResponse
        body = TokenResponse(access_token=pair.access_token, token_type="Bearer", expires_in=pair.expires_in,
                             refresh_token=pair.refresh_token, scope=pair.scope)
        return JSONResponse(body.model_dump(), headers=NO_STORE)

    @app.post("/v1/auth/token", tags=["auth"], response_model=TokenResponse,
              summary="Get an access token and a refresh token",
              responses=_errors(400, 401, 413, 415, 429), openapi_extra=form_body)
    async def token(request: Request) -> Any:
        """OAuth 2 token endpoint: `client_credentials` for services, `password` for people,
        `refresh_token` to renew. Client credentials may also come as HTTP Basic (RFC 6749, 2.3.1)."""
        s = svc()
        params = await read_params(request)
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is not None:
            params.setdefault("client_id", basic[0])
            params.setdefault("client_secret", basic[1])
        if params.get("grant_type") and params["grant_type"] not in GRANT_TYPES:
            raise _oauth_error(400, "unsupported_grant_type",
                               f"grant_type must be one of: {', '.join(GRANT_TYPES)}")
        req = validated(TokenRequest, params)
        if req.grant_type != "refresh_token":
            # Per client id: bounds guesses at one secret and the argon2 work they cost. A refresh
            # grant names no client and hashes nothing (as POST /v1/auth/refresh): one shared
            # bucket for it would let anyone block everyone's renewals.
            who = req.client_id or req.username or "-"
            lim = settings.token_rate_limit
            wait = s.token_attempts.take(who, 1, lim.limit, lim.window_s)
            if wait:
                raise ApiProblem(429, "rate-limited", "too many token requests for this client; wait",
                                 headers={**retry_after_header(wait), **NO_STORE})
        pair = await call_auth(s.auth.issue, req.grant_type, client_id=req.client_id or None,
                               client_secret=req.client_secret or None, username=req.username or None,
                               password=req.password or None, scope=req.scope or None,
                               refresh_token=req.refresh_token or None)
        return token_response(pair)

    refresh_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": RefreshRequest.model_json_schema()},
        "application/x-www-form-urlencoded": {"schema": RefreshRequest.model_json_schema()}}}}

    @app.post("/v1/auth/refresh", tags=["auth"], response_model=TokenResponse,
              summary="Exchange a refresh token for a new pair",
              responses=_errors(400, 413, 415, 429), openapi_extra=refresh_body)
    async def refresh(request: Request) -> Any:
        """The refresh token is used up (rotation). Presenting a used one again revokes its whole
        family: a stolen token then stops working for the thief and the owner alike."""
        s = svc()
        req = validated(RefreshRequest, await read_params(request))
        return token_response(await call_auth(s.auth.refresh, req.refresh_token))

    revoke_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": RevokeRequest.model_json_schema()},
        "application/x-www-form-urlencoded": {"schema": RevokeRequest.model_json_schema()}}}}

    @app.post("/v1/auth/revoke", tags=["auth"], response_model=RevokeResponse,
              summary="Revoke a refresh token (and its family)",
              responses=_errors(400, 413, 415, 429), openapi_extra=revoke_body)
    async def revoke(request: Request) -> Any:
        """RFC 7009: answers 200 whether or not the token was valid, so it reveals nothing."""
        from starlette.responses import JSONResponse
        s = svc()
        req = validated(RevokeRequest, await read_params(request))
        await call_auth(s.auth.revoke, req.token)
        return JSONResponse(RevokeResponse().model_dump(), headers=NO_STORE)

    # -- prediction -------------------------------------------------------------------------
    @app.post("/v1/predict", tags=["predict"], response_model=PredictResponse,
              summary="Score one or more cases", responses=_errors(*_BASE_ERRORS, 400, 415, 422, 503),
              openapi_extra={**security("predict"), **json_request(predict_request)})
    async def predict(request: Request, principal: Principal = Depends(require("predict"))) -> Any:
        """Returns, per record, the probability of the positive class, the label at the model's
        threshold, and a prediction id for feedback. Supports, does not replace, a pathologist."""
        s = svc()
        body = await json_body(request, predict_request)
        records = body.records  # type: ignore[attr-defined]
        _, quota = settings.limits_for(principal.sub)
        wait = s.rows.take(principal.sub, len(records), quota.limit, quota.window_s)
        if wait:
            raise ApiProblem(429, "quota-exceeded",
                             f"row quota of {quota.limit} per {quota.window_s:g} s used up", 
                             headers=retry_after_header(wait))
        # A record's fields are the contract's features, in contract order (serve/schemas.py).
        values = [list(r.__dict__.values()) for r in records]
        rows = np.array(values, dtype=np.float64 if numeric else object)
        try:
            scores = await asyncio.wait_for(s.backend.predict(rows), settings.predict_timeout_s)
        except (asyncio.TimeoutError, ModelUnavailable):
            raise ApiProblem(503, "model-unavailable",
                             "the model did not answer in time (restarting or overloaded); retry shortly",
                             headers={"Retry-After": "1"}) from None
        now = utcnow()
        out, stored = [], []
        positive, negative = contract.target.positive, contract.target.negative
        features = [r.tobytes() for r in rows] if numeric else [json.dumps(v) for v in values]
        for pid, p, row_features in zip(new_prediction_ids(len(values)), scores.probabilities, features):
            label = positive if p >= scores.threshold else negative
            out.append({"prediction_id": pid, "label": label, "probability": p,
                        "threshold": scores.threshold, "model_version": scores.version})
            stored.append(PredictionRow(pid, principal.sub, now, scores.version, label, p, scores.threshold,
                                        row_features))
        s.store.add_predictions(stored)
        return {"model_version": scores.version, "positive_label": positive, "predictions": out,
                "notice": DECISION_SUPPORT}

    async def find_prediction(s: Service, prediction_id: str) -> tuple[PredictionRow, str | None] | None:
        """The prediction, wherever it was made. Each ingress replica buffers its predictions
        for `prediction_flush_s` before writing them; an id issued moments ago by another
        replica may not be in the database yet, so a miss on a fresh id is retried until the
        other replica's flush must have landed (a second or so). Old or invented ids: no wait."""
        patience_s = 1.0 + 4 * settings.prediction_flush_s
        while True:
            found = await asyncio.to_thread(s.store.get_prediction, prediction_id)
            age = prediction_id_age_s(prediction_id)
            if found is not None or not -1.0 <= age <= patience_s:  # a future stamp was never issued
                return found
            await asyncio.sleep(settings.prediction_flush_s)

    @app.get("/v1/predictions/{prediction_id}", tags=["predict"], response_model=StoredPrediction,
             summary="Read back one of your predictions", responses=_errors(*_BASE_ERRORS, 404, 422),
             openapi_extra=security("predict"))
    async def get_prediction(prediction_id: str = Path(pattern=ID_PATTERN),
                             principal: Principal = Depends(require("predict"))) -> Any:
        """Visible only to the client that made it: any other caller gets 404, as if it did not exist."""
        s = svc()
        found = await find_prediction(s, prediction_id)
        if found is None or found[0].client_id != principal.sub:
            raise ApiProblem(404, "not-found", "no prediction with this id was made by this client")
        row, feedback = found
        values = [int(v) if f in int_features else v for f, v in zip(feature_names, row.feature_values())]
        return {"prediction_id": row.id, "label": row.label, "probability": row.probability,
                "threshold": row.threshold, "model_version": row.model_version, "created_at": row.created_at,
                "features": dict(zip(feature_names, values)), "feedback_label": feedback,
                "notice": DECISION_SUPPORT}

    @app.post("/v1/feedback", tags=["feedback"], response_model=FeedbackResponse, status_code=201,
              summary="Send the confirmed diagnosis for a prediction",
              responses=_errors(*_BASE_ERRORS, 400, 404, 409, 415, 422),
              openapi_extra={**security("feedback"), **json_request(feedback_request)})
    async def feedback(request: Request, principal: Principal = Depends(require("feedback"))) -> Any:
        """Once per prediction, by the client that made it; never overwritten (409 on a second try).
        Stored durably before the 201, for live accuracy monitoring."""
        s = svc()
        body = await json_body(request, feedback_request)
        pid, label = body.prediction_id, body.label  # type: ignore[attr-defined]
        found = await find_prediction(s, pid)
        if found is None or found[0].client_id != principal.sub:
            raise ApiProblem(404, "not-found", "no prediction with this id was made by this client")
        try:
            recorded_at = await asyncio.to_thread(s.store.add_feedback, pid, principal.sub, label)
        except FeedbackExists:
            raise ApiProblem(409, "feedback-exists",
                             "feedback for this prediction was already recorded; it is never overwritten") from None
        return {"prediction_id": pid, "label": label, "recorded_at": recorded_at}

    # -- model ----------------------------------------------------------------------------
    @app.get("/v1/model", tags=["model"], response_model=ModelCard, summary="The served model's card",
             responses=_errors(*_BASE_ERRORS, 503), openapi_extra=security("predict", "monitor", "admin"))
    async def model_card(principal: Principal = Depends(require("predict", "monitor", "admin"))) -> Any:
        """Version, evaluation metrics, threshold, training data hash and feature contract."""
        s = svc()
        try:
            card = await asyncio.wait_for(s.backend.card(), settings.predict_timeout_s)
        except (asyncio.TimeoutError, ModelUnavailable):
            raise ApiProblem(503, "model-unavailable", "the model did not answer in time; retry shortly",
                             headers={"Retry-After": "1"}) from None
        return {**card, "notice": DECISION_SUPPORT}

    @app.post("/v1/admin/model", tags=["admin"], response_model=AdminModelResponse,
              summary="Activate a registered model version, or roll back",
              responses=_errors(*_BASE_ERRORS, 400, 409, 422), openapi_extra=security("admin"))
    async def admin_model(body: AdminModelRequest, principal: Principal = Depends(require("admin"))) -> Any:
        """Switches production in the registry (audited there with the token's `sub` as actor);
        model replicas pick it up without downtime."""
        s = svc()
        reg = s.registry
        previous = await asyncio.to_thread(reg.production)
        reason = body.reason or f"via POST /v1/admin/model by {principal.sub}"
        try:
            if body.action is AdminAction.activate:
                if not body.version:
                    raise ApiProblem(422, "validation-error", "`version` is required to activate",
                                     invalid_params=[{"name": "version", "reason": "required for activate"}])
                if body.version not in await asyncio.to_thread(reg.versions):
                    raise ApiProblem(422, "validation-error", f"version {body.version} is not registered",
                                     invalid_params=[{"name": "version", "reason": "not a registered version"}])
                await asyncio.to_thread(reg.promote, body.version, actor=principal.sub, reason=reason)
                current = body.version
            else:
                current = await asyncio.to_thread(reg.rollback, actor=principal.sub, reason=reason)
        except IntegrityError:
            raise ApiProblem(409, "model-integrity",
                             "the model file of that version does not match its recorded checksum; production "
                             "is unchanged. Restore the file or retrain, then try again") from None
        except RegistryError:
            raise ApiProblem(409, "registry-conflict",
                             "the registry refused: there is no earlier production version to roll back to"
                             if body.action is AdminAction.rollback else "the registry refused this change") from None
        try:
            served: str | None = await asyncio.wait_for(s.backend.refresh(), settings.predict_timeout_s)
        except (asyncio.TimeoutError, ModelUnavailable):
            served = None  # the replicas still follow the pointer on their own
        log.info("admin %s: production %s -> %s by %s", body.action.value, previous, current, principal.sub)
        return {"action": body.action, "production_version": current, "previous_version": previous,
                "actor": principal.sub, "served_version": served}

    # -- health ---------------------------------------------------------------------------
    @app.get("/health/live", tags=["health"], response_model=Health, summary="The process answers")
    async def live() -> Any:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"], response_model=Health, summary="A model is loaded",
             responses=_errors(503))
    async def ready() -> Any:
        s = app.state.service
        ok = False
        if s is not None:
            try:
                ok = await asyncio.wait_for(s.backend.ready(), 2.0)
            except (asyncio.TimeoutError, ModelUnavailable):
                ok = False
        if not ok:
            raise ApiProblem(503, "not-ready", "no model is loaded yet; retry shortly", headers={"Retry-After": "2"})
        return {"status": "ready"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, openapi_version="3.1.0", summary=app.summary,
                           description=app.description, routes=app.routes,
                           tags=[{"name": t} for t in ("auth", "predict", "feedback", "model", "admin", "health")])
        # The bodies json_body reads, which FastAPI did not collect from the routes' parameters.
        _, defs = models_json_schema([(predict_request, "validation"), (feedback_request, "validation")],
                                     ref_template="#/components/schemas/{model}")
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs.get("$defs", {}))
        spec["components"]["schemas"] = dict(sorted(schemas.items()))
        spec["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "An access token from POST /v1/auth/token."},
            "oauth2": {"type": "oauth2", "flows": {
                "clientCredentials": {"tokenUrl": "/v1/auth/token", "scopes": {s: s for s in SCOPES}},
                "password": {"tokenUrl": "/v1/auth/token", "scopes": {s: s for s in SCOPES}}}},
        }
        # OpenAPI links: a prediction id from POST /v1/predict feeds GET /v1/predictions/{id}
        # (clients and stateful fuzzers follow them).
        spec["paths"]["/v1/predict"]["post"]["responses"]["200"]["links"] = {"ReadPrediction": {
            "operationRef": "#/paths/~1v1~1predictions~1{prediction_id}/get",
            "parameters": {"prediction_id": "$response.body#/predictions/0/prediction_id"},
            "description": "Read the first prediction back."}}
        for path in spec["paths"].values():
            for op in path.values():
                for code, resp in op.get("responses", {}).items():
                    content = resp.get("content", {})
                    if code[0] in "45" and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    # The guard wraps the whole stack, outside Starlette's error middleware, so that even a
    # 500 answer carries the security headers.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: Guard(  # type: ignore[method-assign]
        build_stack(), max_body_bytes=settings.max_body_bytes, cors_origins=settings.cors_origins)
    return app


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _oauth_error(400, "invalid_request", "the Basic credentials are not valid base64") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _oauth_error(400, "invalid_request", "the Basic credentials must be client_id:client_secret")
    return unquote(client_id), unquote(secret)


def _oauth_error(status: int, error: str, detail: str, **extra: Any) -> ApiProblem:
    return ApiProblem(status, "oauth-" + error.replace("_", "-"), detail, headers=dict(NO_STORE),
                      error=error, error_description=detail, **extra)


def _auth_problem(exc: AuthError, oauth: bool = False) -> ApiProblem:
    headers = dict(NO_STORE)
    if exc.www_authenticate:
        headers["WWW-Authenticate"] = exc.www_authenticate
    kind = {401: "unauthorized", 403: "insufficient-scope"}.get(exc.status, "oauth-" + exc.error.replace("_", "-"))
    if oauth and exc.status == 400:
        kind = "oauth-" + exc.error.replace("_", "-")
    return ApiProblem(exc.status, kind, exc.detail, headers=headers, error=exc.error, error_description=exc.detail)


__all__ = ["Service", "create_api"]
