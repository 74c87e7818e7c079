"""Feedback to the model's service through an outbox: the final diagnosis of an assessed case is
queued in the transaction that records it (never lost), sent at once if the service answers,
and retried later if not. One row per prediction id, marked sent on the API's 201, and on its
409 (it already holds this prediction's feedback), so it is never sent twice.

Sending claims the rows first (`claimed_until`), so two processes flushing the same database
do not send the same row at the same moment."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from pathlab import model_api
from pathlab.db import now_iso, transaction

CLAIM_S = 120.0
MAX_BACKOFF_S = 600.0

# The only answers that will not change: the prediction is unknown, or the label refused. Any other
# failure (the service down, credentials being fixed) keeps the feedback waiting.
REFUSED = (model_api.NotFound, model_api.Invalid)

Send = Callable[[str, str], object]  # (prediction_id, label); raises model_api.ModelApiError


@dataclass(frozen=True)
class Entry:
    prediction_id: str
    label: str
    state: str
    attempts: int
    last_error: str
    sent_at: str | None


def enqueue(conn: sqlite3.Connection, *, prediction_id: str, case_id: int, label: str) -> None:
    """Queue (inside the caller's transaction); a diagnosis changed before sending replaces the label."""
    conn.execute(
        "INSERT INTO feedback_outbox (prediction_id, case_id, label, queued_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(prediction_id) DO UPDATE SET label = excluded.label WHERE state = 'pending'",
        (prediction_id, case_id, label, now_iso()),
    )


def for_case(conn: sqlite3.Connection, case_id: int) -> Entry | None:
    row = conn.execute(
        "SELECT prediction_id, label, state, attempts, last_error, sent_at FROM feedback_outbox WHERE case_id = ?",
        (case_id,),
    ).fetchone()
    return Entry(**dict(row)) if row else None


def pending_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM feedback_outbox WHERE state = 'pending'").fetchone()[0])


def _claim(conn: sqlite3.Connection, now: float, only: str | None) -> list[tuple[str, str]]:
    with transaction(conn):
        where = "state = 'pending' AND claimed_until < ?" + (
            " AND prediction_id = ?" if only else " AND next_try_at <= ?"
        )
        rows = conn.execute(
            f"SELECT prediction_id, label FROM feedback_outbox WHERE {where} ORDER BY queued_at LIMIT 100",
            (now, only or now),
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE feedback_outbox SET claimed_until = ? WHERE prediction_id = ?",
                (now + CLAIM_S, row["prediction_id"]),
            )
    return [(row["prediction_id"], row["label"]) for row in rows]


def flush(
    conn: sqlite3.Connection, send: Send, *, only: str | None = None, clock: Callable[[], float] = time.time
) -> int:
    """Send what is due (or just `only`, at once); returns how many were sent. Stops at the first
    error that says the service is unreachable, so a down service costs one attempt per flush."""
    sent = 0
    claimed = _claim(conn, clock(), only)
    for index, (prediction_id, label) in enumerate(claimed):
        try:
            send(prediction_id, label)
        except model_api.Conflict:
            pass  # the service already holds it: sent before, its answer lost on the way back
        except model_api.ModelApiError as exc:
            _failed(conn, prediction_id, exc, clock())
            if not isinstance(exc, REFUSED):
                _release(conn, [pid for pid, _ in claimed[index + 1 :]])
                return sent
            continue
        with transaction(conn):
            conn.execute(
                "UPDATE feedback_outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, last_error = '', "
                "claimed_until = 0 WHERE prediction_id = ?",
                (now_iso(), prediction_id),
            )
        sent += 1
    return sent


def _failed(conn: sqlite3.Connection, prediction_id: str, exc: model_api.ModelApiError, now: float) -> None:
    with transaction(conn):
        attempts = conn.execute(
            "SELECT attempts FROM feedback_outbox WHERE prediction_id = ?", (prediction_id,)
        ).fetchone()[0]
        wait = max(float(exc.retry_after or 0), min(MAX_BACKOFF_S, 5.0 * 2**attempts))
        conn.execute(
            "UPDATE feedback_outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_try_at = ?, "
            "claimed_until = 0 WHERE prediction_id = ?",
            ("refused" if isinstance(exc, REFUSED) else "pending", exc.what, now + wait, prediction_id),
        )


def _release(conn: sqlite3.Connection, prediction_ids: list[str]) -> None:
    with transaction(conn):
        conn.executemany(
            "UPDATE feedback_outbox SET claimed_until = 0 WHERE prediction_id = ?", [(p,) for p in prediction_ids]
        )
