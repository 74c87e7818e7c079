"""Everything a benchmark run needs, built from scratch in a throw-away folder.

A registry holding one model trained the project's way (params.yaml, modelship.train), a
params file naming it, a client database with one `predict` client whose limits are lifted, a
Serve config copy that points at them, and the request bodies. Nothing under models/ or .secrets/ is read or written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from modelship.contract import Contract, load_contract
from modelship.params import load_params
from modelship.registry import Registry, sha256_file
from modelship.train import build_estimator

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contracts" / "wdbc.yaml"
SNAPSHOT = ROOT / "data" / "raw" / "wdbc.csv"
APP = "modelship"
CLIENT = "bench"
# Reads the collector's figures (GET /v1/monitoring/summary) during the run.
MONITOR_CLIENT = "bench-monitor"
# High enough that no run is ever throttled: the benchmark measures serving, not the limiter.
UNLIMITED = {
    "rate_limit": {"limit": 1_000_000_000, "window_s": 60},
    "row_quota": {"limit": 1_000_000_000, "window_s": 60},
}
BATCH_SIZES = (1, 100)


@dataclass(frozen=True)
class Workspace:
    root: Path
    registry: Path
    state_dir: Path
    contract: Contract
    secret: str

    def body_path(self, rows: int) -> Path:
        return self.root / f"body-{rows}.json"

    def token_path(self) -> Path:
        return self.root / "token.txt"

    @property
    def params_path(self) -> Path:
        """params.yaml with this workspace's registry: what the Serve config's paths.params names."""
        return self.root / "params.yaml"


def training_frame(contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(SNAPSHOT)
    X = df[contract.feature_names].to_numpy(dtype=np.float64)
    y = contract.encode_target(df[contract.target.name]).to_numpy()
    return X, y


def build_registry(root: Path, contract: Contract) -> Path:
    """One production version of the model params.yaml describes, fitted on the whole snapshot."""
    registry = Registry(root)
    if registry.production():
        return root
    params = load_params(ROOT / "params.yaml")
    X, y = training_frame(contract)
    model = build_estimator(contract, params).fit(X, y)
    registry.register(
        model,
        {
            "threshold": 0.5,
            "features": contract.feature_names,
            "contract": contract.to_dict(),
            "positive_label": contract.target.positive,
            "negative_label": contract.target.negative,
            "metrics": {},
            "data_sha256": sha256_file(SNAPSHOT),
        },
    )
    registry.promote("v0001", actor="bench", reason="benchmark registry")
    return root


def sample_rows(contract: Contract, n: int) -> np.ndarray:
    X, _ = training_frame(contract)
    return X[np.arange(n) % len(X)]


def body_of(contract: Contract, n: int) -> dict[str, Any]:
    rows = sample_rows(contract, n)
    return {"records": [dict(zip(contract.feature_names, map(float, r), strict=True)) for r in rows]}


def _auth(state_dir: Path) -> Any:
    from serve.auth import AuthService
    from serve.settings import Settings

    return AuthService(Settings.from_config(ROOT / "serve" / "config.yaml").auth_settings(state_dir))


def build(root: Path) -> Workspace:
    """Create (or reuse) the benchmark's registry, params, client and bodies under `root`."""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    contract = load_contract(CONTRACT)
    registry = build_registry(root / "registry", contract)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params.update(registry=str(registry), contract=str(CONTRACT))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    state_dir = root / "state"
    secret_file = root / "client-secret.txt"
    auth = _auth(state_dir)
    if not secret_file.exists():
        secret_file.write_text(auth.create_client(CLIENT, ["predict"]), encoding="utf-8")
        secret_file.chmod(0o600)
    monitor_file = root / "monitor-secret.txt"
    if not monitor_file.exists():
        monitor_file.write_text(auth.create_client(MONITOR_CLIENT, ["monitor"]), encoding="utf-8")
        monitor_file.chmod(0o600)
    ws = Workspace(root, registry, state_dir, contract, secret_file.read_text(encoding="utf-8").strip())
    for n in BATCH_SIZES:
        ws.body_path(n).write_text(json.dumps(body_of(contract, n)), encoding="utf-8")
    return ws


def issue_token(ws: Workspace) -> str:
    """A fresh access token for the bench client, written where the wrk script reads it."""
    pair = _auth(ws.state_dir).issue("client_credentials", client_id=CLIENT, client_secret=ws.secret)
    ws.token_path().write_text(pair.access_token, encoding="utf-8")
    ws.token_path().chmod(0o600)
    return pair.access_token


def monitor_token(ws: Workspace) -> str:
    """An access token of the monitor-scope client (kept in memory, never on a command line)."""
    secret = (ws.root / "monitor-secret.txt").read_text(encoding="utf-8").strip()
    return _auth(ws.state_dir).issue("client_credentials", client_id=MONITOR_CLIENT, client_secret=secret).access_token


def write_serve_config(
    ws: Workspace,
    path: Path,
    *,
    port: int,
    import_path: str = "serve.app:build",
    deployments: dict[str, dict[str, Any]] | None = None,
    access_log: bool | None = None,
    data_dir: str = "serve-data",
    args: dict[str, Any] | None = None,
) -> Path:
    """serve/config.yaml with this workspace's paths and port, and optional per-deployment overrides.

    `deployments` maps a deployment name to fields to set on it (e.g. max_ongoing_requests);
    a name absent from serve/config.yaml is added, which a variant app needs."""
    config = yaml.safe_load((ROOT / "serve" / "config.yaml").read_text(encoding="utf-8"))
    config["http_options"]["host"] = "127.0.0.1"
    config["http_options"]["port"] = port
    if access_log is not None:
        config.setdefault("logging_config", {})["enable_access_log"] = access_log
    app = next(a for a in config["applications"] if a["name"] == APP)
    app["import_path"] = import_path
    sections = app["args"]
    sections["paths"] = {
        "params": str(ws.params_path),
        "state_dir": str(ws.state_dir),
        "data_dir": str(ws.root / data_dir),
    }
    sections["limits"]["clients"] = {CLIENT: UNLIMITED, MONITOR_CLIENT: UNLIMITED}
    for name, fields in (args or {}).items():
        sections[name] = {**sections.get(name, {}), **fields}
    by_name = {d["name"]: d for d in app["deployments"]}
    for name, fields in (deployments or {}).items():
        if fields is None:  # remove a deployment the variant does not have
            by_name.pop(name, None)
            continue
        target = by_name.setdefault(name, {"name": name})
        for key, value in fields.items():
            if value is None:  # remove a field (e.g. user_config of a deployment that has none)
                target.pop(key, None)
            elif isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = {**target[key], **value}
            else:
                target[key] = value
    app["deployments"] = list(by_name.values())
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
