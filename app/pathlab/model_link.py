"""The app's one link to the model's service: the API client of this process, started and
stopped with the app, the outbox's periodic retry, the batch assessments' worker, and calls to
it from page handlers.

Page handlers run in worker threads (web.page); the client lives on the event loop (its
asyncio lock is what keeps renewals one at a time), so handlers call it through
`anyio.from_thread.run`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio.from_thread
from starlette.concurrency import run_in_threadpool

from pathlab import batches, model_api, outbox
from pathlab.db import open_database
from pathlab.model_api import ModelApi
from pathlab.settings import Settings

log = logging.getLogger("pathlab.model")
T = TypeVar("T")


class ModelLink:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api: ModelApi | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.model_api.enabled

    async def start(self) -> None:
        if not self.enabled:
            return
        secret = model_api.read_secret(self.settings.model_api)
        if secret is None:
            log.warning(
                "model API enabled but no client secret: set %s or write %s",
                model_api.SECRET_ENV,
                self.settings.model_api.secret_file,
            )
        self.api = ModelApi(self.settings.model_api, secret)
        self._loop = asyncio.get_running_loop()
        conn = open_database(self.settings.database.path)
        try:
            batches.release_interrupted(conn)  # a job the last run left half sent goes on now
        finally:
            conn.close()
        self._wake.set()
        self._tasks = [asyncio.create_task(self._retry_outbox()), asyncio.create_task(self._run_batches())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.api is not None:
            with contextlib.suppress(model_api.ModelApiError):
                await self.api.revoke()
            await self.api.aclose()

    def call(self, operation: Callable[[ModelApi], Callable[..., Coroutine[Any, Any, T]]], *args: Any) -> T:
        """From a worker thread: run one of the client's operations on the event loop."""
        if self.api is None:
            raise model_api.NotConfigured("the model API is switched off in the settings")
        return anyio.from_thread.run(operation(self.api), *args)

    def flush_outbox(self, only: str | None = None) -> int:
        """From a worker thread: send the feedback that is due (or just `only`)."""
        if self.api is None:
            return 0
        conn = open_database(self.settings.database.path)
        try:
            return outbox.flush(conn, lambda pid, label: self.call(lambda api: api.feedback, pid, label), only=only)
        finally:
            conn.close()

    def wake_batches(self) -> None:
        """From a worker thread: a job has cases waiting; the batch worker starts on them now."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def run_batches(self) -> int:
        """From a worker thread: send every waiting case of every job (batches.run)."""
        conn = open_database(self.settings.database.path)
        try:
            return batches.run(
                conn,
                lambda records: self.call(lambda api: api.predict_many, records),
                lambda: self.call(lambda api: api.batch_cap),
            )
        finally:
            conn.close()

    async def _run_batches(self) -> None:
        # One worker per process, so a job's chunks go one after another, in order.
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await run_in_threadpool(self.run_batches)
            except Exception:
                log.exception("the batch assessment worker failed; it starts again at the next job")

    async def _retry_outbox(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_api.outbox_interval_s)
            try:
                await run_in_threadpool(self.flush_outbox)
            except Exception:  # the loop must outlive a bad moment (a locked database, a bug)
                log.exception("sending the feedback outbox failed; trying again later")
