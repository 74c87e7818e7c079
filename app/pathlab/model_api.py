"""Client of the model's API, written from its published documentation (docs/api.qmd, docs/auth.qmd
and docs/api/openapi.json of the modelship project).

Authentication is OAuth 2 client credentials. The access token is renewed `renew_before_s`
before it expires; a 401 `invalid_token` renews once and repeats the request once. Refresh
tokens rotate: only the newest is kept, and a refused refresh falls back to the credentials.
The API treats a refresh token presented twice as stolen and ends the session, so renewals go
through one asyncio lock: one renewal in flight per process, whatever the number of concurrent
requests (see the README for several worker processes).

Every answer other than success becomes a `ModelApiError` subclass whose `what` and `todo`
say, in words for lab staff, what happened and what to do.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from pathlab.settings import ModelApiSettings

SECRET_ENV = "PATHLAB_MODEL_API_SECRET"


class ModelApiError(Exception):
    """The API could not give an answer; `what` and `todo` are shown to the user."""

    status: int | None = None
    what = "The model's service did not give an answer."
    todo = "Try again in a minute; if it keeps failing, tell the lab's IT support."

    def __init__(self, detail: str = "", *, status: int | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail or self.what)
        self.detail = detail
        if status is not None:
            self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later, unchanged."""
        return False


class NotConfigured(ModelApiError):
    what = "The model's service is not set up for this app."
    todo = "Ask the lab's IT support to give the app its API client; your work here is not affected."

    @property
    def transient(self) -> bool:
        return True  # an operator's fix, not the request's: what waits for it is kept


class Unauthorized(ModelApiError):
    status = 401
    what = "The model's service did not accept the app's credentials."
    todo = "Tell the lab's IT support: the app's API client may have been disabled or its secret changed."


class Forbidden(ModelApiError):
    status = 403
    what = "The model's service refused this request: the app is not allowed to make it."
    todo = "Tell the lab's IT support: the app's API client lacks a permission (scope) it needs."


class NotFound(ModelApiError):
    status = 404
    what = "The model's service does not know this prediction."
    todo = "Assess the case again; if this keeps happening, tell the lab's IT support."


class Conflict(ModelApiError):
    status = 409
    what = "The model's service already holds this information."
    todo = "Nothing to do."


class Invalid(ModelApiError):
    status = 422
    what = "The model's service refused this case's measurements."
    todo = "Check the measurements with the lab's IT support: the model cannot assess this case as it stands."

    def __init__(self, detail: str = "", *, invalid_params: list[dict[str, str]] | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.invalid_params = invalid_params or []


class RateLimited(ModelApiError):
    status = 429
    what = "The model's service is receiving too many requests from the app."

    @property
    def todo(self) -> str:  # type: ignore[override]
        wait = self.retry_after or 1
        return f"Wait {wait} second{'s' if wait != 1 else ''}, then try again."

    @property
    def transient(self) -> bool:
        return True


class Unavailable(ModelApiError):
    status = 503
    what = "The model's service is starting, restarting or overloaded."

    @property
    def todo(self) -> str:  # type: ignore[override]
        wait = self.retry_after or 5
        return f"Try again in {wait} second{'s' if wait != 1 else ''} or so."

    @property
    def transient(self) -> bool:
        return True


class Timeout(ModelApiError):
    what = "The model's service did not answer in time."
    todo = "Try again in a minute; if it keeps failing, tell the lab's IT support."

    @property
    def transient(self) -> bool:
        return True


class Unreachable(ModelApiError):
    what = "The app could not reach the model's service: it seems to be down."
    todo = "Try again in a few minutes; if it keeps failing, tell the lab's IT support."

    @property
    def transient(self) -> bool:
        return True


class BadAnswer(ModelApiError):
    what = "The model's service gave an answer the app does not understand."
    todo = "Tell the lab's IT support, with the time it happened."

    @property
    def transient(self) -> bool:
        return self.status is not None and self.status >= 500


@dataclass(frozen=True)
class Prediction:
    prediction_id: str
    probability: float
    label: str
    threshold: float
    model_version: str
    positive_label: str
    notice: str


@dataclass
class _Tokens:
    access: str
    refresh: str | None
    expires_at: float  # monotonic clock


def read_secret(settings: ModelApiSettings) -> str | None:
    """The client secret: from the environment, else from the (git-ignored) secret file."""
    value = os.environ.get(SECRET_ENV, "").strip()
    if value:
        return value
    try:
        return settings.secret_file.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _retry_after(response: httpx.Response) -> int | None:
    raw = response.headers.get("retry-after", "")
    return max(1, int(raw)) if raw.isdigit() else None


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_for(response: httpx.Response) -> ModelApiError:
    """The typed error of a refused answer."""
    problem = _problem(response)
    detail = str(problem.get("detail") or problem.get("error_description") or "")
    status = response.status_code
    retry_after = _retry_after(response)
    kinds: dict[int, type[ModelApiError]] = {
        401: Unauthorized,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        429: RateLimited,
        503: Unavailable,
    }
    if status == 400 and problem.get("error") == "invalid_scope":
        # the token endpoint's way of saying the client was not given a scope the app asks for
        return Forbidden(detail or "invalid_scope", status=status)
    if status == 422:
        params = problem.get("invalid_params")
        return Invalid(detail, invalid_params=params if isinstance(params, list) else None, retry_after=retry_after)
    kind = kinds.get(status, BadAnswer)
    return kind(detail or f"HTTP {status}", status=status, retry_after=retry_after)


def documented_cap(document: dict[str, Any]) -> int:
    """`maxItems` of the `records` of POST /v1/predict's JSON body, following its `$ref`."""
    try:
        body = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in body:
            prefix = "#/components/schemas/"
            ref = str(body["$ref"])
            if not ref.startswith(prefix):
                raise KeyError(ref)
            body = document["components"]["schemas"][ref.removeprefix(prefix)]
        cap = body["properties"]["records"]["maxItems"]
    except (KeyError, TypeError):
        raise BadAnswer("the API's OpenAPI document does not give the records limit of POST /v1/predict") from None
    if not isinstance(cap, int) or cap < 1:
        raise BadAnswer(f"the API's OpenAPI document gives an unusable records limit: {cap!r}")
    return cap


class ModelApi:
    """One client per process, shared by every request of the app (its lock is what makes
    "one renewal in flight" true); use it from the event loop it was created on."""

    def __init__(
        self,
        settings: ModelApiSettings,
        secret: str | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._secret = secret
        self._clock = clock
        self._tokens: _Tokens | None = None
        self._cap: int | None = None
        self._lock = asyncio.Lock()
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=timeout, follow_redirects=False)
        # What the client did, for the operator's view and the tests: counts only, never a token.
        self.renewals = {"client_credentials": 0, "refresh": 0, "refresh_refused": 0, "after_401": 0}

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- the API's operations ----------------------------------------------------------------
    async def predict(self, record: dict[str, float]) -> Prediction:
        return (await self.predict_many([record]))[0]

    async def predict_many(self, records: list[dict[str, float]]) -> list[Prediction]:
        """One request for several cases (at most `batch_cap()`), one prediction each, in order."""
        body = await self._call("POST", "/v1/predict", {"records": records})
        try:
            found = [
                Prediction(
                    prediction_id=str(item["prediction_id"]),
                    probability=float(item["probability"]),
                    label=str(item["label"]),
                    threshold=float(item["threshold"]),
                    model_version=str(item["model_version"]),
                    positive_label=str(body.get("positive_label", "")),
                    notice=str(body.get("notice", "")),
                )
                for item in body["predictions"]
            ]
        except (KeyError, TypeError, ValueError):
            raise BadAnswer("POST /v1/predict answered without its predictions") from None
        if len(found) != len(records):
            raise BadAnswer(f"POST /v1/predict answered {len(found)} predictions for {len(records)} records")
        return found

    async def batch_cap(self) -> int:
        """How many records one POST /v1/predict takes: the `maxItems` of its request body in the
        API's published OpenAPI document (GET /openapi.json), lowered by the app's own
        `max_batch_records` if set. Read once per client; the documented limit is the API's
        to change, so it is never copied into the app."""
        if self._cap is None:
            response = await self._send("GET", "/openapi.json")
            if response.status_code != 200:
                raise error_for(response)
            self._cap = documented_cap(_problem(response))
        own = self.settings.max_batch_records
        return min(self._cap, own) if own else self._cap

    async def feedback(self, prediction_id: str, label: str) -> dict[str, Any]:
        return await self._call("POST", "/v1/feedback", {"prediction_id": prediction_id, "label": label})

    async def model_card(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/model")

    async def revoke(self) -> None:
        """Give the refresh token back (RFC 7009) and forget both tokens."""
        async with self._lock:
            tokens, self._tokens = self._tokens, None
        if tokens is not None and tokens.refresh:
            await self._send("POST", "/v1/auth/revoke", form={"token": tokens.refresh})

    # ---- authentication ------------------------------------------------------------------------
    async def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        token = await self._access_token()
        response = await self._send(method, path, json=json, token=token)
        if response.status_code == 401:
            # Renew once and repeat once; never repeat with the token that was refused.
            token = await self._renew_after_401(token)
            response = await self._send(method, path, json=json, token=token)
        if response.status_code >= 300:
            raise error_for(response)
        try:
            body = response.json()
        except ValueError:
            raise BadAnswer(
                f"{method} {path} answered something that is not JSON", status=response.status_code
            ) from None
        if not isinstance(body, dict):
            raise BadAnswer(f"{method} {path} answered something that is not a JSON object")
        return body

    async def _access_token(self) -> str:
        tokens = self._tokens
        if tokens is not None and self._clock() < tokens.expires_at - self.settings.renew_before_s:
            return tokens.access
        async with self._lock:
            tokens = self._tokens  # another request may have renewed while this one waited
            if tokens is not None and self._clock() < tokens.expires_at - self.settings.renew_before_s:
                return tokens.access
            return (await self._renew()).access

    async def _renew_after_401(self, refused: str) -> str:
        async with self._lock:
            tokens = self._tokens
            if tokens is not None and tokens.access != refused:
                return tokens.access  # renewed by a concurrent request meanwhile
            self.renewals["after_401"] += 1
            return (await self._renew()).access

    async def _renew(self) -> _Tokens:
        """Called with the lock held: refresh if a refresh token is kept, else (or if refused)
        authenticate with the credentials."""
        tokens = self._tokens
        if tokens is not None and tokens.refresh:
            response = await self._send("POST", "/v1/auth/refresh", form={"refresh_token": tokens.refresh})
            if response.status_code == 200:
                self.renewals["refresh"] += 1
                return self._keep(response)
            if response.status_code not in (400, 401):
                raise error_for(response)
            # invalid_grant: expired, used or revoked; the credentials start a new session.
            self.renewals["refresh_refused"] += 1
        self._tokens = None
        if not self._secret:
            raise NotConfigured("no client secret: set PATHLAB_MODEL_API_SECRET or the secret file")
        response = await self._send(
            "POST",
            "/v1/auth/token",
            form={
                "grant_type": "client_credentials",
                "client_id": self.settings.client_id,
                "client_secret": self._secret,
                "scope": self.settings.scopes,
            },
        )
        if response.status_code != 200:
            raise error_for(response)
        self.renewals["client_credentials"] += 1
        return self._keep(response)

    def _keep(self, response: httpx.Response) -> _Tokens:
        body = _problem(response)
        access, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(access, str) or not isinstance(expires_in, int | float) or not math.isfinite(expires_in):
            raise BadAnswer("the token endpoint answered without an access token and its lifetime")
        refresh = body.get("refresh_token")
        self._tokens = _Tokens(access, refresh if isinstance(refresh, str) else None, self._clock() + expires_in)
        return self._tokens

    # ---- transport -------------------------------------------------------------------------------
    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await self._http.request(method, path, json=json, data=form, headers=headers)
        except httpx.TimeoutException:
            raise Timeout(f"{method} {path}: no answer within {self.settings.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{method} {path}: {type(exc).__name__}") from None
