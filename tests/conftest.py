"""Fixtures shared by every test folder: the real contract and data, a second, synthetic
dataset with its own contract (to prove the pipeline is not tied to one), and the session's one
live service.

`served` is defined here, above tests/live and tests/serve, so that the live tests and the live
transport of the router suite (tests/serve/routes) share one service: it takes tens of seconds
to start, and is started only when a selected test needs it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings as hypothesis_settings

from support import make_synthetic
from tests.live.service import Served, run_service

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")

ROOT = Path(__file__).resolve().parents[1]

# Hypothesis's per-example deadline is a timing assertion: on a busy 2-core machine it fails
# tests whose property holds. Speed belongs to `make bench`, so no deadline here.
hypothesis_settings.register_profile("modelship", deadline=None)
hypothesis_settings.load_profile("modelship")

# ---- test results page (docs/test-results.qmd) ----
# each test's catalogue markers become JUnit properties when pytest writes --junitxml
pytest_plugins = ["junit_catalogue"]
# ---- end of test results page block ----


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", 'live: needs the live Ray Serve service (`-m "not live"` skips it)')


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from run_service(tmp_path_factory)


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


# ---- a real browser and the executed notebooks, for the site tests (and the dashboard and app ones) ----
@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (tests/browser_support.py), once per module: Playwright's
    sync API keeps an event loop running in the test thread while it is open, and the in-process
    API tests collected after a browser module call asyncio.run in that thread."""
    from browser_support import launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the three notebooks executed once per session by a small pipeline run, with its
    registry and data in a temporary folder (never models/ or reports/)."""
    from support import run_pipeline, small_params

    folder = tmp_path_factory.mktemp("pipeline-run")
    run_pipeline(small_params(folder), folder / "reports")
    return folder / "reports"


@pytest.fixture(scope="session")
def monitoring_sample(executed_notebooks: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Windows the real collector wrote from the session pipeline's production model (support.py)."""
    from support import make_monitoring_sample

    return make_monitoring_sample(executed_notebooks.parent / "params.yaml", tmp_path_factory.mktemp("monitoring"))


@pytest.fixture(scope="session")
def executed_monitoring_report(monitoring_sample: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """notebooks/04_monitoring_report executed once per session on that sample."""
    from support import run_monitoring_report

    out = monitoring_sample["out"]
    return run_monitoring_report(
        tmp_path_factory.mktemp("monitoring-report") / "04_monitoring_report.ipynb",
        params_file=str(monitoring_sample["params"]),
        monitoring_dir=str(out / "monitoring"),
        store=str(out / "serve" / "api.sqlite3"),
    )


# ---- end of browser and notebooks fixtures -------------------------------------------------------------
