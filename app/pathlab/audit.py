"""The audit trail: an append-only log of who did what and when (the schema forbids edits)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pathlab.db import now_iso


@dataclass(frozen=True)
class Event:
    id: int
    at: str
    actor: str
    action: str
    subject: str
    detail: str


def record(conn: sqlite3.Connection, *, actor: str, action: str, subject: str = "", detail: str = "") -> None:
    """Append one event; called inside the transaction of the change it records."""
    conn.execute(
        "INSERT INTO audit_events (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        (now_iso(), actor, action, subject, detail),
    )


def count(conn: sqlite3.Connection, subject: str | None = None) -> int:
    if subject is None:
        return int(conn.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0])
    return int(conn.execute("SELECT COUNT(*) FROM audit_events WHERE subject = ?", (subject,)).fetchone()[0])


def events(conn: sqlite3.Connection, *, limit: int, offset: int = 0, subject: str | None = None) -> list[Event]:
    """Newest first."""
    where, args = ("WHERE subject = ?", [subject]) if subject is not None else ("", [])
    rows = conn.execute(
        f"SELECT id, at, actor, action, subject, detail FROM audit_events {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    return [Event(**dict(row)) for row in rows]
