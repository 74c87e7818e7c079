"""SQLite access and schema migrations.

The schema's version is SQLite's `user_version`; migrations/NNNN_name.sql raise it one step at a
time, each in its own transaction, so a failed step leaves the database at the previous version.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to the version this code expects."""


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise SchemaError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append((int(match.group(1)), path))
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise SchemaError(f"migrations must be numbered 1, 2, 3 … without gaps; found {numbers}")
    return found


def latest_version() -> int:
    return len(migrations())


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode: writers open their own transactions (see `transaction`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # IMMEDIATE takes the write lock up front, so two writers queue instead of failing mid-way.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply the pending migrations up to `target` (default: all); returns the new version."""
    steps = migrations()
    target = len(steps) if target is None else target
    current = schema_version(conn)
    if current > len(steps):
        raise SchemaError(
            f"the database is at schema version {current}, newer than this app's {len(steps)}: "
            "run the newer app, or restore a backup made for this one"
        )
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")  # readers do not wait for a writer
    for number, path in steps[current:target]:
        script = path.read_text(encoding="utf-8")
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise SchemaError(
                f"migration {path.name} failed: {exc}; the database stays at version {number - 1}"
            ) from None
    return schema_version(conn)


def open_database(path: Path) -> sqlite3.Connection:
    """Connect and check the schema is current: the server never migrates behind anyone's back."""
    conn = connect(path)
    version, latest = schema_version(conn), latest_version()
    if version != latest:
        conn.close()
        raise SchemaError(
            f"database {path} is at schema version {version}, this app needs {latest}: "
            "run `python -m pathlab init-db` first"
        )
    return conn


def now_iso() -> str:
    """UTC time to the second, in one sortable format for every stored timestamp."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
