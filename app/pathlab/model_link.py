"""The app's one link to the model's service: the API client of this process, started and
stopped with the app, the outbox's periodic retry, and calls to it from page handlers.

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

from pathlab import model_api, outbox
from pathlab.db import open_database
from pathlab.model_api import ModelApi
from pathlab.settings import Settings

log = logging.getLogger("pathlab.model")
T = TypeVar("T")


class ModelLink:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api: ModelApi | None = None
        self._task: asyncio.Task[None] | None = None

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
        self._task = asyncio.create_task(self._retry_outbox())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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

    async def _retry_outbox(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_api.outbox_interval_s)
            try:
                await run_in_threadpool(self.flush_outbox)
            except Exception:  # the loop must outlive a bad moment (a locked database, a bug)
                log.exception("sending the feedback outbox failed; trying again later")
