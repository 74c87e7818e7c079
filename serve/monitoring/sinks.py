"""Where a replica's batches go: the collector in a thread of this process, or a Ray actor.

Both take a batch without making the caller wait for it to be profiled (`submit` returns at
once) and answer `state()` for the monitoring routes. The hand-off loop (`handoff`) runs in the
app's lifespan: it swaps the buffer's lists on the event loop and does the rest in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any, Protocol

from modelship.contract import Contract
from modelship.monitoring.alerts import load_rules
from modelship.monitoring.quality import field_key
from serve.monitoring.buffer import Batch, Buffer, assemble
from serve.monitoring.collector import Collector
from serve.settings import Settings

log = logging.getLogger("modelship.monitoring")


class Sink(Protocol):
    def submit(self, batch: Batch) -> None: ...
    async def state(self, windows: int) -> dict[str, Any]: ...
    def close(self) -> None: ...


class ThreadSink:
    """The collector in a thread of this process: for a server without Ray (bench/baseline.py,
    the in-process tests). A bounded queue: when the collector falls behind, batches are dropped
    and counted rather than held without limit."""

    def __init__(self, settings: Settings, contract: Contract, max_batches: int = 64) -> None:
        self.collector = Collector(settings, contract)
        self.collector.start()
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=max_batches)
        self.dropped_rows = 0
        self._worker = threading.Thread(target=self._run, name="monitoring-collector", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            try:
                self.collector.ingest(batch)
            except Exception:
                log.exception("monitoring: a batch could not be collected")
            finally:
                self._queue.task_done()

    def submit(self, batch: Batch) -> None:
        batch.dropped_rows += self.dropped_rows
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.dropped_rows += batch.rows

    def drain(self) -> None:
        """Wait until every submitted batch is collected (tests, shutdown)."""
        self._queue.join()

    async def state(self, windows: int) -> dict[str, Any]:
        return await asyncio.to_thread(self.collector.state, windows)

    def close(self) -> None:
        self.drain()
        self._queue.put(None)
        self._worker.join(timeout=10)
        self.collector.stop(flush=True)


class Monitor:
    """A replica's side of monitoring: its buffer and the sink its batches go to."""

    def __init__(self, settings: Settings, contract: Contract, sink: Sink) -> None:
        # The rules are the collector's, but a bad file must stop the replica's start too, with
        # its message, rather than only the collector actor's in Ray's logs.
        load_rules(settings.alert_rules_path)
        self.settings = settings.monitoring
        self.buffer = Buffer(len(contract.feature_names), self.settings.max_buffer_rows)
        self.sink = sink
        # Made by the hand-off loop, on the loop it runs in (an Event belongs to one loop).
        self.full: asyncio.Event | None = None
        self.known_fields = frozenset(contract.feature_names)

    def scored(self, rows: Any, probabilities: list[float], version: str, threshold: float) -> None:
        """On the request path: two appends."""
        self.buffer.add_scored(rows, probabilities, version, threshold)
        if self.full is not None and self.buffer.rows >= self.settings.batch_size:
            self.full.set()

    def request(self, route: str, status: int, seconds: float) -> None:
        self.buffer.add_request(route, status, seconds)

    def rejected(self, route: str, status: int, kind: str, invalid_params: list[dict[str, str]] | None) -> None:
        fields = tuple(sorted({field_key(p["name"], self.known_fields) for p in invalid_params or ()}))
        self.buffer.add_rejection(route, status, kind, fields)

    def hand_over(self) -> Batch | None:
        """Take the buffer and hand it to the sink (the join runs in the caller's thread)."""
        if not self.buffer.pending():
            return None
        batch = assemble(*self.buffer.take())
        self.sink.submit(batch)
        return batch

    async def handoff(self) -> None:
        """Until cancelled: every handoff_s (or once batch_size rows wait), hand the buffer over."""
        self.full = full = asyncio.Event()
        while True:
            try:
                await asyncio.wait_for(full.wait(), self.settings.handoff_s)
            except TimeoutError:
                pass
            full.clear()
            await self.flush()

    async def flush(self) -> None:
        if not self.buffer.pending():
            return
        parts = self.buffer.take()  # on the loop: the request path appends to fresh lists now
        try:
            await asyncio.to_thread(lambda: self.sink.submit(assemble(*parts)))
        except Exception:  # the collector unreachable: these rows are lost, counted
            self.buffer.dropped_rows += sum(len(f) for f in parts[0])
            log.exception("monitoring: hand-off failed")

    def close(self) -> None:
        self.hand_over()
        self.sink.close()
