"""Fixtures of the monitoring tests: the real WDBC split as the pipeline makes it, its reference
profile (as notebooks/01_data_checks writes it), and a model fitted on the training part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelship import profiling
from modelship.dataset import split
from modelship.features import target, to_matrix


@dataclass(frozen=True)
class Wdbc:
    train: pd.DataFrame
    test: pd.DataFrame
    features: list[str]
    reference: object  # the training part's profile
    model: Pipeline


@pytest.fixture(scope="session")
def wdbc_split(wdbc, contract, params) -> Wdbc:
    parts = split(wdbc, contract, params.test_size, params.seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=params.regularization_C, max_iter=1000))
    model.fit(to_matrix(parts.train, contract), target(parts.train, contract))
    return Wdbc(parts.train, parts.test, contract.feature_names, profiling.profile(parts.train), model)


def shifted(frame: pd.DataFrame, columns: list[str], by_std: float, scale: pd.Series) -> pd.DataFrame:
    """The rows with `columns` moved by `by_std` of their training standard deviation."""
    out = frame.copy()
    for c in columns:
        out[c] = out[c] + by_std * scale[c]
    return out


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
