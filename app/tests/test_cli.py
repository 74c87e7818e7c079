"""The command line: accounts created without the password on the command line; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathlab import accounts, db
from pathlab.settings import load_settings
from support import cli, init_db

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(part="Lab app: command line", scope="integration", strategy="example-based", tool="pytest"),
]


def test_create_user_reads_the_password_from_stdin(settings_path: Path) -> None:
    settings = init_db(settings_path)
    result = cli(
        settings_path,
        "create-user",
        "lena",
        "--name",
        "Lena Ortiz",
        "--password-stdin",
        stdin="a long test passphrase\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created user lena (Lena Ortiz)"
    conn = db.open_database(settings.database.path)
    assert accounts.authenticate(conn, "lena", "a long test passphrase") is not None
    assert "a long test passphrase" not in Path(settings.database.path).read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["create-user", "mo", "--password-stdin"], "short\n", "at least 12 characters"),
        (["create-user", "Bad Name", "--password-stdin"], "a long test passphrase\n", "the username must be"),
        (["create-user", "mo"], "", "--password-stdin"),
    ],
)
def test_create_user_errors_are_one_line_on_stderr(
    settings_path: Path, args: list[str], stdin: str, message: str
) -> None:
    init_db(settings_path)
    result = cli(settings_path, *args, stdin=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_refuse_a_database_that_was_never_initialised(settings_path: Path) -> None:
    result = cli(settings_path, "create-user", "nina", "--password-stdin", stdin="a long test passphrase\n")
    assert result.returncode == 2 and "init-db" in result.stderr
    assert cli(settings_path, "serve").returncode == 2


def test_init_db_reports_the_schema_version(settings_path: Path) -> None:
    first = cli(settings_path, "init-db")
    assert first.returncode == 0 and f"schema version 0 -> {db.latest_version()}; 114 new case(s)" in first.stdout
    again = cli(settings_path, "init-db")
    assert f"schema version {db.latest_version()} -> {db.latest_version()}; 0 new case(s)" in again.stdout
    assert load_settings(settings_path).database.path.exists()
