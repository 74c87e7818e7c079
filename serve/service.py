"""The live parts of the API, assembled in one place for every server that runs it.

The Ray Serve replica (serve/app.py), the benchmark's bare uvicorn server (bench/baseline.py) and
the in-process tests all call `build_service(settings, backend)`; only the backend differs (the
replica's own batched model, or a LocalBackend). `lifespan` is the app's: it owns the loop that
writes buffered predictions, the monitoring hand-off loop, and closes both at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from modelship.contract import Contract, load_contract
from modelship.registry import Registry
from serve.auth import AuthService
from serve.model import Backend
from serve.monitoring.sinks import Monitor, Sink, ThreadSink
from serve.ratelimit import SharedTokenBuckets, shared_buckets
from serve.settings import Settings
from serve.store import Store

log = logging.getLogger("modelship.service")


@dataclass
class Service:
    """What the routes use: settings, contract, auth, the model backend, the store and the limits."""

    settings: Settings
    contract: Contract
    auth: AuthService
    backend: Backend
    store: Store
    registry: Registry
    requests: SharedTokenBuckets
    rows: SharedTokenBuckets
    token_attempts: SharedTokenBuckets
    # None when monitoring is off (settings.monitoring.enabled).
    monitor: Monitor | None = None
    closed: bool = field(default=False, init=False)

    def close(self) -> None:
        """Write what is buffered and release the files (once; a second call does nothing)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.monitor is not None:
                self.monitor.close()
        finally:
            self.store.close()
        for buckets in (self.requests, self.rows, self.token_attempts):
            buckets.close()


def build_service(
    settings: Settings, backend: Backend, contract: Contract | None = None, sink: Sink | None = None
) -> Service:
    """Every live part from the settings; refuses to start on default or short keys (serve.auth).

    `sink`: where monitoring batches go (the Ray replica passes the collector actor's); by
    default a collector in a thread of this process."""
    contract = contract or load_contract(settings.paths.contract)
    monitor = None
    if settings.monitoring.enabled:
        monitor = Monitor(settings, contract, sink or ThreadSink(settings, contract))
    return Service(
        settings=settings,
        contract=contract,
        monitor=monitor,
        auth=AuthService(settings.auth_settings()),
        backend=backend,
        store=Store(settings.paths.store),
        registry=Registry(settings.paths.registry),
        # Shared by every replica (or worker) of this machine: limits hold per client.
        **shared_buckets(settings.paths.limits),
    )


async def flush_predictions(service: Service) -> None:
    """Write the buffered predictions every `prediction_flush_s`, until cancelled."""
    while True:
        await asyncio.sleep(service.settings.service.prediction_flush_s)
        try:
            await asyncio.to_thread(service.store.flush)
        except Exception:  # disk full or locked: the rows stay buffered and the next tick retries
            log.exception("prediction flush failed")


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The app's lifespan: the flush loop runs while the app serves; the store closes after."""
    service: Service | None = app.state.service
    if service is None:  # the OpenAPI export: nothing to run
        yield
        return
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(flush_predictions(service))]
    if service.monitor is not None:
        tasks.append(loop.create_task(service.monitor.handoff()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(service.close)
