"""The Ray Serve application: one deployment, the model in each ingress replica.

    client ─HTTP─► Ingress ×N (auth, validation, limits, store, the model scored with @serve.batch)
                      │ monitoring batches, not awaited
                      ▼
                   collector (a detached actor, serve/monitoring/actor.py)

Every replica listens on the service port (serve/shared_port.py), so one that dies leaves the
others answering while Serve replaces it. A model that needs resources of its own (a GPU, more
memory than an ingress replica should hold) can come back as a second deployment behind the
`Backend` protocol (serve/model.py) without touching the API.

`build(args)` is the import path in serve/config.yaml; `args` are the Settings sections. Serve's
knobs (replicas, max_ongoing_requests, max_queued_requests, batching via user_config) are set in
the config file, not here.

Version switches: each replica follows the registry's production pointer (checked before every
batch with one stat(), and preloaded every `poll_interval_s`) and swaps the model in place, so no
replica restarts, no request fails, and once a switch is written no replica answers with the old
version. `user_config.pinned_version` overrides the pointer through Serve's reconfigure
(`serve deploy` with a new value).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from ray import serve

from modelship.contract import load_contract
from serve import shared_port
from serve.api import create_api
from serve.model import ModelHolder, Scores, card_of
from serve.monitoring.actor import ActorSink
from serve.service import build_service
from serve.settings import Settings

log = logging.getLogger("ray.serve")

DEFAULT_USER_CONFIG = {
    "max_batch_size": 32,
    "batch_wait_timeout_s": 0.0,
    "poll_interval_s": 1.0,
    "pinned_version": None,
}


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    """The FastAPI app and the model in one replica. Serve's health check fails while no model
    is loaded; the replica refuses to start on a tampered model or default keys."""

    async def __init__(self, args: dict[str, Any]) -> None:  # type: ignore[misc]  # Serve awaits it
        shared_port.install()  # before Serve starts this replica's HTTP server
        self.settings = Settings.from_args(args)
        self.contract = load_contract(self.settings.paths.contract)
        # Raises on a tampered file or a model that does not fit the contract: the replica fails.
        self.holder = ModelHolder(self.settings.paths.registry, feature_order=self.contract.feature_names)
        self.poll_interval_s = float(DEFAULT_USER_CONFIG["poll_interval_s"])  # type: ignore[arg-type]
        sink = None
        if self.settings.monitoring.enabled:
            sink = ActorSink(args or {}, self.settings.monitoring.collector_name)
        self.service = build_service(self.settings, self, self.contract, sink=sink)
        # Serve calls reconfigure only when the deployment has a user_config: follow the
        # registry without one too.
        self._poller = asyncio.get_running_loop().create_task(self._follow_registry())

    def __serve_build_asgi_app__(self) -> Any:
        return create_api(self.settings, self.contract, self.service)

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """Serve calls this at start and whenever user_config changes (no restart).

        async so that it runs on the replica's event loop, where the poller task lives."""
        config = {**DEFAULT_USER_CONFIG, **(config or {})}
        batched: Any = self._score  # serve.batch adds these setters to the method
        batched.set_max_batch_size(int(config["max_batch_size"]))
        batched.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))
        self.poll_interval_s = float(config["poll_interval_s"])
        if config["pinned_version"] != self.holder.pinned_version:
            self.holder.pinned_version = config["pinned_version"]
            await asyncio.to_thread(self.holder.sync)

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
    async def _score(self, batches: list[np.ndarray]) -> list[Scores]:
        await self._follow_pointer()
        if len(batches) == 1:
            return [self.holder.predict(batches[0])]
        sizes = [len(b) for b in batches]
        scores = self.holder.predict(np.concatenate(batches))
        out, start = [], 0
        for n in sizes:
            out.append(Scores(scores.version, scores.threshold, scores.probabilities[start : start + n]))
            start += n
        return out

    # -- the Backend protocol (serve/model.py), on this replica's own model --------------------
    async def predict(self, rows: np.ndarray) -> Scores:
        return await self._score(rows)

    async def card(self) -> dict[str, Any]:
        await self._follow_pointer()
        return card_of(self.holder.current)

    async def refresh(self) -> str:
        # Asked for (admin endpoint): retry a version that failed before, its file may be restored.
        return await asyncio.to_thread(self.holder.sync, retry_failed=True)

    async def ready(self) -> bool:
        return self.holder.current is not None

    def check_health(self) -> None:
        if self.holder.current is None:
            raise RuntimeError("no model loaded")


def build(args: dict[str, Any]) -> Any:
    """The application, its one deployment given the settings (validated here, before deploying)."""
    Settings.from_args(args)
    deployment: Any = Ingress  # a serve.Deployment once decorated
    return deployment.bind(args or {})
