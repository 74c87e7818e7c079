"""Passwords: Argon2id hashes, verification, the policy, and the rehash of old parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from pathlab import accounts, db, passwords
from pathlab.settings import Settings

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(part="Lab app: password hashing", scope="unit", strategy="example-based", tool="pytest"),
]


def test_a_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    first, second = passwords.hash_password("a long test passphrase"), passwords.hash_password("a long test passphrase")
    assert first.startswith("$argon2id$") and first != second
    assert passwords.verify(first, "a long test passphrase")
    assert not passwords.verify(first, "a long test passphrasE")
    assert not passwords.verify(None, "a long test passphrase")
    assert not passwords.verify("not a hash", "a long test passphrase")


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least 12"), ("x" * 257, "at most 256"), ("my name is alice!", "must not contain the username")],
)
def test_the_policy_refuses_weak_passwords(password: str, reason: str) -> None:
    with pytest.raises(passwords.PasswordPolicyError, match=reason):
        passwords.check_policy(password, "alice")


def test_a_hash_made_with_weaker_parameters_is_upgraded_at_sign_in(settings: Settings) -> None:
    conn = db.open_database(settings.database.path)
    accounts.create_user(conn, "legacy", "Legacy User", "a long test passphrase")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a long test passphrase")
    conn.execute("UPDATE users SET password_hash = ? WHERE username = 'legacy'", (weak,))
    assert accounts.authenticate(conn, "legacy", "a long test passphrase") is not None
    stored = conn.execute("SELECT password_hash FROM users WHERE username = 'legacy'").fetchone()[0]
    assert stored != weak and not passwords.needs_rehash(stored)
    assert passwords.verify(stored, "a long test passphrase")


def test_usernames_are_unique_whatever_their_case(settings: Settings) -> None:
    conn = db.open_database(settings.database.path)
    accounts.create_user(conn, "carol", "Carol", "a long test passphrase")
    with pytest.raises(accounts.AccountError, match="taken"):
        accounts.create_user(conn, "carol", "Carol Again", "a long test passphrase")
    with pytest.raises(accounts.AccountError, match="lower-case"):
        accounts.create_user(conn, "Carol", "Carol Again", "a long test passphrase")
