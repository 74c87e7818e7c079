"""The comparison server: the project's own FastAPI app under bare uvicorn, model in process.

Same routes, validation, auth, limits and prediction store as the Serve ingress (the same
`build_service` and `create_api`), with `LocalBackend` instead of the replica's batched model.
Run as `uvicorn bench.baseline:create_app --factory --workers 2`, with BENCH_SERVE_CONFIG naming
the Serve config whose settings it should use.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from modelship.contract import load_contract
from serve.api import create_api
from serve.model import LocalBackend, ModelHolder
from serve.service import build_service
from serve.settings import Settings

CONFIG_ENV = "BENCH_SERVE_CONFIG"


def create_app() -> FastAPI:
    """One worker's app; each uvicorn worker builds its own (as each Serve replica does)."""
    settings = Settings.from_config(os.environ[CONFIG_ENV])
    contract = load_contract(settings.paths.contract)
    backend = LocalBackend(ModelHolder(settings.paths.registry, feature_order=contract.feature_names))
    return create_api(settings, contract, build_service(settings, backend, contract))
