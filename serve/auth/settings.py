"""Settings of the authentication library (built from serve/settings.py's `auth` section)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import profiles

# RFC 9106 "low memory" profile: the argon2-cffi default. Production keeps it;
# tests pass cheaper values so that the suite stays fast.
_ARGON2 = profiles.RFC_9106_LOW_MEMORY

# Clock skew we tolerate between processes. More would keep expired tokens alive.
MAX_LEEWAY_S = 30

ENV_PREFIX = "MODELSHIP_"
# How a section field is named in the environment (pydantic-settings, nested with "__").
AUTH_ENV = ENV_PREFIX + "AUTH__"


class AuthConfigError(ValueError):
    """The service cannot start or run an operator command; the message says how to fix it."""


@dataclass(frozen=True)
class AuthSettings:
    """Token lifetimes, identifiers and where the keys and the database live."""

    state_dir: Path
    issuer: str = "modelship"
    audience: str = "modelship-api"
    realm: str = "modelship"
    access_ttl_s: int = 900
    refresh_ttl_s: int = 28_800
    leeway_s: int = 30
    min_key_bytes: int = 32
    # Keys given by the operator instead of the key file (see docs/auth.qmd).
    jwt_keys: str | None = field(default=None, repr=False)
    jwt_secret: str | None = field(default=None, repr=False)
    argon2_time_cost: int = _ARGON2.time_cost
    argon2_memory_cost: int = _ARGON2.memory_cost
    argon2_parallelism: int = _ARGON2.parallelism
    # Verified access tokens remembered per process; bounded so memory stays flat.
    cache_size: int = 4096
    # How often a running process looks for keys rotated by another process.
    key_reload_s: float = 5.0
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        if not 0 <= self.leeway_s <= MAX_LEEWAY_S:
            raise AuthConfigError(
                f"leeway_s is {self.leeway_s}; it must be between 0 and {MAX_LEEWAY_S} seconds: "
                f"set auth.leeway_s (or {AUTH_ENV}LEEWAY_S) to a value in that range"
            )
        for name in ("access_ttl_s", "refresh_ttl_s"):
            if getattr(self, name) <= 0:
                raise AuthConfigError(
                    f"{name} is {getattr(self, name)}; it must be a positive number of seconds: "
                    f"set auth.{name} (or {AUTH_ENV}{name.upper()}) to a positive integer"
                )
        if self.refresh_ttl_s < self.access_ttl_s:
            raise AuthConfigError(
                f"refresh_ttl_s ({self.refresh_ttl_s}) is shorter than access_ttl_s "
                f"({self.access_ttl_s}): a refresh token must outlive the access token it renews"
            )
        if self.min_key_bytes < 32:
            raise AuthConfigError(
                f"min_key_bytes is {self.min_key_bytes}; HS256 needs keys of at least 32 bytes (RFC 7518, section 3.2)"
            )
        if not self.realm or any(c in self.realm for c in '"\\') or not self.realm.isprintable():
            # The realm is quoted in WWW-Authenticate; a quote would break the header.
            raise AuthConfigError(
                f"realm {self.realm!r} cannot be quoted in a WWW-Authenticate header: "
                f"set auth.realm (or {AUTH_ENV}REALM) to printable text without quotes or backslashes"
            )
        if self.cache_size < 0:
            raise AuthConfigError("cache_size must be 0 (no cache) or a positive number")

    @property
    def keys_path(self) -> Path:
        return self.state_dir / "jwt_keys.json"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "auth.sqlite3"
