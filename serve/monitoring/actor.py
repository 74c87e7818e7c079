"""The collector as a detached Ray actor: one per application, whichever replica asks first.

Detached, so that it outlives the replica that created it; restarted by Ray when its process
dies (`max_restarts=-1`), which loses its open windows and counters (closed windows are on
disk). A replica submits a batch as one actor task and does not wait for it; it only looks,
at the next hand-off, at which earlier tasks failed, and counts their rows as dropped.
"""

from __future__ import annotations

import logging
from typing import Any

import ray

from modelship.contract import load_contract
from serve.monitoring.buffer import Batch
from serve.monitoring.collector import Collector
from serve.settings import Settings

log = logging.getLogger("modelship.monitoring")
NAMESPACE = "modelship"
# Tasks a replica lets pile up on an unresponsive collector before it drops batches.
MAX_IN_FLIGHT = 16


class CollectorActor:
    def __init__(self, args: dict[str, Any]) -> None:
        settings = Settings.from_args(args)
        self.collector = Collector(settings, load_contract(settings.paths.contract))
        self.collector.start()

    def ingest(self, batch: Batch) -> int:
        return self.collector.ingest(batch)

    def state(self, windows: int) -> dict[str, Any]:
        return self.collector.state(windows)

    def tick(self) -> list[dict[str, Any]]:
        return self.collector.tick()


def collector_handle(args: dict[str, Any], name: str) -> Any:
    """The application's collector actor, created by the first replica that asks."""
    remote: Any = ray.remote(CollectorActor)
    return remote.options(
        name=name,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        # A booking only: it must not take a core from the ingress replicas' scheduling.
        num_cpus=0,
        # ingest and state are served one at a time, in order; the windows close in its thread.
        max_concurrency=1,
    ).remote(args)


class ActorSink:
    def __init__(self, args: dict[str, Any], name: str) -> None:
        self.handle = collector_handle(args, name)
        self._in_flight: list[tuple[Any, int]] = []
        self.dropped_rows = 0

    def _settle(self) -> None:
        if not self._in_flight:
            return
        refs = [r for r, _ in self._in_flight]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        finished = set(done)
        still = []
        for ref, rows in self._in_flight:
            if ref not in finished:
                still.append((ref, rows))
                continue
            try:
                ray.get(ref, timeout=0)
            except Exception as exc:  # the actor died with the batch, or refused it
                self.dropped_rows += rows
                log.warning("monitoring: a batch of %d rows was lost: %s", rows, type(exc).__name__)
        self._in_flight = still

    def submit(self, batch: Batch) -> None:
        self._settle()
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            self.dropped_rows += batch.rows
            return
        batch.dropped_rows += self.dropped_rows
        self._in_flight.append((self.handle.ingest.remote(batch), batch.rows))

    async def state(self, windows: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.handle.state.remote(windows)
        return result

    def close(self) -> None:
        """The replica goes; the collector stays for the others."""
        self._settle()
