"""The database: migrations step by step, their atomicity, and the append-only audit trail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pathlab import audit, db

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(
        part="Lab app: SQLite schema and migrations", scope="unit", strategy="example-based", tool="pytest, sqlite3"
    ),
]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_database_reaches_the_latest_version(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "new.sqlite3")
    assert db.schema_version(conn) == 0
    assert db.migrate(conn) == db.latest_version() >= 1
    assert {"users", "sessions", "login_failures", "audit_events"} <= _tables(conn)
    assert db.migrate(conn) == db.latest_version()  # a second run changes nothing


def test_migrations_run_one_step_at_a_time_and_keep_the_data(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "steps.sqlite3")
    assert db.migrate(conn, target=1) == 1
    audit.record(conn, actor="tester", action="kept across migrations")
    assert db.migrate(conn) == db.latest_version()
    assert [e.action for e in audit.events(conn, limit=5)] == ["kept across migrations"]


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for _number, path in db.migrations():
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    broken = db.latest_version() + 1
    (folder / f"{broken:04d}_broken.sql").write_text(
        "CREATE TABLE half_done (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n", encoding="utf-8"
    )
    monkeypatch.setattr(db, "MIGRATIONS_DIR", folder)
    conn = db.connect(tmp_path / "broken.sqlite3")
    with pytest.raises(db.SchemaError, match=f"{broken:04d}_broken.sql failed.*stays at version {broken - 1}"):
        db.migrate(conn)
    assert db.schema_version(conn) == broken - 1
    assert "half_done" not in _tables(conn)


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "newer.sqlite3")
    conn.execute(f"PRAGMA user_version = {db.latest_version() + 1}")
    with pytest.raises(db.SchemaError, match="newer than this app"):
        db.migrate(conn)


def test_the_server_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    db.connect(tmp_path / "old.sqlite3").close()
    with pytest.raises(db.SchemaError, match="run `python -m pathlab init-db`"):
        db.open_database(tmp_path / "old.sqlite3")


def test_migration_files_are_numbered_without_gaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;", encoding="utf-8")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;", encoding="utf-8")
    monkeypatch.setattr(db, "MIGRATIONS_DIR", tmp_path)
    with pytest.raises(db.SchemaError, match="without gaps"):
        db.migrations()


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"])
def test_the_audit_trail_cannot_be_edited(tmp_path: Path, statement: str) -> None:
    conn = db.connect(tmp_path / "audit.sqlite3")
    db.migrate(conn)
    audit.record(conn, actor="tester", action="recorded")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(statement)
    assert [(e.actor, e.action) for e in audit.events(conn, limit=5)] == [("tester", "recorded")]
