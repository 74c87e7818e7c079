"""Staff accounts: creation (from the CLI) and sign-in checks."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from pathlab import audit, passwords
from pathlab.db import now_iso, transaction

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


class AccountError(ValueError):
    """An account cannot be created as asked."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str


def create_user(conn: sqlite3.Connection, username: str, display_name: str, password: str) -> User:
    if not USERNAME.match(username):
        raise AccountError(
            "the username must be 2 to 32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    display_name = display_name.strip()
    if not 1 <= len(display_name) <= 80:
        raise AccountError("the display name must be 1 to 80 characters")
    try:
        passwords.check_policy(password, username)
    except passwords.PasswordPolicyError as exc:
        raise AccountError(str(exc)) from None
    password_hash = passwords.hash_password(password)
    with transaction(conn):
        try:
            cursor = conn.execute(
                "INSERT INTO users (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (username, display_name, password_hash, now_iso()),
            )
        except sqlite3.IntegrityError:
            raise AccountError(f"the username {username!r} is taken") from None
        audit.record(conn, actor="(command line)", action="account created", subject=username)
    return User(int(cursor.lastrowid or 0), username, display_name)


def authenticate(conn: sqlite3.Connection, username: str, password: str) -> User | None:
    row = conn.execute(
        "SELECT id, username, display_name, password_hash FROM users WHERE username = ?", (username,)
    ).fetchone()
    if not passwords.verify(row["password_hash"] if row else None, password) or row is None:
        return None
    if passwords.needs_rehash(row["password_hash"]):
        conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (passwords.hash_password(password), row["id"]))
    return User(row["id"], row["username"], row["display_name"])


def get_user(conn: sqlite3.Connection, user_id: int) -> User | None:
    row = conn.execute("SELECT id, username, display_name FROM users WHERE id = ?", (user_id,)).fetchone()
    return User(row["id"], row["username"], row["display_name"]) if row else None
