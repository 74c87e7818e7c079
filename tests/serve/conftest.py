"""Fixtures of the in-process service tests: the app `create_api` builds, with real parts, no Ray.

Everything is real and lives in tmp_path: the model registry (fitted by tests/api_support.py)
and the params file naming it, the client database and signing keys (serve.auth, argon2 at its
cheapest cost), the SQLite prediction store and shared limits, and the model
(serve.model.LocalBackend over a ModelHolder), assembled by serve.service.build_service as the
service does. The requests go through Starlette's TestClient (its lifespan runs the prediction
flush loop), so coverage follows every line in this process.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import (
    ALLOWED_ORIGIN,
    CHEAP_ARGON2,
    CLIENT_LIMITS,
    CLIENTS,
    CONTRACT,
    build_registry,
    settings_of,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelship.contract import Contract, load_contract
from modelship.registry import Registry
from serve.api import create_api
from serve.auth import AuthService, AuthSettings
from serve.model import LocalBackend, ModelHolder
from serve.service import Service, build_service
from serve.settings import Settings
from serve.store import Store
from support import write_params
from tests.serve.transports import INPROCESS, LIVE, InProcess, Live, Transport, post_predict, post_token


@pytest.fixture(scope="session")
def contract_wdbc() -> Contract:
    return load_contract(CONTRACT)


@pytest.fixture(scope="session")
def template_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0001 (production), v0002, and v0003 whose model file was tampered with after registration.

    Built once (fitting takes a second); each test gets its own copy, since admin tests move
    the production pointer."""
    root = tmp_path_factory.mktemp("inproc-registry") / "registry"
    registry = build_registry(root, versions=3)
    model_file = registry.version_dir("v0003") / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    return root


@pytest.fixture
def registry_root(tmp_path: Path, template_registry: Path) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(template_registry, root)
    return root


@dataclass
class Clients:
    """The session's clients: one real AuthService, their secrets, and cached access tokens."""

    service: AuthService
    state_dir: Path
    secrets: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, client_id: str) -> str:
        if client_id not in self.tokens:
            grant = "password" if client_id == "pathologist" else "client_credentials"
            creds = (
                {"username": client_id, "password": self.secrets[client_id]}
                if grant == "password"
                else {"client_id": client_id, "client_secret": self.secrets[client_id]}
            )
            self.tokens[client_id] = self.service.issue(grant, **creds).access_token
        return self.tokens[client_id]

    def headers(self, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id)}"}


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Clients:
    state_dir = tmp_path_factory.mktemp("inproc-auth")
    # Built directly, not from_env: a developer's MODELSHIP_* variables cannot leak in. The
    # cheapest argon2 the library accepts: the algorithm is real, only its cost is lowered.
    settings = AuthSettings(state_dir=state_dir, **CHEAP_ARGON2)
    auth = AuthService(settings)
    secrets = {cid: auth.create_client(cid, scopes) for cid, scopes in CLIENTS.items()}
    secrets["pathologist"] = auth.create_client("pathologist", ["predict", "feedback"], kind="user")
    return Clients(auth, state_dir, secrets)


@dataclass
class Api:
    """One app under test and the real parts behind it."""

    client: TestClient
    app: FastAPI
    settings: Settings
    service: Service | None
    registry: Registry
    store: Store | None
    clients: Clients

    def headers(self, client_id: str, **extra: str) -> dict[str, str]:
        return {**self.clients.headers(client_id), **extra}

    def predict(self, client_id: str = "clinic", n: int = 1, offset: int = 0) -> httpx.Response:
        return post_predict(self.client, self.headers(client_id), n, offset)

    def token(self, client_id: str = "clinic", **extra: str) -> httpx.Response:
        return post_token(self.client, client_id, self.clients.secrets[client_id], **extra)


@pytest.fixture
def make_api(
    tmp_path: Path, registry_root: Path, clients: Clients, contract_wdbc: Contract
) -> Iterator[Callable[..., Api]]:
    """Build an app: `backend` replaces the in-process model, `service=False` leaves it without
    one (as while starting), other keywords are settings fields (serve/settings.py, any section)."""
    params = write_params(tmp_path / "params.yaml", registry=str(registry_root), contract=str(CONTRACT))
    opened: list[TestClient] = []

    def make(backend: Any = None, service: bool = True, raise_server_exceptions: bool = True, **overrides: Any) -> Api:
        settings = settings_of(
            params=str(params),
            state_dir=str(clients.state_dir),
            data_dir=str(tmp_path / "data"),
            cors_origins=[ALLOWED_ORIGIN],
            clients=CLIENT_LIMITS,
            **{**CHEAP_ARGON2, **overrides},
        )
        svc = None
        if service:
            if backend is None:
                backend = LocalBackend(ModelHolder(registry_root, feature_order=contract_wdbc.feature_names))
            svc = build_service(settings, backend, contract_wdbc)
        app = create_api(settings, contract_wdbc, svc)
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        client.__enter__()  # runs the lifespan: the flush loop starts, the store closes at the end
        opened.append(client)
        return Api(client, app, settings, svc, Registry(registry_root), svc.store if svc else None, clients)

    yield make
    for client in opened:
        try:
            client.__exit__(None, None, None)
        except Exception:  # a test may have closed the store already, on purpose
            pass


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """The app with every real part: the common case."""
    return make_api()


@pytest.fixture(params=[INPROCESS, LIVE])
def http(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """The HTTP contract's one fixture: the in-process app, then the session's live service
    (tests/serve/transports.py)."""
    if request.param == "inprocess":
        yield InProcess(request.getfixturevalue("api"))
        return
    served = request.getfixturevalue("served")
    with served.client() as client:
        yield Live(served, client)
