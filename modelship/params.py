"""Loading params.yaml, the single source of the pipeline's parameters."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

# key -> expected type(s); every key is required so that a typo fails loudly
SCHEMA: dict[str, type | tuple[type, ...]] = {
    "seed": int,
    "contract": str,
    "snapshot": str,
    "manifest": (str, type(None)),
    "processed_dir": str,
    "test_size": float,
    "max_missing_fraction": (int, float),
    "max_duplicate_rows": int,
    "min_class_fraction": float,
    "similarity_alpha": float,
    "max_dissimilar_fraction": float,
    "model": str,
    "regularization_C": (int, float),
    "calibration": str,
    "cv_folds": int,
    "target_recall": float,
    "gate_min_roc_auc": float,
    "gate_min_recall": float,
    "gate_min_precision": float,
    "gate_max_brier": float,
    "gate_max_regression": float,
    "noise_scale": float,
    "max_flip_rate": float,
    "monotonic_tolerance": float,
    "registry": str,
    "reports_dir": str,
}


class ParamsError(ValueError):
    """params.yaml is missing a key, has an unknown one, or a value of the wrong type."""


def validate(params: Mapping[str, Any]) -> dict[str, Any]:
    missing = sorted(set(SCHEMA) - set(params))
    unknown = sorted(set(params) - set(SCHEMA))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unknown:
            parts.append(f"unknown keys {unknown}")
        raise ParamsError("params: " + "; ".join(parts))
    for key, expected in SCHEMA.items():
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            names = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            raise ParamsError(f"params: {key} must be {names}, got {value!r}")
    if not 0 < params["test_size"] < 1:
        raise ParamsError(f"params: test_size must be between 0 and 1, got {params['test_size']}")
    if params["cv_folds"] < 2:
        raise ParamsError(f"params: cv_folds must be at least 2, got {params['cv_folds']}")
    if not 0 < params["target_recall"] <= 1:
        raise ParamsError(f"params: target_recall must be in (0, 1], got {params['target_recall']}")
    return dict(params)


def load_params(path: str | Path = "params.yaml", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read params.yaml, apply overrides (e.g. from a notebook run), and validate."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ParamsError(f"params file not found: {path}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"params file {path} must hold a mapping")
    params.update(overrides or {})
    return validate(params)
