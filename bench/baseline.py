"""The comparison server: the project's own FastAPI app under bare uvicorn, model in process.

Same routes, validation, auth, limits and prediction store as the Serve ingress (it is
`create_api`), with `LocalBackend` instead of a handle to a model deployment. Run as
`uvicorn bench.baseline:create_app --factory --workers 2`, with BENCH_SERVE_CONFIG naming
the Serve config whose application args it should use.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from bench.workspace import service_args
from modelship.contract import load_contract
from modelship.registry import Registry
from serve.api import Service, create_api
from serve.auth import AuthService, AuthSettings
from serve.model import LocalBackend, ModelHolder
from serve.ratelimit import shared_buckets
from serve.settings import ServiceSettings
from serve.store import Store

CONFIG_ENV = "BENCH_SERVE_CONFIG"
log = logging.getLogger("bench.baseline")


def create_app() -> FastAPI:
    """One worker's app; each uvicorn worker builds its own (as each Serve replica does)."""
    settings = ServiceSettings.model_validate(service_args(Path(os.environ[CONFIG_ENV])))
    contract = load_contract(settings.contract_path)
    store = Store(settings.db_path)
    service = Service(auth=AuthService(AuthSettings.from_env(settings.state_path)),
                      backend=LocalBackend(ModelHolder(settings.registry_path)), store=store,
                      registry=Registry(settings.registry_path),
                      # Shared by the workers, as by Serve's replicas: limits hold per client.
                      **shared_buckets(settings.limits_path))
    app = create_api(settings, contract, service)

    async def flush_predictions() -> None:
        # The same buffered writes as the Serve ingress, so both pay for the store alike.
        while True:
            await asyncio.sleep(settings.prediction_flush_s)
            try:
                await asyncio.to_thread(store.flush)
            except Exception:
                log.exception("prediction flush failed")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(flush_predictions())
        try:
            yield
        finally:
            task.cancel()
            store.close()

    app.router.lifespan_context = lifespan
    return app
