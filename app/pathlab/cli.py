"""Command line: `python -m pathlab init-db | create-user | serve`.

Errors end with a message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from collections.abc import Callable, Sequence

from pathlab import accounts, db, seed
from pathlab.settings import Settings, SettingsError, load_settings


class CliError(Exception):
    """A command cannot do what was asked; the message says why."""


def _init_db(args: argparse.Namespace, settings: Settings) -> None:
    conn = db.connect(settings.database.path)
    try:
        before = db.schema_version(conn)
        after = db.migrate(conn)
        added = seed.load_holding_file(conn, settings.cases.seed_file)
    except seed.SeedError as exc:
        raise CliError(str(exc)) from None
    finally:
        conn.close()
    print(
        f"database {settings.database.path}: schema version {before} -> {after}; "
        f"{added} new case(s) from the holding file"
    )


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask the password on: pipe it in with --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise CliError("the two passwords differ")
    return first


def _create_user(args: argparse.Namespace, settings: Settings) -> None:
    password = _read_password(args.password_stdin)
    conn = db.open_database(settings.database.path)
    try:
        user = accounts.create_user(conn, args.username, args.name or args.username, password)
    except accounts.AccountError as exc:
        raise CliError(str(exc)) from None
    finally:
        conn.close()
    print(f"created user {user.username} ({user.display_name})")


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from pathlab.web import create_app

    db.open_database(settings.database.path).close()  # refuse to start on a missing or outdated schema
    host = settings.server.host
    port = settings.server.port if args.port is None else args.port
    # Binding here, before uvicorn starts, lets port 0 pick a free port that is then announced.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    print(f"pathlab listening on http://{host}:{bound}/", flush=True)
    config = uvicorn.Config(create_app(settings), log_level="warning", proxy_headers=False, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], None]] = {
    "init-db": _init_db,
    "create-user": _create_user,
    "serve": _serve,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pathlab", description="The pathology lab's case desk.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init-db", help="create or migrate the database, then load the holding file's new cases")
    user = commands.add_parser("create-user", help="create a staff account; the password is asked, never an argument")
    user.add_argument("username")
    user.add_argument("--name", help="the name shown in the app and the audit trail (default: the username)")
    user.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    serve = commands.add_parser("serve", help="run the web app (host and port from the settings)")
    serve.add_argument("--port", type=int, help="override the settings' port; 0 picks a free one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args, load_settings())
    except (CliError, SettingsError, db.SchemaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
