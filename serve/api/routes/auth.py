"""POST /v1/auth/token, /v1/auth/refresh, /v1/auth/revoke: OAuth 2 style tokens (docs/auth.qmd)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from serve.api.body import basic_credentials, form_or_json, form_or_json_request, validated_params
from serve.api.deps import ServiceDep
from serve.api.errors import auth_problem, oauth_error
from serve.api.openapi import errors
from serve.auth import GRANT_TYPES, NO_STORE, AuthError, TokenPair
from serve.problems import ApiProblem
from serve.ratelimit import retry_after_header
from serve.schemas import RefreshRequest, RevokeRequest, RevokeResponse, TokenRequest, TokenResponse
from serve.service import Service

router = APIRouter(prefix="/v1/auth", tags=["auth"])


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # argon2 hashing is deliberately slow: keep it off the event loop.
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except AuthError as exc:
        raise auth_problem(exc) from None


def _tokens(pair: TokenPair) -> JSONResponse:
    body = TokenResponse(
        access_token=pair.access_token,
        token_type="Bearer",
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        scope=pair.scope,
    )
    return JSONResponse(body.model_dump(), headers=NO_STORE)


KNOWN = "known:"


def _rate_limited(detail: str, wait: float) -> ApiProblem:
    return ApiProblem(429, "rate-limited", detail, headers={**retry_after_header(wait), **NO_STORE})


def admit_token_request(service: Service, pair: str, address: str) -> None:
    """Let a credential grant reach argon2, or answer 429 (docs/auth.qmd, rate limits).

    `pair` is the client id and the source address. A pair that authenticated before spends
    only its own bucket: floods from other addresses, or with other ids, cannot lock it out.
    Any other request spends its address's bucket, its pair's, and the global one, which
    bounds the hashing that unknown ids and new addresses cost, whatever their number."""
    limits, buckets = service.settings.limits, service.token_attempts
    steps = [("pair:" + pair, limits.token_rate_limit, "too many token requests for this client; wait")]
    if not buckets.remembers(KNOWN + pair):
        steps.insert(
            0, ("address:" + address, limits.token_ip_rate_limit, "too many token requests from this address; wait")
        )
        steps.append(
            (
                "global",
                limits.token_global_rate_limit,
                "too many token requests from unknown clients or addresses; wait",
            )
        )
    for key, lim, detail in steps:
        wait = buckets.take(key, 1, lim.limit, lim.window_s)
        if wait:
            raise _rate_limited(detail, wait)


def admit_renewal(service: Service, request: Request) -> None:
    """Let a refresh or a revocation through, or answer 429: one budget per source address. No
    client id is involved, so no other address's requests can spend it."""
    address = request.client.host if request.client else "-"
    lim = service.settings.limits.renew_ip_rate_limit
    wait = service.token_attempts.take("renew:" + address, 1, lim.limit, lim.window_s)
    if wait:
        raise _rate_limited("too many token renewals or revocations from this address; wait", wait)


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Get an access token and a refresh token",
    responses=errors(400, 401, 413, 415, 429),
    openapi_extra=form_or_json_request(TokenRequest),
)
async def token(request: Request, service: ServiceDep) -> Any:
    """OAuth 2 token endpoint: `client_credentials` for services, `password` for people,
    `refresh_token` to renew. Client credentials may also come as HTTP Basic (RFC 6749, 2.3.1)."""
    params = await form_or_json(request)
    basic = basic_credentials(request.headers.get("authorization"))
    if basic is not None:
        params.setdefault("client_id", basic[0])
        params.setdefault("client_secret", basic[1])
    if params.get("grant_type") and params["grant_type"] not in GRANT_TYPES:
        raise oauth_error(400, "unsupported_grant_type", f"grant_type must be one of: {', '.join(GRANT_TYPES)}")
    req = validated_params(TokenRequest, params)
    # A refresh grant names no client and hashes nothing (as POST /v1/auth/refresh): it spends only
    # its address's renewal budget, since a shared bucket would let anyone block everyone's renewals.
    pair = None
    if req.grant_type == "refresh_token":
        admit_renewal(service, request)
    else:
        address = request.client.host if request.client else "-"
        pair = f"{req.client_id or req.username or '-'} {address}"
        admit_token_request(service, pair, address)
    tokens = await _call(
        service.auth.issue,
        req.grant_type,
        client_id=req.client_id or None,
        client_secret=req.client_secret or None,
        username=req.username or None,
        password=req.password or None,
        scope=req.scope or None,
        refresh_token=req.refresh_token or None,
    )
    if pair is not None:
        service.token_attempts.remember(KNOWN + pair, service.settings.limits.token_known_address_s)
    return _tokens(tokens)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Exchange a refresh token for a new pair",
    responses=errors(400, 413, 415, 429),
    openapi_extra=form_or_json_request(RefreshRequest),
)
async def refresh(request: Request, service: ServiceDep) -> Any:
    """The refresh token is used up (rotation). Presenting a used one again revokes its whole
    family: a stolen token then stops working for the thief and the owner alike."""
    req = validated_params(RefreshRequest, await form_or_json(request))
    admit_renewal(service, request)
    return _tokens(await _call(service.auth.refresh, req.refresh_token))


@router.post(
    "/revoke",
    response_model=RevokeResponse,
    summary="Revoke a refresh token (and its family)",
    responses=errors(400, 413, 415, 429),
    openapi_extra=form_or_json_request(RevokeRequest),
)
async def revoke(request: Request, service: ServiceDep) -> Any:
    """RFC 7009: answers 200 whether or not the token was valid, so it reveals nothing."""
    req = validated_params(RevokeRequest, await form_or_json(request))
    admit_renewal(service, request)
    await _call(service.auth.revoke, req.token)
    return JSONResponse(RevokeResponse().model_dump(), headers=NO_STORE)
