"""Real things the API tests need: a model registry and a client database, built in tmp dirs.

Kept in one place so the registry can later come from the project's own training function.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelship.contract import load_contract
from modelship.registry import Registry, sha256_file

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "contracts" / "wdbc.yaml"
SNAPSHOT = ROOT / "data" / "raw" / "wdbc.csv"

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
        metrics = {"roc_auc": roc_auc_score(y, p), "recall": recall_score(y, pred),
                   "precision": precision_score(y, pred), "f1": f1_score(y, pred),
                   "brier": brier_score_loss(y, p)}
        registry.register(model, {
            "threshold": threshold, "features": features, "contract": contract.to_dict(),
            "positive_label": contract.target.positive, "negative_label": contract.target.negative,
            "metrics": metrics, "data_sha256": sha256_file(SNAPSHOT),
        })
    registry.promote("v0001", actor="tests", reason="test session")
    return registry


def sample_records(n: int = 1, offset: int = 0) -> list[dict[str, float]]:
    X, _, features = training_data()
    return [dict(zip(features, map(float, X[(offset + i) % len(X)]))) for i in range(n)]
