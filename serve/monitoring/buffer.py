"""What a replica keeps for monitoring between two hand-offs: appends to lists, nothing more.

The request path only appends references (the scored rows' numpy array, the probabilities list
the model returned) and small tuples; the arrays are joined when a batch is taken, in the
hand-off task's thread, never per request.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field

import numpy as np

from modelship.monitoring.quality import Rejection


@dataclass
class Batch:
    """Everything one replica saw since its last hand-off; picklable, numpy inside."""

    replica: str
    sent_at: float
    features: np.ndarray  # n × features, in contract order
    probabilities: np.ndarray
    thresholds: np.ndarray
    versions: list[str]  # one per row
    times: np.ndarray  # epoch seconds, one per row
    # One per request: (time, route template, status, seconds from first byte to answer).
    requests: list[tuple[float, str, int, float]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # Rows this replica could not hand over since it started (buffer full, collector down).
    dropped_rows: int = 0

    @property
    def rows(self) -> int:
        return len(self.probabilities)


class Buffer:
    """One replica's monitoring buffer. Used from the replica's event loop only (no lock)."""

    def __init__(self, n_features: int, max_rows: int) -> None:
        self.replica = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.n_features = n_features
        self.max_rows = max_rows
        self.dropped_rows = 0
        self._reset()

    def _reset(self) -> None:
        self._features: list[np.ndarray] = []
        self._probabilities: list[list[float]] = []
        self._meta: list[tuple[float, str, float, int]] = []  # (time, version, threshold, rows)
        self._requests: list[tuple[float, str, int, float]] = []
        self._rejections: list[Rejection] = []
        self.rows = 0

    def add_scored(self, rows: np.ndarray, probabilities: list[float], version: str, threshold: float) -> None:
        if self.rows + len(rows) > self.max_rows:
            self.dropped_rows += len(rows)
            return
        self._features.append(rows)
        self._probabilities.append(probabilities)
        self._meta.append((time.time(), version, threshold, len(rows)))
        self.rows += len(rows)

    def add_request(self, route: str, status: int, seconds: float) -> None:
        if len(self._requests) < self.max_rows:
            self._requests.append((time.time(), route, status, seconds))

    def add_rejection(self, route: str, status: int, kind: str, fields: tuple[str, ...] = ()) -> None:
        if len(self._rejections) < self.max_rows:
            self._rejections.append(Rejection(time.time(), route, status, kind, fields))

    def pending(self) -> bool:
        return bool(self.rows or self._requests or self._rejections)

    def take(self) -> tuple[list[np.ndarray], list[list[float]], list[tuple[float, str, float, int]], Batch]:
        """Swap the lists out (O(1), on the event loop); `assemble` joins them later, off it."""
        parts = (self._features, self._probabilities, self._meta)
        shell = Batch(
            replica=self.replica,
            sent_at=time.time(),
            features=np.empty((0, self.n_features)),
            probabilities=np.empty(0),
            thresholds=np.empty(0),
            versions=[],
            times=np.empty(0),
            requests=self._requests,
            rejections=self._rejections,
            dropped_rows=self.dropped_rows,
        )
        self._reset()
        return (*parts, shell)


def assemble(
    features: list[np.ndarray],
    probabilities: list[list[float]],
    meta: list[tuple[float, str, float, int]],
    shell: Batch,
) -> Batch:
    """The batch with its rows joined into arrays (in the hand-off thread)."""
    if features:
        shell.features = np.concatenate(features)
        shell.probabilities = np.fromiter((p for ps in probabilities for p in ps), dtype=np.float64)
        counts = [m[3] for m in meta]
        shell.times = np.repeat([m[0] for m in meta], counts)
        shell.thresholds = np.repeat([m[2] for m in meta], counts)
        shell.versions = [m[1] for m in meta for _ in range(m[3])]
    return shell
