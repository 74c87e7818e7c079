"""SQLite store of principals (hashed secrets) and refresh tokens, safe for several processes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS principals (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('service', 'user')),
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    jti        TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    sub        TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    exp        INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX IF NOT EXISTS refresh_tokens_exp ON refresh_tokens (exp);
"""


@dataclass(frozen=True)
class PrincipalRecord:
    id: str
    kind: str
    secret_hash: str
    scopes: tuple[str, ...]
    created_at: int
    disabled: bool


@dataclass(frozen=True)
class RefreshRecord:
    jti: str
    family: str
    sub: str
    scopes: tuple[str, ...]
    issued_at: int
    exp: int
    used_at: int | None
    revoked_at: int | None


class RotationRefused(Exception):
    """Internal: a refresh token could not be exchanged; reuse says whether it was replayed."""

    def __init__(self, reuse: bool) -> None:
        super().__init__("reuse" if reuse else "refused")
        self.reuse = reuse


class AuthStore:
    """One short connection per operation: no connection is shared between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The database holds password hashes: create it owner-only before SQLite opens it,
        # so that its -wal and -shm files, which SQLite gives the same mode, are private too.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        with self._connect() as db:
            # WAL lets readers proceed while another process writes; the mode is kept in the file.
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we open transactions ourselves, with BEGIN IMMEDIATE where we
        # read then write, so that two processes cannot both pass the check.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")

    # -- principals ------------------------------------------------------------------------

    def add_principal(self, id: str, kind: str, secret_hash: str, scopes: tuple[str, ...], now: int) -> bool:
        """Insert a principal; False if the id is taken."""
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO principals (id, kind, secret_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                    (id, kind, secret_hash, " ".join(scopes), now),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def get_principal(self, id: str) -> PrincipalRecord | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, kind, secret_hash, scopes, created_at, disabled FROM principals WHERE id = ?", (id,)
            ).fetchone()
        return None if row is None else _principal(row)

    def list_principals(self) -> list[PrincipalRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, kind, secret_hash, scopes, created_at, disabled FROM principals ORDER BY id"
            ).fetchall()
        return [_principal(row) for row in rows]

    def update_hash(self, id: str, secret_hash: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE principals SET secret_hash = ? WHERE id = ?", (secret_hash, id))

    def set_disabled(self, id: str, disabled: bool, now: int) -> bool:
        """Disable (and cut every refresh token of) a principal, or enable it; False if unknown."""
        with self._transaction() as db:
            cur = db.execute("UPDATE principals SET disabled = ? WHERE id = ?", (int(disabled), id))
            if disabled:
                db.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE sub = ? AND revoked_at IS NULL", (now, id))
        return cur.rowcount == 1

    # -- refresh tokens --------------------------------------------------------------------

    def add_refresh(self, record: RefreshRecord, now: int) -> None:
        with self._transaction() as db:
            # Expired rows can no longer be replayed, so they are no longer needed for detection.
            db.execute("DELETE FROM refresh_tokens WHERE exp < ?", (now,))
            _insert_refresh(db, record)

    def rotate_refresh(
        self, jti: str, sub: str, new_jti: str, allowed_scopes: tuple[str, ...], now: int
    ) -> RefreshRecord:
        """Mark jti used and store its successor in one transaction; the successor is returned.

        The successor keeps the family and its absolute expiry, and loses any scope the
        principal no longer has. Raises RotationRefused; when the token had already been used,
        its whole family is revoked first (RFC 9700, section 4.14.2): the legitimate client
        and a thief hold the same family, and we cannot tell which one came second.
        """
        reuse = False
        with self._transaction() as db:
            row = db.execute(
                "SELECT jti, family, sub, scopes, issued_at, exp, used_at, revoked_at "
                "FROM refresh_tokens WHERE jti = ? AND sub = ?",
                (jti, sub),
            ).fetchone()
            old = None if row is None else _refresh(row)
            if old is not None and old.used_at is not None:
                reuse = True
                db.execute(
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                    (now, old.family),
                )
            elif old is not None and old.revoked_at is None and old.exp > now:
                db.execute("UPDATE refresh_tokens SET used_at = ? WHERE jti = ?", (now, jti))
                scopes = tuple(s for s in old.scopes if s in allowed_scopes)
                successor = RefreshRecord(new_jti, old.family, sub, scopes, now, old.exp, None, None)
                _insert_refresh(db, successor)
                return successor
        # Raised after the commit, so that the family revocation is kept.
        raise RotationRefused(reuse=reuse)

    def revoke_family_of(self, jti: str, now: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family = "
                "(SELECT family FROM refresh_tokens WHERE jti = ?)",
                (now, jti),
            )


def _principal(row: tuple) -> PrincipalRecord:
    id, kind, secret_hash, scopes, created_at, disabled = row
    return PrincipalRecord(id, kind, secret_hash, tuple(scopes.split()), created_at, bool(disabled))


def _refresh(row: tuple) -> RefreshRecord:
    jti, family, sub, scopes, issued_at, exp, used_at, revoked_at = row
    return RefreshRecord(jti, family, sub, tuple(scopes.split()), issued_at, exp, used_at, revoked_at)


def _insert_refresh(db: sqlite3.Connection, r: RefreshRecord) -> None:
    db.execute(
        "INSERT INTO refresh_tokens (jti, family, sub, scopes, issued_at, exp, used_at, revoked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (r.jti, r.family, r.sub, " ".join(r.scopes), r.issued_at, r.exp, r.used_at, r.revoked_at),
    )
