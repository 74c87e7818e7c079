"""Operator commands: python -m serve.auth create-client | list-clients | disable-client | rotate-keys."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .service import AuthService
from .settings import AuthConfigError
from .tokens import KINDS, SCOPES, AuthError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serve.auth",
        description="Manage the API's clients and signing keys (rules: docs/auth.qmd).",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("serve/config.yaml"),
        help="the Serve config whose settings the service runs with (default: serve/config.yaml); "
        "its paths.state_dir, or MODELSHIP_PATHS__STATE_DIR, names the folder of the keys and clients",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="use this folder instead of the config's paths.state_dir",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = sub.add_parser("create-client", help="register a client and print its secret once")
    create.add_argument("client_id", metavar="NAME")
    create.add_argument("--scopes", required=True, help=f"comma-separated, among: {','.join(SCOPES)}")
    create.add_argument("--kind", choices=KINDS, default="service", help="service (default) or user")
    sub.add_parser("list-clients", help="list clients and their scopes (never their secrets)")
    disable = sub.add_parser("disable-client", help="refuse a client's secret and revoke its refresh tokens")
    disable.add_argument("client_id", metavar="NAME")
    rotate = sub.add_parser("rotate-keys", help="make a new signing key; old tokens keep working until expiry")
    rotate.add_argument(
        "--drop-previous",
        action="store_true",
        help="also stop accepting every token signed with the previous keys (use when a key leaked)",
    )
    # --state-dir is accepted after the command too, as in the documented examples.
    for command in (create, rotate, disable, sub.choices["list-clients"]):
        command.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # The service's own settings, so that both always use the same keys and client database.
        from serve.settings import Settings

        auth = AuthService(Settings.from_config(args.config).auth_settings(args.state_dir))
        if args.command == "create-client":
            secret = auth.create_client(args.client_id, args.scopes.split(","), kind=args.kind)
            # The secret alone on stdout, so that a script can capture it; the warning on stderr.
            print(secret)
            print(
                f"Created {args.kind} {args.client_id!r}. The line above is its secret: store it now, "
                "it will not be shown again (only its argon2 hash is kept).",
                file=sys.stderr,
            )
        elif args.command == "list-clients":
            clients = auth.list_clients()
            if not clients:
                print("no clients yet: create one with `python -m serve.auth create-client NAME --scopes predict`")
            for c in clients:
                created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(c.created_at))
                state = "disabled" if c.disabled else "active"
                print(f"{c.client_id}\t{c.kind}\t{','.join(c.scopes)}\t{created}\t{state}")
        elif args.command == "disable-client":
            auth.disable_client(args.client_id)
            print(f"{args.client_id!r} is disabled; its access tokens stop working when they expire.")
        else:
            kid = auth.rotate_keys(drop_previous=args.drop_previous)
            after = (
                "previous keys no longer verify"
                if args.drop_previous
                else "previous keys verify until their tokens expire"
            )
            print(f"new signing key {kid} is active; {after}. Running replicas pick it up within seconds.")
    except AuthError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except (AuthConfigError, OSError, KeyError, ValueError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
