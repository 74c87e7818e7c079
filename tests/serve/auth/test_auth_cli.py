"""The operator CLI: python -m serve.auth create-client | list-clients | disable-client | rotate-keys.

Requirements: C9.1 (clients are created by an operator, secrets shown once), C9.3 (no hash ever printed).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from serve.auth.__main__ import main

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="Auth: operator CLI (python -m serve.auth)",
        scope="unit",
        strategy="example-based",
        tool="pytest, PyJWT, argon2, SQLite",
    ),
]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli(state_dir: Path, capsys):
    """Run the CLI in-process on the test's state_dir; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--state-dir", str(state_dir)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_create_client_prints_the_secret_once_and_warns_it_will_not_be_shown_again(cli) -> None:
    code, out, err = cli("create-client", "scorer", "--scopes", "predict,feedback")
    assert code == 0
    assert len(out.strip().splitlines()) == 1 and len(out.strip()) >= 43
    assert "will not be shown again" in err


def test_printed_secret_is_never_stored_in_clear(cli, state_dir: Path) -> None:
    _, out, _ = cli("create-client", "scorer", "--scopes", "predict")
    secret = out.strip()
    for path in state_dir.iterdir():
        assert secret.encode() not in path.read_bytes()


def test_list_clients_shows_scopes_but_neither_secret_nor_hash(cli) -> None:
    _, secret, _ = cli("create-client", "scorer", "--scopes", "predict,feedback")
    cli("create-client", "alice", "--scopes", "monitor", "--kind", "user")
    code, out, _ = cli("list-clients")
    assert code == 0
    assert "scorer\tservice\tpredict,feedback" in out and "alice\tuser\tmonitor" in out
    assert secret.strip() not in out and "$argon2" not in out


def test_list_clients_on_an_empty_store_says_how_to_create_one(cli) -> None:
    code, out, _ = cli("list-clients")
    assert code == 0 and "create-client" in out


def test_state_dir_option_is_accepted_before_the_command(state_dir: Path, capsys) -> None:
    assert main(["--state-dir", str(state_dir), "list-clients"]) == 0


def test_unknown_scope_exits_1_with_a_message_and_no_traceback(cli) -> None:
    code, out, err = cli("create-client", "scorer", "--scopes", "predict,everything")
    assert code == 1 and out == ""
    assert err.startswith("error: unknown scope everything") and "Traceback" not in err


def test_duplicate_client_exits_1(cli) -> None:
    cli("create-client", "scorer", "--scopes", "predict")
    code, _, err = cli("create-client", "scorer", "--scopes", "predict")
    assert code == 1 and "already exists" in err


def test_disable_client_then_its_listing_says_disabled(cli) -> None:
    cli("create-client", "scorer", "--scopes", "predict")
    assert cli("disable-client", "scorer")[0] == 0
    assert "disabled" in cli("list-clients")[1]


def test_disabling_an_unknown_client_exits_1(cli) -> None:
    code, _, err = cli("disable-client", "nobody")
    assert code == 1 and "no client 'nobody'" in err


def test_rotate_keys_prints_the_new_kid(cli, state_dir: Path) -> None:
    cli("list-clients")  # first start: creates the first key
    code, out, _ = cli("rotate-keys")
    assert code == 0 and out.startswith("new signing key ") and "verify until their tokens expire" in out


def test_rotate_keys_with_drop_previous_says_old_tokens_stop(cli) -> None:
    code, out, _ = cli("rotate-keys", "--drop-previous")
    assert code == 0 and "no longer verify" in out


def test_weak_env_secret_makes_every_command_exit_1_with_the_remedy(cli, monkeypatch) -> None:
    monkeypatch.setenv("MODELSHIP_JWT_SECRET", "changeme")
    code, _, err = cli("list-clients")
    assert code == 1 and "known placeholder" in err and "Traceback" not in err


def test_unusable_state_dir_exits_1(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["list-clients", "--state-dir", str(blocker / "sub")]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_broken_database_exits_1(cli, state_dir: Path) -> None:
    cli("list-clients")
    (state_dir / "auth.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (state_dir / f"auth.sqlite3{suffix}").unlink(missing_ok=True)
    code, _, err = cli("list-clients")
    assert code == 1 and "error:" in err


def test_missing_command_is_a_usage_error(state_dir: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--state-dir", str(state_dir)])
    assert exit_.value.code == 2


def test_module_runs_as_a_command_and_prints_the_secret_once(state_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serve.auth",
            "create-client",
            "scorer",
            "--scopes",
            "predict",
            "--state-dir",
            str(state_dir),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # MODELSHIP_* were cleared by conftest
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 1 and "will not be shown again" in result.stderr
    with sqlite3.connect(state_dir / "auth.sqlite3") as db:
        (stored,) = db.execute("SELECT secret_hash FROM principals").fetchone()
    assert stored.startswith("$argon2id$") and result.stdout.strip() not in stored


def test_make_client_prints_only_the_secret_on_stdout(state_dir: Path, make_auth) -> None:
    # As typed in a shell: without an outer make's variables, which would add directory banners.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    result = subprocess.run(
        ["make", "client", "NAME=x", "SCOPES=predict", f"STATE_DIR={state_dir}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 and result.stdout.endswith("\n")
    secret = result.stdout.strip()
    assert make_auth().issue("client_credentials", client_id="x", client_secret=secret).scope == "predict"
