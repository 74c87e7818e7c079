"""Login throttling: failed sign-ins are counted per username and per client address over a
sliding window; past either limit, sign-in is refused until the oldest failure leaves the window."""

from __future__ import annotations

import math
import sqlite3
import time

from pathlab.settings import LoginSettings


def retry_after(conn: sqlite3.Connection, username: str, address: str, settings: LoginSettings) -> int | None:
    """Seconds to wait before this username or address may try again; None when it may now."""
    window = settings.window_minutes * 60
    since = time.time() - window
    waits = []
    for column, value, limit in (
        ("username", username, settings.max_failures_per_user),
        ("address", address, settings.max_failures_per_address),
    ):
        rows = conn.execute(
            f"SELECT at FROM login_failures WHERE {column} = ? AND at > ? ORDER BY at DESC LIMIT ?",
            (value, since, limit),
        ).fetchall()
        if len(rows) >= limit:
            # the limit-th most recent failure must leave the window before another try
            waits.append(rows[-1]["at"] + window - time.time())
    return max(1, math.ceil(max(waits))) if waits else None


def record_failure(conn: sqlite3.Connection, username: str, address: str) -> None:
    conn.execute(
        "INSERT INTO login_failures (username, address, at) VALUES (?, ?, ?)", (username[:64], address, time.time())
    )


def clear(conn: sqlite3.Connection, username: str) -> None:
    """A successful sign-in forgets that username's failures (the address's stay counted)."""
    conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))


def purge(conn: sqlite3.Connection, settings: LoginSettings) -> None:
    conn.execute("DELETE FROM login_failures WHERE at < ?", (time.time() - settings.window_minutes * 60,))
