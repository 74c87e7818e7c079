"""The two transports of the HTTP-contract suite: the same test body in process and live.

The `http` fixture (tests/serve/conftest.py) is parametrised over them:

- "inprocess": Starlette's TestClient on `create_api`, assembled by `build_service` with a
  LocalBackend, every part real and in tmp_path (tests/serve/conftest.py); a fresh app,
  registry copy and store per test.
- "live": httpx against the session's real Ray Serve service (`served`, tests/conftest.py),
  marked `live`.

A test body sees only the small interface below (`client`, `headers`, `secrets`, `predict`,
`token`, `registry_root`, `db_path`, `auth_settings`, `restore_production`), so it does not
know which transport it runs on. Select one with `-k inprocess` or `-m "not live"` / `-m live`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import sample_records

from modelship.registry import Registry
from serve.auth import AuthSettings
from serve.settings import Settings

INPROCESS = pytest.param(
    "inprocess",
    id="inprocess",
    marks=pytest.mark.catalogue(scope="integration", tool="pytest + Starlette TestClient, API app in-process"),
)
LIVE = pytest.param(
    "live",
    id="live",
    marks=[pytest.mark.live, pytest.mark.catalogue(scope="system", tool="pytest + httpx, live Ray Serve")],
)


def post_predict(client: Any, headers: dict[str, str], n: int = 1, offset: int = 0) -> httpx.Response:
    """POST /v1/predict with `n` sample records."""
    return client.post("/v1/predict", json={"records": sample_records(n, offset)}, headers=headers)


def post_token(client: Any, client_id: str, secret: str, **extra: str) -> httpx.Response:
    """POST /v1/auth/token, client credentials as a form."""
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **extra}
    return client.post("/v1/auth/token", data=data)


class Transport:
    """What a router test may use, whatever carries its requests."""

    kind: str
    client: Any  # httpx.Client or Starlette's TestClient (an httpx.Client too)
    secrets: dict[str, str]
    registry_root: Path
    db_path: Path
    auth_settings: AuthSettings

    def headers(self, client_id: str, **extra: str) -> dict[str, str]:
        raise NotImplementedError

    def predict(self, client_id: str = "clinic", n: int = 1, offset: int = 0) -> httpx.Response:
        return post_predict(self.client, self.headers(client_id), n, offset)

    def token(self, client_id: str = "clinic", **extra: str) -> httpx.Response:
        return post_token(self.client, client_id, self.secrets[client_id], **extra)

    @property
    def registry(self) -> Registry:
        return Registry(self.registry_root)

    def restore_production(self, version: str = "v0001") -> None:
        """Put production back where the session started (a test that switches it calls this)."""


class InProcess(Transport):
    kind = "inprocess"

    def __init__(self, api: Any) -> None:
        self.api = api
        self.client = api.client
        self.secrets = api.clients.secrets
        self.registry_root = api.registry.root
        self.db_path = api.settings.paths.store
        self.auth_settings = api.settings.auth_settings()

    def headers(self, client_id: str, **extra: str) -> dict[str, str]:
        return self.api.headers(client_id, **extra)

    # restore_production: nothing to do, each test has its own copy of the registry


class Live(Transport):
    kind = "live"

    def __init__(self, served: Any, client: httpx.Client) -> None:
        self.served = served
        self.client = client
        self.secrets = served.secrets
        self.registry_root = served.registry_root
        self.db_path = served.db_path
        self.auth_settings = Settings.from_config(served.config_path).auth_settings()

    def headers(self, client_id: str, **extra: str) -> dict[str, str]:
        return {**self.served.headers(client_id), **extra}

    def restore_production(self, version: str = "v0001") -> None:
        registry = self.registry
        if registry.production() != version:
            registry.promote(version, actor="tests", reason="restore after test")
        # The replicas follow the pointer on their poll: wait until they serve it again.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.client.get("/v1/model", headers=self.headers("monitor")).json()["version"] == version:
                return
            time.sleep(0.2)
        raise AssertionError(f"the service did not switch back to {version}")
