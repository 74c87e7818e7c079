"""AuthService: the one object the API uses to issue, renew, revoke and check tokens."""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .keys import KeyRing
from .settings import AuthSettings
from .store import AuthStore, PrincipalRecord, RefreshRecord, RotationRefused
from .tokens import (
    ACCESS_TYP,
    GRANT_TYPES,
    KINDS,
    REFRESH_TYP,
    SCOPES,
    AuthError,
    InvalidToken,
    Principal,
    TokenCodec,
    TokenPair,
    format_scopes,
    new_jti,
)

DEFAULT_REALM = "modelship"
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Longer secrets are not ours; the cap keeps argon2 from hashing megabytes on request (OWASP API4).
MAX_SECRET_CHARS = 256
# RFC 6750, section 2.1: the b64token syntax of a Bearer credential.
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_INVALID_GRANT = "the refresh token is invalid, expired or revoked: authenticate again to get a new one"


@dataclass(frozen=True)
class ClientInfo:
    """What an operator may see of a principal: never its secret hash."""

    client_id: str
    kind: str
    scopes: tuple[str, ...]
    created_at: int
    disabled: bool


class AuthService:
    """Clients, tokens and their checks. Thread-safe; several processes may share one state_dir."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._clock = settings.clock
        self._realm = settings.realm
        self._ring = KeyRing(settings)  # refuses to start on a missing, short or placeholder key
        self._codec = TokenCodec(settings, self._ring)
        self._store = AuthStore(settings.db_path)
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
        )
        # Checked against when the id is unknown, so that a miss costs as much as a hit.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        self._cache: OrderedDict[str, tuple[Principal, str]] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- operators -------------------------------------------------------------------------

    def create_client(self, client_id: str, scopes: list[str], kind: str = "service") -> str:
        """Register a service client or a user; return its secret, which is never stored in clear."""
        if isinstance(scopes, str):  # "predict,feedback" or "predict feedback": not a list of letters
            scopes = scopes.replace(",", " ").split()
        if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
            raise AuthError.bad_request(
                "invalid_request",
                "the client id must be 1 to 64 characters: letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or a digit",
            )
        if kind not in KINDS:
            raise AuthError.bad_request("invalid_request", f"kind must be one of: {', '.join(KINDS)}")
        wanted = [s.strip() for s in scopes if s.strip()]
        unknown = sorted(set(wanted) - set(SCOPES))
        if unknown:
            raise AuthError.bad_request(
                "invalid_scope", f"unknown scope {', '.join(unknown)}: the scopes are {', '.join(SCOPES)}"
            )
        if not wanted:
            raise AuthError.bad_request("invalid_scope", f"give at least one scope among: {', '.join(SCOPES)}")
        secret = secrets.token_urlsafe(32)
        ordered = tuple(format_scopes(wanted).split())
        if not self._store.add_principal(client_id, kind, self._hasher.hash(secret), ordered, int(self._clock())):
            raise AuthError.bad_request("invalid_request", f"client {client_id!r} already exists: choose another id")
        return secret

    def list_clients(self) -> list[ClientInfo]:
        return [ClientInfo(r.id, r.kind, r.scopes, r.created_at, r.disabled) for r in self._store.list_principals()]

    def disable_client(self, client_id: str) -> None:
        """Refuse the client's credentials and revoke its refresh tokens (access tokens run out)."""
        if not self._store.set_disabled(client_id, True, int(self._clock())):
            raise AuthError.bad_request("invalid_request", f"no client {client_id!r}: see list-clients")

    def rotate_keys(self, drop_previous: bool = False) -> str:
        """New active signing key; the old ones verify until their tokens expire, or stop at once."""
        kid = self._ring.rotate(drop_previous=drop_previous)
        if drop_previous:
            with self._cache_lock:
                self._cache.clear()
        return kid

    # -- token endpoint --------------------------------------------------------------------

    def issue(
        self,
        grant_type: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        scope: str | None = None,
        refresh_token: str | None = None,
    ) -> TokenPair:
        """The token endpoint (RFC 6749, section 4.4, 4.3 and 6)."""
        if grant_type == "refresh_token":
            if not refresh_token:
                raise AuthError.bad_request("invalid_request", "the refresh_token parameter is missing")
            return self.refresh(refresh_token)
        if grant_type == "client_credentials":
            ident, secret, kind, names = client_id, client_secret, "service", "client_id and client_secret"
        elif grant_type == "password":
            ident, secret, kind, names = username, password, "user", "username and password"
        else:
            raise AuthError.bad_request(
                "unsupported_grant_type", f"grant_type must be one of: {', '.join(GRANT_TYPES)}"
            )
        if not ident or not secret:
            raise AuthError.bad_request("invalid_request", f"the {grant_type} grant needs {names}")
        record = self._authenticate(ident, secret, kind)
        scopes = self._granted_scopes(record, scope)
        now = int(self._clock())
        family = RefreshRecord(
            new_jti(), new_jti(), record.id, scopes, now, now + self.settings.refresh_ttl_s, None, None
        )
        self._store.add_refresh(family, now)
        return self._pair(record.kind, family, now)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair; the old one is used up (RFC 9700, 4.14.2)."""
        now = self._clock()
        self._ring.refresh()  # keys dropped by another process must stop their refresh tokens too
        try:
            claims, _ = self._codec.decode(refresh_token, REFRESH_TYP, now)
        except InvalidToken:
            raise AuthError.bad_request("invalid_grant", _INVALID_GRANT) from None
        record = self._store.get_principal(claims["sub"])
        if record is None or record.disabled:
            self._store.revoke_family_of(claims["jti"], int(now))
            raise AuthError.bad_request("invalid_grant", _INVALID_GRANT)
        try:
            successor = self._store.rotate_refresh(claims["jti"], record.id, new_jti(), record.scopes, int(now))
        except RotationRefused:
            raise AuthError.bad_request("invalid_grant", _INVALID_GRANT) from None
        if not successor.scopes:  # every scope of the grant was withdrawn since
            self._store.revoke_family_of(successor.jti, int(now))
            raise AuthError.bad_request("invalid_grant", _INVALID_GRANT)
        return self._pair(record.kind, successor, int(now))

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token and its family (RFC 7009); anything else is quietly accepted."""
        now = self._clock()
        self._ring.refresh()
        try:
            claims, _ = self._codec.decode(refresh_token, REFRESH_TYP, now)
        except InvalidToken:
            return  # RFC 7009, section 2.2: an invalid token is not an error
        self._store.revoke_family_of(claims["jti"], int(now))

    # -- resource server (every request) ---------------------------------------------------

    def verify_access(self, token: str) -> Principal:
        """The caller proven by an access token; no database, no hashing, cached per token."""
        now = self._clock()
        ring = self._ring
        ring.refresh()  # a clock comparison; reads the key file only every few seconds
        hit = self._cache.get(token)
        if hit is not None:
            principal, kid = hit
            # The cache never outlives the token nor its key (a dropped key ends it at once).
            if principal.exp > now - self.settings.leeway_s and ring.get(kid, self.settings.access_ttl_s, now):
                with self._cache_lock:
                    if token in self._cache:
                        self._cache.move_to_end(token)
                return principal
            with self._cache_lock:
                self._cache.pop(token, None)
        try:
            claims, kid = self._codec.decode(token, ACCESS_TYP, now)
        except InvalidToken as exc:
            raise AuthError.invalid_token(self._realm, exc.detail.replace("the token", "the access token")) from None
        principal = Principal(
            sub=claims["sub"],
            scopes=frozenset(claims["scope"].split()),
            jti=claims["jti"],
            exp=claims["exp"],
            kind=claims["kind"],
        )
        if self.settings.cache_size:
            with self._cache_lock:
                self._cache[token] = (principal, kid)
                while len(self._cache) > self.settings.cache_size:
                    self._cache.popitem(last=False)
        return principal

    def principal_from_header(self, authorization: str | None) -> Principal:
        """The caller named by an 'Authorization: Bearer <token>' header (RFC 6750, section 2.1)."""
        if authorization is None or not authorization.strip():
            raise AuthError.no_credentials(self._realm)
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            # Another scheme is treated like no credentials: the challenge tells the client to use Bearer.
            raise AuthError.no_credentials(self._realm, "use the Bearer scheme: 'Authorization: Bearer <access token>'")
        token = token.strip()
        if not token:
            raise AuthError.invalid_token(self._realm, "the Bearer access token is empty")
        if not B64TOKEN.fullmatch(token):
            raise AuthError.invalid_token(self._realm, "the access token is malformed")
        return self.verify_access(token)

    @staticmethod
    def require_scope(principal: Principal, scope: str, realm: str = DEFAULT_REALM) -> None:
        """Refuse with 403 insufficient_scope unless the principal holds scope."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
        if scope not in principal.scopes:
            raise AuthError.insufficient_scope(realm, scope)

    # -- inside ----------------------------------------------------------------------------

    def _authenticate(self, ident: str, secret: str, kind: str) -> PrincipalRecord:
        record = self._store.get_principal(ident) if len(ident) <= 64 else None
        ok: bool
        try:
            ok = self._hasher.verify(record.secret_hash if record else self._dummy_hash, secret[:MAX_SECRET_CHARS])
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or record is None or record.disabled or record.kind != kind or len(secret) > MAX_SECRET_CHARS:
            raise AuthError.invalid_client(self._realm)
        if self._hasher.check_needs_rehash(record.secret_hash):
            # Cost parameters went up since this hash was made: upgrade it while we have the secret.
            self._store.update_hash(record.id, self._hasher.hash(secret))
        return record

    def _granted_scopes(self, record: PrincipalRecord, scope: str | None) -> tuple[str, ...]:
        if scope is None or not scope.strip():
            return record.scopes
        requested = set(scope.split())
        if not requested <= set(record.scopes):
            raise AuthError.bad_request(
                "invalid_scope",
                f"the requested scope is not granted to this client; it may ask for: {format_scopes(record.scopes)}",
            )
        return tuple(format_scopes(requested).split())

    def _pair(self, kind: str, refresh: RefreshRecord, now: int) -> TokenPair:
        self._ring.refresh()  # sign with the key another process may just have rotated in
        access = self._codec.encode(
            ACCESS_TYP,
            sub=refresh.sub,
            kind=kind,
            scopes=refresh.scopes,
            now=now,
            jti=new_jti(),
            exp=now + self.settings.access_ttl_s,
        )
        rt = self._codec.encode(
            REFRESH_TYP, sub=refresh.sub, kind=kind, scopes=refresh.scopes, now=now, jti=refresh.jti, exp=refresh.exp
        )
        return TokenPair(
            access_token=access,
            refresh_token=rt,
            token_type="Bearer",
            expires_in=self.settings.access_ttl_s,
            scope=format_scopes(refresh.scopes),
        )
