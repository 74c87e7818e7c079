"""What the service tests share, in process (tests/serve) and live (tests/live): the test
clients, a real model registry built in a tmp dir, sample records, the problem+json check, the
settings helper and the two fakes for failures that only Ray produces.

The registry is built in one place so that it can later come from the project's own training
function.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelship.contract import load_contract, parse_contract
from modelship.registry import Registry, sha256_file
from serve.model import ModelUnavailable, Scores
from serve.settings import Settings
from support import write_params

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contracts" / "wdbc.yaml"
SNAPSHOT = ROOT / "data" / "raw" / "wdbc.csv"
ALLOWED_ORIGIN = "http://app.modelship.test"
# A contract with an int and a category feature, which the embedded one lacks.
TOY_CONTRACT = parse_contract(
    {
        "name": "toy",
        "target": {"name": "y", "classes": ["yes", "no"], "positive": "yes"},
        "features": [
            {"name": "count", "type": "int", "min": 0, "max": 10, "description": "a count"},
            {"name": "colour", "type": "category", "categories": ["red", "blue"], "description": "a colour"},
        ],
    }
)

# Each client of the test session: id -> scopes. One per scope combination, plus a second
# predicting client for object-level authorisation and one with tiny limits.
CLIENTS: dict[str, list[str]] = {
    "clinic": ["predict", "feedback"],
    "other-clinic": ["predict", "feedback"],
    "predict-only": ["predict"],
    "feedback-only": ["feedback"],
    "monitor": ["monitor"],
    "admin": ["admin"],
    "limited": ["predict"],
    "quota": ["predict"],
    "loader": ["predict", "feedback"],
    "fuzzer": ["predict", "feedback", "monitor"],
    "switcher": ["predict"],
}


def training_data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    contract = load_contract(CONTRACT)
    df = pd.read_csv(SNAPSHOT)
    X = df[contract.feature_names].to_numpy(dtype=np.float64)
    y = (df[contract.target.name] == contract.target.positive).to_numpy(dtype=int)
    return X, y, contract.feature_names


def build_registry(root: Path, versions: int = 2, threshold: float = 0.3) -> Registry:
    """Register `versions` fitted models (C differs, so outputs differ) and promote the first."""
    contract = load_contract(CONTRACT)
    X, y, features = training_data()
    registry = Registry(root)
    for i in range(versions):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=[1.0, 0.05, 0.5][i % 3], max_iter=1000))
        model.fit(X, y)
        p = model.predict_proba(X)[:, 1]
        pred = (p >= threshold).astype(int)
        metrics = {
            "roc_auc": roc_auc_score(y, p),
            "recall": recall_score(y, pred),
            "precision": precision_score(y, pred),
            "f1": f1_score(y, pred),
            "brier": brier_score_loss(y, p),
        }
        registry.register(
            model,
            {
                "threshold": threshold,
                "features": features,
                "contract": contract.to_dict(),
                "positive_label": contract.target.positive,
                "negative_label": contract.target.negative,
                "metrics": metrics,
                "data_sha256": sha256_file(SNAPSHOT),
            },
        )
    registry.promote("v0001", actor="tests", reason="test session")
    return registry


def sample_records(n: int = 1, offset: int = 0) -> list[dict[str, float]]:
    X, _, features = training_data()
    return [dict(zip(features, map(float, X[(offset + i) % len(X)]), strict=True)) for i in range(n)]


# Per-client overrides, so that the limit tests reach a limit in a few requests; the live
# service's config (tests/live/service.py) sets the same ones.
CLIENT_LIMITS = {
    "limited": {"rate_limit": {"limit": 3, "window_s": 3600}},
    "quota": {"row_quota": {"limit": 5, "window_s": 3600}},
}

# The cheapest argon2 the library accepts: the algorithm is real, only its cost is lowered.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}


def settings_of(**fields: Any) -> Settings:
    """Settings from fields named without their section (`max_batch_rows=7`, `state_dir=...`)."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in fields.items():
        section = next(
            name
            for name, info in Settings.model_fields.items()
            if info.annotation is not None
            and hasattr(info.annotation, "model_fields")
            and key in info.annotation.model_fields
        )
        sections.setdefault(section, {})[key] = value
    return Settings.from_args(sections)


def serve_config(path: Path, args: dict[str, Any], name: str = "modelship") -> Path:
    """A serve config whose application `name` has these args, after another application."""
    path.write_text(
        yaml.safe_dump({"applications": [{"name": "other", "args": {}}, {"name": name, "args": args}]}),
        encoding="utf-8",
    )
    return path


def params_file(tmp_path: Path) -> str:
    """A params file naming a registry in tmp_path and the embedded contract."""
    return str(write_params(tmp_path / "params.yaml", registry=str(tmp_path / "reg"), contract=str(CONTRACT)))


def problem_of(response: httpx.Response, status: int) -> dict:
    """Assert an RFC 9457 problem document with this status; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    for key in ("type", "title", "status", "detail", "instance"):
        assert key in body, body
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem document with this status and no internals; return its body."""
    body = problem_of(response, status)
    assert body["instance"] == response.request.url.path
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


class SlowModel:
    """A model deployment that does not answer in time (overloaded): a real one is never that slow
    on one row, so the delay is simulated. asyncio.wait_for cancels the sleep at the timeout."""

    async def predict(self, rows: Any) -> Scores:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")

    async def card(self) -> dict[str, Any]:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")

    async def refresh(self) -> str:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")

    async def ready(self) -> bool:
        return True


class GoneModel:
    """What serve/app.py's HandleBackend raises when the model deployment died or shed the load
    (max_queued_requests): only Ray produces that, so it is simulated here."""

    async def predict(self, rows: Any) -> Scores:
        raise ModelUnavailable("BackPressureError")

    async def card(self) -> dict[str, Any]:
        raise ModelUnavailable("ActorDiedError")

    async def refresh(self) -> str:
        raise ModelUnavailable("ActorDiedError")

    async def ready(self) -> bool:
        raise ModelUnavailable("ActorDiedError")
