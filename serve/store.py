"""The prediction and feedback store: one SQLite file in WAL mode, shared by ingress replicas.

Durability differs on purpose (docs/api.qmd, "Durability"):
- feedback is written with synchronous=FULL and committed before the API answers 2xx: a
  confirmed diagnosis is rare, costly to obtain, and what live accuracy is computed from;
- predictions are buffered in memory and written in batches (synchronous=NORMAL) by a
  background task: one fsync per prediction would cap throughput at the disk's fsync rate.
  A crash loses at most the last flush interval of predictions (`prediction_flush_s`).

Prediction ids are time-ordered (`new_prediction_ids`): random ids land anywhere in the primary
key's B-tree, so on a grown store every insert touches cold pages; ids that grow with time
append to its right edge (docs/performance.qmd has the measurements).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelship.features import stored_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    model_version TEXT NOT NULL,
    label TEXT NOT NULL,
    probability REAL NOT NULL,
    threshold REAL NOT NULL,
    features BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_created ON predictions(created_at);
CREATE TABLE IF NOT EXISTS feedback (
    prediction_id TEXT PRIMARY KEY REFERENCES predictions(id),
    client_id TEXT NOT NULL,
    label TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
"""


def new_prediction_ids(n: int) -> list[str]:
    """`n` ids of 32 lowercase hex characters: a 48-bit millisecond timestamp, then 80 random bits.

    Time first, so ids sort by creation and inserts stay at the end of the primary key's
    index; 80 bits from the OS's CSPRNG keep an id unguessable (it is a capability-like
    handle: whoever knows it may read the prediction back, if the client also matches).
    One call to the CSPRNG for all `n` (a 100-row request)."""
    stamp = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    rand = secrets.token_hex(10 * n)
    return [stamp + rand[20 * i : 20 * (i + 1)] for i in range(n)]


def prediction_id_age_s(prediction_id: str) -> float:
    """Seconds since the id was issued, from its timestamp (garbage in: a large age)."""
    try:
        issued_ms = int(prediction_id[:12], 16)
    except ValueError:
        return float("inf")
    return ((time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF) - issued_ms) / 1000


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class PredictionRow:
    id: str
    client_id: str
    created_at: str
    model_version: str
    label: str
    probability: float
    threshold: float
    # In contract order: float64 bytes for numeric records (copying bytes is far cheaper than
    # formatting floats as JSON text), JSON text otherwise.
    features: bytes | str

    def feature_values(self) -> list[Any]:
        return stored_row(self.features)


class FeedbackExists(Exception):
    """Feedback for this prediction was already recorded (it is never overwritten)."""


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection per use, so each keeps its own synchronous level and none is used by
        # two threads at once: reads (under _lock), prediction writes (under _flush_lock),
        # feedback writes (under _durable_lock).
        self._fast = _connect(path, "NORMAL")
        self._writer = _connect(path, "NORMAL")
        self._durable = _connect(path, "FULL")
        self._fast.executescript(SCHEMA)
        # _lock guards _pending and the reader only, and is never held during a write: the
        # request path (add_predictions, get_prediction) must not wait for the disk.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._durable_lock = threading.Lock()
        self._pending: dict[str, PredictionRow] = {}

    # -- predictions (buffered) ----------------------------------------------------------
    def add_predictions(self, rows: list[PredictionRow]) -> None:
        """Queue rows for the next flush; readers of this process see them at once."""
        with self._lock:
            for row in rows:
                self._pending[row.id] = row

    def flush(self) -> int:
        """Write the queued predictions in one transaction; return how many.

        The rows are copied under _lock and written outside it; they leave _pending only once
        committed, so a reader finds each one either in memory or in the database."""
        with self._flush_lock:
            with self._lock:
                if not self._pending:
                    return 0
                batch = list(self._pending.values())
            try:
                self._writer.execute("BEGIN")
                self._writer.executemany(
                    "INSERT OR IGNORE INTO predictions VALUES (?,?,?,?,?,?,?,?)",
                    [
                        (
                            r.id,
                            r.client_id,
                            r.created_at,
                            r.model_version,
                            r.label,
                            r.probability,
                            r.threshold,
                            r.features,
                        )
                        for r in batch
                    ],
                )
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise  # rows stay pending and are retried at the next flush
            with self._lock:
                for r in batch:
                    self._pending.pop(r.id, None)
            return len(batch)

    def get_prediction(self, prediction_id: str) -> tuple[PredictionRow, str | None] | None:
        """The prediction and its feedback label, if any."""
        with self._lock:
            pending = self._pending.get(prediction_id)
            if pending is not None:
                return pending, None
            row = self._fast.execute(
                "SELECT p.*, f.label FROM predictions p LEFT JOIN feedback f ON f.prediction_id = p.id WHERE p.id = ?",
                (prediction_id,),
            ).fetchone()
        if row is None:
            return None
        return PredictionRow(*row[:8]), row[8]

    # -- feedback (durable) --------------------------------------------------------------
    def add_feedback(self, prediction_id: str, client_id: str, label: str) -> str:
        """Store the confirmed label durably (committed, fsynced) and return its timestamp."""
        self.flush()  # the prediction may still be in the buffer: the foreign key needs it
        recorded_at = utcnow()
        # Not under _lock: the fsync of synchronous=FULL must not stall the request path.
        with self._durable_lock:
            try:
                self._durable.execute(
                    "INSERT INTO feedback (prediction_id, client_id, label, recorded_at) VALUES (?,?,?,?)",
                    (prediction_id, client_id, label, recorded_at),
                )
            except sqlite3.IntegrityError:
                raise FeedbackExists(prediction_id) from None
        return recorded_at

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._fast.close()
            self._writer.close()
            self._durable.close()
