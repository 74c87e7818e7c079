"""Fixtures of the auth tests: a controllable clock, real SQLite and real argon2 in tmp_path."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serve.auth import AuthService, AuthSettings, TokenPair

T0 = 1_800_000_000  # a fixed "now" (2027-01-15), so that no test depends on the wall clock


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own MODELSHIP_* variables must not change what the tests see."""
    for name in (
        "MODELSHIP_JWT_KEYS",
        "MODELSHIP_JWT_SECRET",
        "MODELSHIP_PATHS__STATE_DIR",
        "MODELSHIP_AUTH__LEEWAY_S",
        "MODELSHIP_AUTH__ACCESS_TTL_S",
        "MODELSHIP_AUTH__REFRESH_TTL_S",
        "MODELSHIP_AUTH__ISSUER",
        "MODELSHIP_AUTH__AUDIENCE",
        "MODELSHIP_AUTH__REALM",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def settings(state_dir: Path, clock: Clock) -> AuthSettings:
    # Cheapest argon2 the library accepts: the algorithm is real, only its cost is lowered.
    return AuthSettings(
        state_dir=state_dir,
        argon2_time_cost=1,
        argon2_memory_cost=8,
        argon2_parallelism=1,
        clock=clock,
    )


@pytest.fixture
def make_auth(settings: AuthSettings) -> Callable[..., AuthService]:
    """A service on the shared state_dir, with settings overridden by keyword."""

    def make(**changes: Any) -> AuthService:
        return AuthService(dataclasses.replace(settings, **changes))

    return make


@pytest.fixture
def auth(settings: AuthSettings) -> AuthService:
    return AuthService(settings)


@pytest.fixture
def service_secret(auth: AuthService) -> str:
    """Secret of the service client 'scorer', allowed to predict and send feedback."""
    return auth.create_client("scorer", ["predict", "feedback"])


@pytest.fixture
def pair(auth: AuthService, service_secret: str) -> TokenPair:
    return auth.issue("client_credentials", client_id="scorer", client_secret=service_secret)


@pytest.fixture
def signing_key(auth: AuthService) -> tuple[str, bytes]:
    """The active (kid, secret): lets attack tests forge tokens the way an insider could."""
    key = auth._ring.active
    return key.kid, key.secret
