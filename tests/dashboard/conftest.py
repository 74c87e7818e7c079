"""The dashboard's tests share one real stack, started once for the folder: the API app (serve.api,
the collector in a thread, real auth, a registry whose model has the training data's reference
profile) under uvicorn on 127.0.0.1, and the dashboard under uvicorn beside it, reaching the API
over HTTP as it does in production. Short windows (1 s) and short access tokens (a few
seconds), so that windows close and tokens renew while a test watches.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from api_support import CHEAP_ARGON2, CONTRACT, build_registry, settings_of
from asgi_server import ServerThread

from dashboard.settings import DashboardSettings
from dashboard.web import Dashboard, create_app
from modelship import profiling
from modelship.contract import Contract
from modelship.dataset import split
from serve.api import create_api
from serve.auth import AuthService, AuthSettings
from serve.model import LocalBackend, ModelHolder
from serve.service import build_service
from support import write_params

ACCESS_TTL_S = 6
WINDOW_S = 1.0
MIN_WINDOW_ROWS = 30
MIN_LABELS = 20
ROWS = 100  # one request (max_batch_rows): its rows share one time, so one window
DRIFTED = ["mean_radius", "mean_texture", "mean_perimeter", "mean_area", "worst_radius"]
WIDE = {"limit": 100_000, "window_s": 60}
# The accounts of the tests: id -> (kind, scopes).
ACCOUNTS = {
    "dash-monitor": ("service", ["monitor"]),
    "dash-person": ("user", ["monitor"]),
    "dash-clinic": ("service", ["predict", "feedback"]),
}


# The sign-in form's CSRF token (dashboard/templates/signin.html).
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in_page(client: httpx.Client) -> str:
    r = client.get("/signin")
    assert r.status_code == 200, r.text
    match = CSRF.search(r.text)
    assert match
    return match.group(1)


def sign_in(client: httpx.Client, identifier: str, secret: str, kind: str = "service") -> httpx.Response:
    csrf = sign_in_page(client)
    return client.post("/signin", data={"csrf_token": csrf, "kind": kind, "identifier": identifier, "secret": secret})


@dataclass
class Stack:
    api_url: str
    dashboard_url: str
    dashboard: Dashboard
    auth: AuthService
    secrets: dict[str, str]
    contract: Contract
    held_out: pd.DataFrame
    scale: pd.Series
    api_folder: Path
    prediction_ids: list[str] = field(default_factory=list)
    sent_at: float = 0.0  # when the last prediction request left

    def token(self, client_id: str) -> str:
        kind, _ = ACCOUNTS.get(client_id, ("service", []))
        if kind == "user":
            pair = self.auth.issue("password", username=client_id, password=self.secrets[client_id])
        else:
            pair = self.auth.issue("client_credentials", client_id=client_id, client_secret=self.secrets[client_id])
        return pair.access_token

    def account(self, client_id: str, scopes: list[str], kind: str = "service") -> str:
        """A new account of the session's service; returns its secret."""
        self.secrets[client_id] = self.auth.create_client(client_id, scopes, kind=kind)
        return self.secrets[client_id]

    def records(self, drifted: bool = False) -> list[dict[str, float]]:
        frame = self.held_out.iloc[:ROWS].copy()
        if drifted:
            for name in DRIFTED:
                f = self.contract.feature(name)
                frame[name] = (frame[name] + 1.5 * self.scale[name]).clip(f.min, f.max)
        names = self.contract.feature_names
        return [dict(zip(names, map(float, row), strict=True)) for row in frame[names].to_numpy()]

    def predict(self, drifted: bool = False) -> list[str]:
        self.sent_at = time.time()
        headers = {"Authorization": f"Bearer {self.token('dash-clinic')}"}
        r = httpx.post(
            f"{self.api_url}/v1/predict", json={"records": self.records(drifted)}, headers=headers, timeout=30
        )
        assert r.status_code == 200, r.text
        ids = [p["prediction_id"] for p in r.json()["predictions"]]
        self.prediction_ids.extend(ids)
        return ids

    @contextmanager
    def drifting(self, every_s: float = 0.3) -> Iterator[None]:
        """Drifted traffic in every window while the block runs (the drift alert needs two
        windows in a row; a window with only the summary's polls would resolve it)."""
        stop = threading.Event()

        def send() -> None:
            while not stop.wait(every_s):
                try:
                    self.predict(drifted=True)
                except (AssertionError, httpx.HTTPError):  # the test's own assertions say what went wrong
                    pass

        thread = threading.Thread(target=send, name="drifted-traffic", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)

    def wait_for_alert(self, rule: str, state: str = "firing", timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            summary = self.summary()
            if any(a["rule"] == rule and a["state"] == state for a in summary["alerts"]["active"]):
                return summary
            assert time.monotonic() < deadline, summary["alerts"]
            time.sleep(0.2)

    def feedback(self, ids: list[str]) -> None:
        """The confirmed diagnosis of each prediction: the held-out data's own label."""
        headers = {"Authorization": f"Bearer {self.token('dash-clinic')}"}
        labels = self.held_out[self.contract.target.name].to_list()
        with httpx.Client(base_url=self.api_url, headers=headers, timeout=30) as client:
            for i, pid in enumerate(ids):
                r = client.post("/v1/feedback", json={"prediction_id": pid, "label": labels[i % ROWS]})
                assert r.status_code in (200, 201), r.text

    def summary(self) -> dict[str, Any]:
        r = httpx.get(
            f"{self.api_url}/v1/monitoring/summary",
            headers={"Authorization": f"Bearer {self.token('dash-monitor')}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def wait_for_window(self, check: Callable[[dict[str, Any]], bool], timeout_s: float = 30) -> dict[str, Any]:
        """The summary once its last closed window with scored rows, after the last prediction
        request, passes `check` (the polls of the summary are requests too: they make windows
        without rows)."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.summary()
            scored = [w for w in state["windows"] if w["rows"] and w["end_s"] > self.sent_at]
            if scored and check(scored[-1]):
                return state
            assert time.monotonic() < deadline, scored[-1:] or state
            time.sleep(0.2)


def api_app(folder: Path, registry_root: Path, auth_dir: Path, contract: Contract, **overrides: Any) -> Any:
    params = write_params(folder / "params.yaml", registry=str(registry_root), contract=str(CONTRACT))
    settings = settings_of(
        params=str(params),
        state_dir=str(auth_dir),
        data_dir=str(folder / "data"),
        window_s=WINDOW_S,
        handoff_s=0.05,
        min_window_rows=MIN_WINDOW_ROWS,
        min_labels=MIN_LABELS,
        access_ttl_s=ACCESS_TTL_S,
        leeway_s=0,
        token_rate_limit=WIDE,
        token_ip_rate_limit=WIDE,
        token_global_rate_limit=WIDE,
        renew_ip_rate_limit=WIDE,
        **{**CHEAP_ARGON2, **overrides},
    )
    backend = LocalBackend(ModelHolder(registry_root, feature_order=contract.feature_names))
    return create_api(settings, contract, build_service(settings, backend, contract))


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory, wdbc: pd.DataFrame, contract: Contract, params) -> Path:
    """v0001 in production, with the training part's profile and the test part's confusion counts,
    as notebooks 01 and 03 record them."""
    root = tmp_path_factory.mktemp("dash-registry") / "registry"
    registry = build_registry(root, versions=1)
    parts = split(wdbc, contract, params.test_size, params.seed)
    profiling.write_profile(profiling.profile(parts.train), registry.version_dir("v0001") / "reference_profile.bin")
    names = contract.feature_names
    p = registry.load("v0001").model.predict_proba(parts.test[names].to_numpy(dtype=np.float64))[:, 1]
    actual = (parts.test[contract.target.name] == contract.target.positive).to_numpy()
    flagged = p >= 0.3
    registry.update_metadata(
        "v0001",
        confusion={
            "tp": int((flagged & actual).sum()),
            "fp": int((flagged & ~actual).sum()),
            "tn": int((~flagged & ~actual).sum()),
            "fn": int((~flagged & actual).sum()),
        },
    )
    return root


@pytest.fixture(scope="session")
def auth_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AuthService, dict[str, str]]:
    folder = tmp_path_factory.mktemp("dash-auth")
    auth = AuthService(AuthSettings(state_dir=folder, access_ttl_s=ACCESS_TTL_S, leeway_s=0, **CHEAP_ARGON2))
    secrets = {cid: auth.create_client(cid, scopes, kind=kind) for cid, (kind, scopes) in ACCOUNTS.items()}
    return folder, auth, secrets


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, registry_root: Path, auth_dir, contract: Contract, wdbc, params
) -> Iterator[Stack]:
    folder, auth, secrets = auth_dir
    api_folder = tmp_path_factory.mktemp("dash-api")
    parts = split(wdbc, contract, params.test_size, params.seed)
    held_out = parts.test.sample(frac=1.0, random_state=0)
    scale = parts.train[contract.feature_names].std()
    with ServerThread(api_app(api_folder, registry_root, folder, contract)) as api_url:
        settings = DashboardSettings(api_url=api_url, poll_s=1, site_dir=str(api_folder / "no-site"))
        app = create_app(settings)
        with ServerThread(app) as dashboard_url:
            yield Stack(
                api_url, dashboard_url, app.state.dashboard, auth, secrets, contract, held_out, scale, api_folder
            )


class SpareApi:
    """Another API of the same accounts, for a test that stops it (the service going down); its
    own data folder, so that its collector writes apart from the session's."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.url = server.__enter__()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.server.__exit__(None, None, None)
            self.running = False


@pytest.fixture
def spare_api(tmp_path: Path, registry_root: Path, auth_dir, contract: Contract) -> Iterator[SpareApi]:
    folder, _, _ = auth_dir
    spare = SpareApi(ServerThread(api_app(tmp_path, registry_root, folder, contract)))
    try:
        yield spare
    finally:
        spare.stop()
