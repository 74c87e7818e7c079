"""Per-client token buckets for the request rate (OWASP API4) and the row quota (API6).

The buckets live in a small SQLite file that every ingress replica (or worker) of the machine
opens, so a client's limit holds across replicas (the kernel spreads its connections over them).
Each check is one short transaction, taken under an flock() so that a replica waiting for
another wakes the moment it is done (SQLite's own busy handler sleeps a millisecond or more).
The file is not synced to disk: a crash can only hand clients fresh buckets.
"""
from __future__ import annotations

import fcntl
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path


BUCKETS_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    key TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at REAL NOT NULL,
    full_at REAL NOT NULL
) WITHOUT ROWID;
"""


class SharedTokenBuckets:
    """`limit` units per `window_s` seconds per key, refilled continuously, kept in a SQLite file
    shared by the processes that open it.

    `name` separates kinds of limit (requests, rows, token attempts) in one file. The clock is
    CLOCK_MONOTONIC, which all processes of one machine share; the file lives on that machine.
    A bucket that has refilled is the same as no bucket, so those rows are pruned now and then
    and the file stays small whatever keys callers send."""

    PRUNE_EVERY = 10_000

    def __init__(self, path: Path, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._prefix = name + ":"
        self._clock = clock
        self._lock = threading.Lock()  # one connection, used by one thread at a time
        self._flock = os.open(path.with_suffix(path.suffix + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        self._db = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(BUCKETS_SCHEMA)
        self._calls = 0

    def take(self, key: str, cost: float, limit: int, window_s: float) -> float:
        """Spend `cost` units; return 0 if allowed, else the seconds to wait before retrying."""
        if cost > limit:
            return window_s  # can never fit in one window: the client must split the request
        rate = limit / window_s
        key = self._prefix + key
        with self._lock:
            fcntl.flock(self._flock, fcntl.LOCK_EX)
            try:
                return self._take(key, cost, limit, rate)
            finally:
                fcntl.flock(self._flock, fcntl.LOCK_UN)

    def _take(self, key: str, cost: float, limit: int, rate: float) -> float:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            now = self._clock()  # read under the file's lock: stamps never go backwards
            row = db.execute("SELECT tokens, at FROM buckets WHERE key = ?", (key,)).fetchone()
            tokens = float(limit) if row is None else min(float(limit), row[0] + (now - row[1]) * rate)
            wait = 0.0 if tokens >= cost else (cost - tokens) / rate
            if not wait:
                tokens -= cost
            db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)",
                       (key, tokens, now, now + (limit - tokens) / rate))
            self._calls += 1
            if self._calls % self.PRUNE_EVERY == 0:
                db.execute("DELETE FROM buckets WHERE full_at < ?", (now,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return wait

    def remember(self, key: str, for_s: float) -> None:
        """Keep a mark on `key` for `for_s` seconds (a fact, not a bucket: e.g. a known address)."""
        key = self._prefix + key
        with self._lock:
            fcntl.flock(self._flock, fcntl.LOCK_EX)
            try:
                now = self._clock()
                # tokens = 0 and full_at = the expiry: the prune of refilled buckets drops it then.
                self._db.execute("INSERT OR REPLACE INTO buckets VALUES (?, 0, ?, ?)", (key, now, now + for_s))
            finally:
                fcntl.flock(self._flock, fcntl.LOCK_UN)

    def remembers(self, key: str) -> bool:
        """Whether `remember(key, ...)` was called and has not expired yet."""
        with self._lock:
            row = self._db.execute("SELECT full_at FROM buckets WHERE key = ?", (self._prefix + key,)).fetchone()
            return row is not None and row[0] > self._clock()

    def close(self) -> None:
        self._db.close()
        os.close(self._flock)


def shared_buckets(path: Path) -> dict[str, SharedTokenBuckets]:
    """The three limits of the API (Service's fields), in one shared file."""
    return {name: SharedTokenBuckets(path, name) for name in ("requests", "rows", "token_attempts")}


def retry_after_header(wait_s: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}
