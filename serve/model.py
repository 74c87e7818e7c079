"""The served model, without Ray: load the production version, verify it, follow the registry.

The Ray deployment (serve/app.py) wraps a ModelHolder; so does LocalBackend, which the
benchmark's uvicorn server and the in-process tests use. A version switch loads the new model beside the old one
and then swaps one reference, so a request in flight finishes on the version it started with.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sklearn

from modelship.registry import POINTER_FILE, IntegrityError, LoadedModel, Registry, RegistryError

log = logging.getLogger("modelship.model")


class ModelUnavailable(Exception):
    """No model replica could answer in time (restarting, overloaded or refusing to load)."""


@dataclass(frozen=True)
class Scores:
    version: str
    threshold: float
    probabilities: list[float]


class Backend(Protocol):
    """What the API needs from the model, wherever it runs."""

    async def predict(self, rows: np.ndarray) -> Scores: ...
    async def card(self) -> dict[str, Any]: ...
    async def refresh(self) -> str: ...
    async def ready(self) -> bool: ...


def card_of(loaded: LoadedModel) -> dict[str, Any]:
    """The metadata a client may see: no paths, no parameters of the training run."""
    meta = loaded.metadata
    metrics = {
        k: float(v)
        for k, v in (meta.get("metrics") or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    return {
        "version": loaded.version,
        "created_at": meta.get("created_at"),
        "threshold": float(meta["threshold"]),
        "positive_label": meta["positive_label"],
        "negative_label": meta["negative_label"],
        "metrics": metrics,
        "data_sha256": meta.get("data_sha256"),
        "model_sha256": meta["model_sha256"],
        "features": list(meta["features"]),
        "contract": meta.get("contract") or {},
    }


class ModelHolder:
    """The current model of a registry, swapped atomically when production changes."""

    def __init__(self, registry_root: Path, feature_order: list[str], pinned_version: str | None = None) -> None:
        self.registry = Registry(registry_root)
        self.pinned_version = pinned_version
        # The column order of the rows the API sends (the contract's): required, so that a model
        # trained with another column order can never score swapped columns silently.
        self.feature_order = list(feature_order)
        self._lock = threading.Lock()  # one sync at a time (the poller's thread, a request's)
        self._pointer_seen = self._pointer_stamp()
        # The model and its column map, swapped together as one reference.
        # Refuses to start on a missing or tampered model (IntegrityError says which and how to fix).
        self._state: tuple[LoadedModel, list[int] | None] = self._load(self._wanted())
        self._failed: str | None = None

    @property
    def current(self) -> LoadedModel:
        return self._state[0]

    def _wanted(self) -> str:
        if self.pinned_version:
            return self.pinned_version
        version = self.registry.production()
        if version is None:
            raise RegistryError(
                f"no production model in the registry ({self.registry.root.name}): "
                "run `make run`, or `make promote VERSION=...`"
            )
        return version

    def _load(self, version: str) -> tuple[LoadedModel, list[int] | None]:
        loaded = self.registry.load(version)  # verifies the checksum before unpickling anything
        columns = self._columns_for(loaded)
        log.info("model %s loaded (threshold %.3f)", version, loaded.threshold)
        return loaded, columns

    def _columns_for(self, loaded: LoadedModel) -> list[int] | None:
        """Where each feature the model expects sits in the API's rows (None: same order)."""
        if loaded.feature_names == self.feature_order:
            return None
        missing = [f for f in loaded.feature_names if f not in self.feature_order]
        if missing:
            raise RegistryError(
                f"model {loaded.version} needs features the data contract does not have "
                f"({', '.join(missing)}): retrain it on the current contract"
            )
        return [self.feature_order.index(f) for f in loaded.feature_names]

    def _pointer_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.registry.root / POINTER_FILE)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def pointer_moved(self) -> bool:
        """Whether the production pointer was replaced since the last sync: one stat() call.

        Replicas check it before scoring, so once a switch has been written (by the admin
        endpoint of any replica, or the CLI) no replica answers with the old version."""
        return self.pinned_version is None and self._pointer_stamp() != self._pointer_seen

    def sync(self, retry_failed: bool = False) -> str:
        """Load the wanted version if it changed; keep serving the old one if it cannot be loaded.

        A version that failed to load is not retried at every poll, only when asked
        (`retry_failed`: the admin endpoint's refresh, after the file was restored)."""
        with self._lock:
            stamp = self._pointer_stamp()  # taken before reading: a move during the sync is seen next time
            try:
                return self._sync(retry_failed)
            finally:
                # Only once the wanted version is loaded (or refused): until then a request that
                # checks pointer_moved() waits for this sync instead of scoring with the old model.
                self._pointer_seen = stamp

    def _sync(self, retry_failed: bool) -> str:
        try:
            wanted = self._wanted()
        except (RegistryError, OSError, ValueError) as exc:
            log.error("cannot read the production pointer, keeping %s: %s", self.current.version, exc)
            return self.current.version
        if wanted == self.current.version or (wanted == self._failed and not retry_failed):
            return self.current.version
        try:
            self._state = self._load(wanted)
            self._failed = None
        except (IntegrityError, RegistryError) as exc:
            # Refuse the switch, not the service: the previous version keeps answering.
            self._failed = wanted
            log.error("refusing to switch to %s, still serving %s: %s", wanted, self.current.version, exc)
        return self.current.version

    def predict(self, rows: np.ndarray) -> Scores:
        loaded, columns = self._state  # one read: the whole batch is scored by one version
        if columns is not None:
            rows = rows[:, columns]
        # The rows were validated against the contract (finite, bounded) and the estimator's
        # parameters when it was fitted: sklearn's per-call re-checks would only repeat that.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            probabilities = loaded.model.predict_proba(rows)[:, 1]
        return Scores(loaded.version, loaded.threshold, probabilities.tolist())


class LocalBackend:
    """The Backend protocol on a model in this process (bench/baseline.py, in-process tests)."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    async def predict(self, rows: np.ndarray) -> Scores:
        return self.holder.predict(rows)

    async def card(self) -> dict[str, Any]:
        return card_of(self.holder.current)

    async def refresh(self) -> str:
        return await asyncio.to_thread(self.holder.sync, retry_failed=True)

    async def ready(self) -> bool:
        return True
