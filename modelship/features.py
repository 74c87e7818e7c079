"""Turning contract-shaped frames into the matrices the model reads."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from .contract import Contract


def to_matrix(frame: pd.DataFrame, contract: Contract) -> np.ndarray:
    """Features in contract order: float64 when all are numeric, else object (categories as str).

    The model is fitted and served on plain arrays, so serving never has to
    build a DataFrame per request.
    """
    cols = contract.feature_names
    if not contract.categorical_features:
        return frame[cols].to_numpy(dtype=np.float64)
    out = np.empty((len(frame), len(cols)), dtype=object)
    for j, feat in enumerate(contract.features):
        col = frame[feat.name]
        if feat.type == "category":
            # NaN, not the text "<NA>", so that an imputer sees a missing value
            out[:, j] = col.astype(object).astype(str).where(col.notna(), np.nan).to_numpy(dtype=object)
        else:
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def target(frame: pd.DataFrame, contract: Contract) -> np.ndarray:
    """1 for the positive class, 0 otherwise."""
    return contract.encode_target(frame[contract.target.name]).to_numpy(dtype=np.int64)


def stored_row(blob: bytes | str) -> list[Any]:
    """One served row's features as the prediction store keeps them (serve/store.py): float64
    bytes in contract order for numeric contracts, JSON text otherwise."""
    if isinstance(blob, bytes):
        return np.frombuffer(blob, dtype=np.float64).tolist()
    return list(json.loads(blob))
