"""Server-side sessions and their CSRF tokens.

The browser holds a random token in an HttpOnly, SameSite=Lax cookie; the database holds its
SHA-256 and the session's CSRF token, which every form sends back in a hidden field. A session
exists before sign-in (so the sign-in form has a token too) and is replaced at sign-in, so a
token planted before it opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass

from pathlab.settings import SessionSettings

CSRF_FIELD = "csrf_token"
# Anonymous sessions (the sign-in page's) live this long without a sign-in.
ANONYMOUS_SECONDS = 30 * 60


@dataclass(frozen=True)
class Session:
    token: str
    user_id: int | None
    csrf_token: str
    flash: str | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: sqlite3.Connection, user_id: int | None = None) -> Session:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = time.time()
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
        (_digest(token), user_id, csrf, now, now),
    )
    return Session(token, user_id, csrf, None)


def load(conn: sqlite3.Connection, token: str | None, settings: SessionSettings) -> Session | None:
    """The live session for this cookie value, its last-seen time renewed; None if absent or expired."""
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        "SELECT user_id, csrf_token, created_at, last_seen, flash FROM sessions WHERE token_hash = ?",
        (_digest(token),),
    ).fetchone()
    if row is None:
        return None
    now = time.time()
    idle = settings.idle_minutes * 60 if row["user_id"] is not None else ANONYMOUS_SECONDS
    if now - row["last_seen"] > idle or now - row["created_at"] > settings.absolute_hours * 3600:
        destroy(conn, token)
        return None
    conn.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, _digest(token)))
    return Session(token, row["user_id"], row["csrf_token"], row["flash"])


def destroy(conn: sqlite3.Connection, token: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))


def set_flash(conn: sqlite3.Connection, session: Session, message: str | None) -> None:
    """A status message shown once, on the page the browser is redirected to."""
    conn.execute("UPDATE sessions SET flash = ? WHERE token_hash = ?", (message, _digest(session.token)))


def purge_expired(conn: sqlite3.Connection, settings: SessionSettings) -> int:
    now = time.time()
    cursor = conn.execute(
        "DELETE FROM sessions WHERE created_at < ? OR (user_id IS NULL AND last_seen < ?) OR last_seen < ?",
        (now - settings.absolute_hours * 3600, now - ANONYMOUS_SECONDS, now - settings.idle_minutes * 60),
    )
    return cursor.rowcount


def csrf_valid(session: Session | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode(), submitted.encode())
