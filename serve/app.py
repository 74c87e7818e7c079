"""The Ray Serve application, in one of two topologies (`topology` in the app's args).

single (the default): one deployment; the model lives in each ingress replica.

    client ─HTTP─► Ingress ×2 (auth, validation, limits, store, model: @serve.batch)

split: an ingress deployment and a model deployment, called through a handle.

    client ─HTTP─► Ingress (auth, validation, limits, store) ─handle─► Model (@serve.batch)

`single` saves a handle call and a second process per request: measured on Ray 2.60.0, 2 cores
(docs/performance.qmd), p50 at one client ~3.7 ms → ~1.2 ms and 3-4 times the throughput.
Its replicas all listen on the service port (serve/shared_port.py), so one that dies leaves
the others answering; `split` suits a model that needs resources of its own.

`build(args)` is the import path in serve/config.yaml; `args` are ServiceSettings. Serve's
knobs (replicas, max_ongoing_requests, max_queued_requests, batching via user_config) are
set in the config file, not here; user_config goes to the deployment that holds the model
(Ingress in `single`, Model in `split`).

Version switches: each replica holding the model follows the registry's production pointer
(checked before every batch with one stat(), and preloaded every `poll_interval_s`) and swaps
the model in place, so no replica restarts, no request fails, and once a switch is written no
replica answers with the old version. `user_config.pinned_version`
overrides the pointer through Serve's reconfigure (`serve deploy` with a new value).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from modelship.contract import load_contract
from modelship.registry import Registry
from serve import shared_port
from serve.api import Service, create_api
from serve.auth import AuthService, AuthSettings
from serve.model import ModelHolder, ModelUnavailable, Scores, card_of
from serve.ratelimit import shared_buckets
from serve.settings import ServiceSettings
from serve.store import Store

log = logging.getLogger("ray.serve")

DEFAULT_BATCH = {"max_batch_size": 32, "batch_wait_timeout_s": 0.0}


class ModelRunner:
    """The model side of a replica: a verified ModelHolder that follows the registry and
    scores batches of rows. Shared by the model deployment (split) and the one deployment."""

    def _start_model(self, settings: ServiceSettings, feature_order: list[str]) -> None:
        # Raises on a tampered file or a model that does not fit the contract: the replica fails.
        self.holder = ModelHolder(settings.registry_path, feature_order=feature_order)
        self.poll_interval_s = 1.0
        self._poller: asyncio.Task[None] | None = None

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """Serve calls this at start and whenever user_config changes (no restart).

        async so that it runs on the replica's event loop, where the poller task lives."""
        config = {**DEFAULT_BATCH, "poll_interval_s": 1.0, "pinned_version": None, **(config or {})}
        self.predict.set_max_batch_size(int(config["max_batch_size"]))
        self.predict.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))
        self.poll_interval_s = float(config["poll_interval_s"])
        if config["pinned_version"] != self.holder.pinned_version:
            self.holder.pinned_version = config["pinned_version"]
            await asyncio.to_thread(self.holder.sync)
        self._ensure_poller()

    def _ensure_poller(self) -> None:
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._follow_registry())

    async def _follow_registry(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await asyncio.to_thread(self.holder.sync)
            except Exception:  # never let the follower die; the next tick retries
                log.exception("registry sync failed")

    async def _follow_pointer(self) -> None:
        # A switch written by another replica or the CLI takes effect here before the next
        # answer, not at the next poll: clients never see versions go back and forth.
        if self.holder.pointer_moved():
            await asyncio.to_thread(self.holder.sync)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)
    async def predict(self, batches: list[np.ndarray]) -> list[Scores]:
        await self._follow_pointer()
        if len(batches) == 1:
            return [self.holder.predict(batches[0])]
        sizes = [len(b) for b in batches]
        scores = self.holder.predict(np.concatenate(batches))
        out, start = [], 0
        for n in sizes:
            out.append(Scores(scores.version, scores.threshold, scores.probabilities[start:start + n]))
            start += n
        return out

    async def card(self) -> dict[str, Any]:
        await self._follow_pointer()
        return card_of(self.holder.current)

    async def refresh(self) -> str:
        # Asked for (admin endpoint): retry a version that failed before, its file may be restored.
        return await asyncio.to_thread(self.holder.sync, retry_failed=True)

    async def version(self) -> str:
        return self.holder.current.version

    def check_health(self) -> None:
        if self.holder.current is None:
            raise RuntimeError("no model loaded")


@serve.deployment(name="Model")
class ModelDeployment(ModelRunner):
    """split: holds the production model, verified, and scores batches of rows."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = ServiceSettings.model_validate(settings)
        self._start_model(self.settings, load_contract(self.settings.contract_path).feature_names)


class HandleBackend:
    """The Backend protocol over a handle to the model deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self.handle, method).remote(*args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # replica died, backpressure (max_queued_requests), ...
            log.warning("model call %s failed: %s", method, type(exc).__name__)
            raise ModelUnavailable(type(exc).__name__) from None

    async def predict(self, rows: np.ndarray) -> Scores:
        return await self._call("predict", rows)

    async def card(self) -> dict[str, Any]:
        return await self._call("card")

    async def refresh(self) -> str:
        return await self._call("refresh")

    async def ready(self) -> bool:
        return bool(await self._call("version"))


class RunnerBackend:
    """The Backend protocol on the ModelRunner of this same replica (single): no handle call."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner

    async def predict(self, rows: np.ndarray) -> Scores:
        return await self.runner.predict(rows)

    async def card(self) -> dict[str, Any]:
        return await self.runner.card()

    async def refresh(self) -> str:
        return await self.runner.refresh()

    async def ready(self) -> bool:
        return bool(await self.runner.version())


class IngressBase:
    """Authentication, validation, limits and the prediction store: the FastAPI app."""

    def _start_ingress(self, settings: dict[str, Any], backend_of: Any) -> None:
        shared_port.install()  # before Serve starts this replica's HTTP server
        self.settings = ServiceSettings.model_validate(settings)
        self.contract = load_contract(self.settings.contract_path)
        auth = AuthService(AuthSettings.from_env(self.settings.state_path))  # refuses default/short keys
        self.store = Store(self.settings.db_path)
        self.service = Service(auth=auth, backend=backend_of(self), store=self.store,
                               registry=Registry(self.settings.registry_path),
                               **shared_buckets(self.settings.limits_path))
        self._flusher = asyncio.get_running_loop().create_task(self._flush_predictions())

    async def _flush_predictions(self) -> None:
        while True:
            await asyncio.sleep(self.settings.prediction_flush_s)
            try:
                await asyncio.to_thread(self.store.flush)
            except Exception:  # disk full or locked: keep the rows and retry at the next tick
                log.exception("prediction flush failed")

    def __serve_build_asgi_app__(self) -> Any:
        return create_api(self.settings, self.contract, self.service)

    def __del__(self) -> None:
        try:
            self.store.close()
        except Exception:
            pass


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress(IngressBase):
    """split: the FastAPI app in front of the model deployment."""

    async def __init__(self, model: DeploymentHandle, settings: dict[str, Any]) -> None:
        self._start_ingress(settings, lambda _self: HandleBackend(model))


@serve.deployment(name="Ingress")
@serve.ingress()
class SingleIngress(IngressBase, ModelRunner):
    """single: the FastAPI app and the model in one replica (Serve's health check fails
    while no model is loaded, through ModelRunner.check_health)."""

    async def __init__(self, settings: dict[str, Any]) -> None:
        plain = ServiceSettings.model_validate(settings)
        self._start_model(plain, load_contract(plain.contract_path).feature_names)
        self._start_ingress(settings, RunnerBackend)
        # Serve calls reconfigure only when the deployment has a user_config: follow the
        # registry without one too.
        self._ensure_poller()


def build(args: dict[str, Any]) -> Any:
    """The application in the topology the settings ask for, every deployment given the settings."""
    settings = ServiceSettings.model_validate(args or {})
    plain = settings.model_dump()
    if settings.topology == "split":
        return Ingress.bind(ModelDeployment.bind(plain), plain)
    return SingleIngress.bind(plain)
