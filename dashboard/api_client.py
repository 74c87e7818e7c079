"""The dashboard's client of the API: tokens (docs/auth.qmd) and the monitoring summary.

Every answer other than success becomes an `Upstream` error whose `title` and `message` say, in
words for the person at the dashboard, what happened and what to do; nothing else of the
answer (never a token, never a trace) reaches a page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

MONITOR_SCOPE = "monitor"
GRANTS = {"service": "client_credentials", "user": "password"}


class Upstream(Exception):
    """The API gave no usable answer; `title` and `message` are shown on the page."""

    status = 502
    title = "The monitoring service gave no answer"
    message = "The dashboard could not read the figures. Try again in a minute; if it keeps failing, tell the operator."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.retry_after = retry_after


class Unreachable(Upstream):
    status = 503
    title = "The monitoring service cannot be reached"


class CredentialsRefused(Upstream):
    status = 401
    title = "Sign-in refused"
    message = (
        "The service did not accept this id and secret for this kind of account. Check them (a client "
        "signs in with its client id and secret, a person with their username and password)."
    )


class ScopeMissing(Upstream):
    status = 403
    title = "This account may not read the monitoring"
    message = (
        "The service knows this account, but it does not hold the monitor scope. Ask an operator for an "
        "account made with `make client NAME=... SCOPES=monitor`."
    )


class SessionEnded(Upstream):
    status = 401
    title = "Your session with the service ended"
    message = (
        "The service no longer accepts this session (it expired, was revoked, or the account was "
        "disabled). Sign in again."
    )


class MonitoringOff(Upstream):
    status = 404
    title = "Monitoring is turned off in the service"
    message = "The service answers, but its monitoring is off (monitoring.enabled in its settings)."


class Busy(Upstream):
    status = 503
    title = "The monitoring service is busy or restarting"


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    expires_at: float  # the access token's end, on this machine's clock
    lifetime_s: float
    scope: str

    def due(self, renew_before_s: float, now: float) -> bool:
        return now >= self.expires_at - min(renew_before_s, self.lifetime_s / 4)


def _wait_of(response: httpx.Response) -> int | None:
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else None


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def _busy(response: httpx.Response) -> Busy:
    wait = _wait_of(response) or 5
    return Busy(f"The service answered {response.status_code}; the dashboard tries again in {wait} seconds or so.")


class ApiClient:
    """One HTTP connection pool to the API, shared by every session of the dashboard."""

    def __init__(self, base_url: str, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, transport=transport)

    async def close(self) -> None:
        await self.http.aclose()

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self.http.request(method, path, **kw)
        except httpx.HTTPError:
            raise Unreachable(
                f"No answer from {self.base_url}: the service may be stopped or restarting. "
                "The dashboard tries again at its next update."
            ) from None

    def _tokens(self, response: httpx.Response) -> Tokens:
        body = response.json()
        lifetime = float(body["expires_in"])
        return Tokens(body["access_token"], body["refresh_token"], time.time() + lifetime, lifetime, body["scope"])

    async def sign_in(self, kind: str, identifier: str, secret: str) -> Tokens:
        """A token pair with the monitor scope only, whatever else the account holds."""
        grant = GRANTS[kind]
        fields = {"client_id": identifier, "client_secret": secret}
        if kind == "user":
            fields = {"username": identifier, "password": secret}
        r = await self._send("POST", "/v1/auth/token", data={"grant_type": grant, "scope": MONITOR_SCOPE, **fields})
        if r.status_code == 200:
            return self._tokens(r)
        error = _error_of(r)
        if error == "invalid_scope" or r.status_code == 403:
            raise ScopeMissing()
        if r.status_code == 401 or error in ("invalid_client", "invalid_grant", "unauthorized_client"):
            raise CredentialsRefused()
        if r.status_code == 429:
            wait = _wait_of(r) or 1
            raise CredentialsRefused(f"Too many sign-in attempts: wait {wait} seconds, then try again.")
        raise _busy(r)

    async def refresh(self, tokens: Tokens) -> Tokens:
        r = await self._send(
            "POST", "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens.refresh}
        )
        if r.status_code == 200:
            return self._tokens(r)
        if r.status_code in (400, 401):
            raise SessionEnded()
        raise _busy(r)

    async def revoke(self, tokens: Tokens) -> None:
        """Give the refresh token back (its whole family ends); a service that is down cannot be told."""
        try:
            await self._send("POST", "/v1/auth/revoke", data={"token": tokens.refresh})
        except Unreachable:
            pass

    async def get(self, path: str, tokens: Tokens) -> dict[str, Any]:
        r = await self._send("GET", path, headers={"Authorization": f"Bearer {tokens.access}"})
        if r.status_code == 200:
            body: dict[str, Any] = r.json()
            return body
        if r.status_code == 401:
            raise SessionEnded()
        if r.status_code == 403:
            raise ScopeMissing()
        if r.status_code == 404:
            raise MonitoringOff()
        raise _busy(r)
