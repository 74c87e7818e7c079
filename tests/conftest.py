"""Fixtures shared by every test folder: the real contract and data, and a second,
synthetic dataset with its own contract (to prove the pipeline is not tied to one)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from support import make_synthetic

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def params() -> dict:
    from modelship.params import load_params

    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def contract():
    from modelship.contract import load_contract

    return load_contract(ROOT / "contracts/wdbc.yaml")


@pytest.fixture(scope="session")
def wdbc(contract) -> pd.DataFrame:
    from modelship.dataset import load_snapshot

    return load_snapshot(ROOT / "data/raw/wdbc.csv", ROOT / "data/raw/wdbc.manifest.json", contract)


@pytest.fixture
def synthetic(tmp_path) -> dict[str, Path]:
    return make_synthetic(tmp_path / "synthetic")
