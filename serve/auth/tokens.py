"""Token formats (RFC 9068 access tokens, rotating refresh tokens) and the errors clients see."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jwt

from .keys import KeyRing
from .settings import AuthSettings

SCOPES: tuple[str, ...] = ("predict", "feedback", "monitor", "admin")
KINDS: tuple[str, ...] = ("service", "user")
# The token endpoint's grants; a Literal of the request schema can be built from it.
GRANT_TYPES: tuple[str, ...] = ("client_credentials", "password", "refresh_token")
# Headers of every token response and every authentication error (RFC 6749, section 5.1).
NO_STORE: Mapping[str, str] = MappingProxyType({"Cache-Control": "no-store", "Pragma": "no-cache"})

ALGORITHM = "HS256"  # pinned here, never read from a token (RFC 8725, section 3.1)
ACCESS_TYP = "at+jwt"  # RFC 9068, section 2.1
REFRESH_TYP = "rt+jwt"  # our own: a refresh token must never pass as an access token
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub", "client_id", "jti", "scope", "kind")
# A Bearer token bigger than this is not one of ours; refuse before parsing it (OWASP API4).
MAX_TOKEN_CHARS = 4096

# RFC 6750, section 3: error_description may only hold these characters.
_UNSAFE_IN_QUOTES = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')
_B64URL_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


class AuthError(Exception):
    """A refusal the API turns into an HTTP response; every field is safe to show the client."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        www_authenticate: str | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.www_authenticate = www_authenticate

    @classmethod
    def no_credentials(cls, realm: str, detail: str = "a Bearer access token is required") -> AuthError:
        """401 without an error code: RFC 6750 says so when no Bearer credentials were sent."""
        return cls(401, "invalid_request", detail, www_authenticate=f'Bearer realm="{realm}"')

    @classmethod
    def invalid_token(cls, realm: str, detail: str) -> AuthError:
        return cls(401, "invalid_token", detail, www_authenticate=challenge(realm, "invalid_token", detail))

    @classmethod
    def insufficient_scope(cls, realm: str, scope: str) -> AuthError:
        detail = f"this request needs the '{scope}' scope"
        header = challenge(realm, "insufficient_scope", detail) + f', scope="{scope}"'
        return cls(403, "insufficient_scope", detail, www_authenticate=header)

    @classmethod
    def invalid_client(cls, realm: str) -> AuthError:
        # One message whatever was wrong, so that a caller cannot tell a valid id from a bad secret.
        return cls(401, "invalid_client", "client authentication failed", www_authenticate=f'Bearer realm="{realm}"')

    @classmethod
    def bad_request(cls, error: str, detail: str) -> AuthError:
        return cls(400, error, detail)


def challenge(realm: str, error: str, detail: str) -> str:
    """A WWW-Authenticate value (RFC 6750, section 3)."""
    description = _UNSAFE_IN_QUOTES.sub("?", detail)
    return f'Bearer realm="{realm}", error="{error}", error_description="{description}"'


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified access token."""

    sub: str
    scopes: frozenset[str]
    jti: str
    exp: int
    kind: str


@dataclass(frozen=True)
class TokenPair:
    """The token endpoint's answer (RFC 6749, section 5.1)."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = field(kw_only=True)
    scope: str = field(kw_only=True)


class InvalidToken(Exception):
    """Internal: why a token was refused; the service maps it to a client-facing AuthError."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def format_scopes(scopes: Iterable[str]) -> str:
    """Scopes in the canonical order of SCOPES, space-separated (RFC 6749, section 3.3)."""
    wanted = set(scopes)
    return " ".join(s for s in SCOPES if s in wanted)


def new_jti() -> str:
    return uuid.uuid4().hex


class TokenCodec:
    """Signs and checks our two token types with the key ring."""

    def __init__(self, settings: AuthSettings, ring: KeyRing) -> None:
        self._settings = settings
        self._ring = ring
        # Refresh tokens go to the token endpoint, which the issuer identifies (RFC 8725, 3.9).
        self._audience = {ACCESS_TYP: settings.audience, REFRESH_TYP: settings.issuer}
        self._lifetime = {ACCESS_TYP: settings.access_ttl_s, REFRESH_TYP: settings.refresh_ttl_s}

    def encode(self, typ: str, *, sub: str, kind: str, scopes: Iterable[str], jti: str, now: int, exp: int) -> str:
        key = self._ring.active
        claims: dict[str, Any] = {
            "iss": self._settings.issuer,
            "aud": self._audience[typ],
            "sub": sub,
            "client_id": sub,
            "kind": kind,
            "scope": format_scopes(scopes),
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": exp,
        }
        return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": typ})

    def decode(self, token: str, typ: str, now: float) -> tuple[dict[str, Any], str]:
        """The claims and kid of a token we signed, of type typ, valid at now; else InvalidToken."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("the token is malformed")
        header = _peek_header(token)
        # Only the kid is taken from the header, and only to pick among our own keys.
        # jku, x5u, jwk and x5c are ignored: we never fetch or trust a key a token brings.
        if header.get("alg") != ALGORITHM or header.get("typ") != typ:
            raise InvalidToken("the token is invalid")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("the token is invalid")
        key = self._ring.get(kid, self._lifetime[typ], now)
        if key is None:
            raise InvalidToken("the token is invalid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.secret,
                algorithms=[ALGORITHM],
                audience=self._audience[typ],
                issuer=self._settings.issuer,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "strict_aud": True,
                    # Time is checked below against our clock, which tests can control.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError:
            raise InvalidToken("the token is invalid") from None
        self._check_times(claims, typ, now)
        _check_identity(claims)
        return claims, kid

    def _check_times(self, claims: dict[str, Any], typ: str, now: float) -> None:
        leeway = self._settings.leeway_s
        times = [claims[name] for name in ("exp", "iat", "nbf")]
        # bool is an int in Python; a JSON true must not pass as a timestamp.
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
            raise InvalidToken("the token is invalid")
        exp, iat, nbf = times
        # We never sign a token that outlives its type's lifetime: one that does was signed by
        # someone else holding our key, or minted to last. The leeway covers a refresh token
        # whose end time another process's clock set at sign-in.
        if not 0 < exp - iat <= self._lifetime[typ] + leeway:
            raise InvalidToken("the token is invalid")
        if exp <= now - leeway:
            raise InvalidToken("the token has expired")
        if iat > now + leeway or nbf > now + leeway:
            raise InvalidToken("the token is not valid yet")


def _check_identity(claims: dict[str, Any]) -> None:
    """sub, client_id, kind and scope hold the values we sign, or InvalidToken."""
    scope, kind, sub = claims["scope"], claims["kind"], claims["sub"]
    if not isinstance(scope, str) or not set(scope.split()) <= set(SCOPES):
        raise InvalidToken("the token is invalid")
    if kind not in KINDS or not isinstance(sub, str) or not sub:
        raise InvalidToken("the token is invalid")
    # RFC 9068, section 2.2 requires client_id; here every principal is its own client, so a
    # token naming another one was not signed by us.
    if claims["client_id"] != sub:
        raise InvalidToken("the token is invalid")


def _peek_header(token: str) -> dict[str, Any]:
    """The JOSE header, unverified, to choose a key. PyJWT checks it again while verifying.

    Done here rather than with jwt.get_unverified_header, which also decodes the payload
    and the signature: this runs on every request and needs only the header.
    """
    head, dot, _ = token.partition(".")
    if not dot or token.count(".") != 2 or not _B64URL_SEGMENT.fullmatch(head):
        raise InvalidToken("the token is malformed")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidToken("the token is malformed") from None
    if not isinstance(header, dict):
        raise InvalidToken("the token is malformed")
    return header
