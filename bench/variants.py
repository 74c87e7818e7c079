"""Variants of the Serve deployment that the benchmark can run instead of serve/config.yaml as is.

Each variant is the project's config plus changes: environment variables for Ray, launcher
flags, application args (`topology: split`), per-deployment overrides, or another application
(`build_single`: the prototype of what is now `topology: single`, kept to compare with it).

The launcher gives the ingress replicas the service port itself (serve/launcher.py), so every
throughput-optimized variant is measured on that port. Variants named in older runs of
docs/performance.qmd and gone from here measured designs that the default has replaced.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray import serve

from bench.workspace import ROOT
from modelship.contract import load_contract
from modelship.registry import Registry
from serve.api import Service, create_api
from serve.auth import AuthService, AuthSettings
from serve.model import ModelHolder, Scores
from serve.ratelimit import TokenBuckets
from serve.settings import ServiceSettings
from serve.store import Store


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    env: dict[str, str] = field(default_factory=dict)
    throughput_optimized: bool = True
    import_path: str = "serve.app:build"
    deployments: dict[str, Any] = field(default_factory=dict)
    access_log: bool | None = None
    # Application args set over the config's (e.g. topology).
    args: dict[str, Any] = field(default_factory=dict)


# topology: split as serve/config.yaml describes it: a Model entry holding the model's knobs,
# one replica of each deployment (the default before the ingress replicas shared the port).
SPLIT_ARGS = {"topology": "split"}
SPLIT = {"Ingress": {"num_replicas": 1, "health_check_period_s": None, "user_config": None},
         "Model": {"num_replicas": 1, "max_ongoing_requests": 64, "max_queued_requests": 256,
                   "graceful_shutdown_timeout_s": 5, "health_check_period_s": 2,
                   "user_config": {"max_batch_size": 32, "batch_wait_timeout_s": 0.0,
                                   "poll_interval_s": 1.0, "pinned_version": None}}}


class BatchedLocalBackend:
    """The Backend protocol on the model held in this replica, scored in micro-batches."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)
    async def _score(self, batches: list[np.ndarray]) -> list[Scores]:
        if len(batches) == 1:
            return [self.holder.predict(batches[0])]
        scores = self.holder.predict(np.concatenate(batches))
        out, start = [], 0
        for b in batches:
            out.append(Scores(scores.version, scores.threshold, scores.probabilities[start:start + len(b)]))
            start += len(b)
        return out

    async def predict(self, rows: np.ndarray) -> Scores:
        return await self._score(rows)

    async def card(self) -> dict[str, Any]:
        from serve.model import card_of
        return card_of(self.holder.current)

    async def refresh(self) -> str:
        return await asyncio.to_thread(self.holder.sync)

    async def ready(self) -> bool:
        return True


class DirectLocalBackend(BatchedLocalBackend):
    """The same, one predict_proba call per request (no batching)."""

    async def predict(self, rows: np.ndarray) -> Scores:
        return self.holder.predict(rows)


@serve.deployment(name="Single")
@serve.ingress()
class SingleDeployment:
    """Ingress and model in one replica: no handle call, no second process per request."""

    async def __init__(self, settings: dict[str, Any], batched: bool = True) -> None:
        self.settings = ServiceSettings.model_validate(settings)
        self.contract = load_contract(self.settings.contract_path)
        holder = ModelHolder(self.settings.registry_path)
        backend = BatchedLocalBackend(holder) if batched else DirectLocalBackend(holder)
        self.store = Store(self.settings.db_path)
        self.service = Service(auth=AuthService(AuthSettings.from_env(self.settings.state_path)),
                               backend=backend, store=self.store, registry=Registry(self.settings.registry_path),
                               requests=TokenBuckets(), rows=TokenBuckets(), token_attempts=TokenBuckets())
        self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(self.settings.prediction_flush_s)
            await asyncio.to_thread(self.store.flush)

    def __serve_build_asgi_app__(self) -> Any:
        return create_api(self.settings, self.contract, self.service)


def build_single(args: dict[str, Any]) -> Any:
    """One deployment, model batched in the ingress replica."""
    settings = ServiceSettings.model_validate(args or {}).model_dump()
    return SingleDeployment.bind(settings, True)


def build_single_direct(args: dict[str, Any]) -> Any:
    """One deployment, one predict_proba per request."""
    settings = ServiceSettings.model_validate(args or {}).model_dump()
    return SingleDeployment.bind(settings, False)


# HAProxy's files default to /tmp/haproxy-serve, shared by every cluster on the machine: keep
# ours apart. Its Prometheus frontend binds all interfaces (Ray's template says `bind :PORT`);
# move it off the default port so it cannot collide with another session's.
# HAProxy binds http_options.port, which the launcher now moves to port + 10 (the replica holds
# the service port): the service port these variants measure is the first replica's own.
HAPROXY_DIR = ROOT / "var" / "bench" / "haproxy"
HAPROXY_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(HAPROXY_DIR / "haproxy.cfg"),
    "RAY_SERVE_HAPROXY_SOCKET_PATH": str(HAPROXY_DIR / "admin.sock"),
    "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(HAPROXY_DIR),
    "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(HAPROXY_DIR / "server-state"),
    "RAY_SERVE_HAPROXY_METRICS_PORT": "18190",
}

ONE_DEPLOYMENT = {"Ingress": None, "Model": None,
                  "Single": {"num_replicas": 1, "max_ongoing_requests": 64, "max_queued_requests": 256,
                             "graceful_shutdown_timeout_s": 5}}

VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("default", "serve/config.yaml as `make serve` runs it: topology single, 2 ingress replicas "
            "sharing the service port, throughput-optimized on"),
    Variant("one-replica", "topology single, 1 ingress replica", deployments={"Ingress": {"num_replicas": 1}}),
    Variant("split", "topology split: 1 ingress replica calling 1 model replica through a handle",
            args=SPLIT_ARGS, deployments=SPLIT),
    Variant("no-throughput-optimized", "RAY_SERVE_THROUGHPUT_OPTIMIZED off: Serve's HTTP proxy actor in front",
            throughput_optimized=False),
    Variant("haproxy", "RAY_SERVE_ENABLE_HA_PROXY=1: bundled HAProxy in front of the ingress replicas",
            env=HAPROXY_ENV),
    Variant("max-ongoing-5", "Serve's default max_ongoing_requests (5)",
            deployments={"Ingress": {"max_ongoing_requests": 5}}),
    Variant("batch-wait-5ms", "batch_wait_timeout_s 5 ms instead of 0",
            deployments={"Ingress": {"user_config": {"batch_wait_timeout_s": 0.005}}}),
    Variant("batch-1", "max_batch_size 1 (no batching)",
            deployments={"Ingress": {"user_config": {"max_batch_size": 1}}}),
    # Prototypes of what is now `topology: single`, kept to compare with it.
    Variant("one-deployment", "prototype: ingress and model in one deployment, @serve.batch in the replica",
            import_path="bench.variants:build_single", deployments=ONE_DEPLOYMENT),
    Variant("one-deployment-direct", "prototype: one deployment, one predict_proba per request",
            import_path="bench.variants:build_single_direct", deployments=ONE_DEPLOYMENT),
    Variant("access-log", "Serve access log on", access_log=True),
]}
