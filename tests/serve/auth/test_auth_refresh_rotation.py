"""Refresh tokens: rotation, reuse detection (RFC 9700) and revocation (RFC 7009).

Requirements: C9.1 (renewal without resending the secret), C9.3 (OWASP API2: stolen tokens).
"""

from __future__ import annotations

import sqlite3
import threading

import pytest

from serve.auth import AuthError, AuthService, TokenPair

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="Auth: refresh token rotation, reuse detection, revocation",
        scope="unit",
        strategy="example-based, attack, load",
        tool="pytest, PyJWT, argon2, SQLite",
    ),
]


def invalid_grant(call) -> AuthError:
    with pytest.raises(AuthError) as err:
        call()
    assert (err.value.status, err.value.error) == (400, "invalid_grant")
    return err.value


def test_refresh_returns_a_new_pair_with_the_same_scopes(auth: AuthService, pair: TokenPair) -> None:
    renewed = auth.refresh(pair.refresh_token)
    assert renewed.refresh_token != pair.refresh_token and renewed.access_token != pair.access_token
    assert auth.verify_access(renewed.access_token).scopes == {"predict", "feedback"}


def test_refresh_grant_of_issue_is_the_same_as_refresh(auth: AuthService, pair: TokenPair) -> None:
    renewed = auth.issue("refresh_token", refresh_token=pair.refresh_token)
    assert renewed.scope == "predict feedback"


def test_refresh_grant_without_a_token_is_an_invalid_request(auth: AuthService) -> None:
    with pytest.raises(AuthError) as err:
        auth.issue("refresh_token")
    assert (err.value.status, err.value.error) == (400, "invalid_request")


def test_refreshed_token_keeps_the_sessions_absolute_expiry(auth: AuthService, pair: TokenPair, clock) -> None:
    clock.advance(3600)
    renewed = auth.refresh(pair.refresh_token)
    clock.advance(28_800 - 3600 + 30)
    invalid_grant(lambda: auth.refresh(renewed.refresh_token))


def test_expired_refresh_token_is_refused(auth: AuthService, pair: TokenPair, clock) -> None:
    clock.advance(28_800 + 30)
    invalid_grant(lambda: auth.refresh(pair.refresh_token))


def test_reusing_a_rotated_refresh_token_is_refused(auth: AuthService, pair: TokenPair) -> None:
    auth.refresh(pair.refresh_token)
    invalid_grant(lambda: auth.refresh(pair.refresh_token))


def test_reuse_of_a_rotated_refresh_token_revokes_its_newer_successor(auth: AuthService, pair: TokenPair) -> None:
    renewed = auth.refresh(pair.refresh_token)
    invalid_grant(lambda: auth.refresh(pair.refresh_token))  # the thief, or the client, replays
    invalid_grant(lambda: auth.refresh(renewed.refresh_token))


def test_reuse_does_not_touch_another_session_of_the_same_client(
    auth: AuthService, pair: TokenPair, service_secret: str
) -> None:
    other = auth.issue("client_credentials", client_id="scorer", client_secret=service_secret)
    auth.refresh(pair.refresh_token)
    invalid_grant(lambda: auth.refresh(pair.refresh_token))
    assert auth.refresh(other.refresh_token).scope == "predict feedback"


def test_revoked_refresh_token_cannot_be_used(auth: AuthService, pair: TokenPair) -> None:
    auth.revoke(pair.refresh_token)
    invalid_grant(lambda: auth.refresh(pair.refresh_token))


def test_revoking_a_refresh_token_revokes_its_whole_family(auth: AuthService, pair: TokenPair) -> None:
    renewed = auth.refresh(pair.refresh_token)
    auth.revoke(renewed.refresh_token)
    invalid_grant(lambda: auth.refresh(renewed.refresh_token))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_revoking_an_invalid_token_is_not_an_error(auth: AuthService, token: str) -> None:
    auth.revoke(token)


def test_revoking_an_access_token_is_accepted_and_changes_nothing(auth: AuthService, pair: TokenPair) -> None:
    auth.revoke(pair.access_token)
    assert auth.refresh(pair.refresh_token).scope == "predict feedback"


def test_tampered_refresh_token_is_refused(auth: AuthService, pair: TokenPair) -> None:
    invalid_grant(lambda: auth.refresh(pair.refresh_token[:-4] + "AAAA"))


def test_refresh_of_a_disabled_client_is_refused(auth: AuthService, pair: TokenPair) -> None:
    auth.disable_client("scorer")
    invalid_grant(lambda: auth.refresh(pair.refresh_token))


def test_refresh_of_a_deleted_principal_is_refused(auth: AuthService, pair: TokenPair) -> None:
    with sqlite3.connect(auth.settings.db_path) as db:
        db.execute("DELETE FROM principals WHERE id = ?", ("scorer",))
    invalid_grant(lambda: auth.refresh(pair.refresh_token))


def test_refresh_drops_a_scope_withdrawn_since_the_grant(auth: AuthService, pair: TokenPair) -> None:
    with sqlite3.connect(auth.settings.db_path) as db:
        db.execute("UPDATE principals SET scopes = 'predict' WHERE id = ?", ("scorer",))
    assert auth.refresh(pair.refresh_token).scope == "predict"


def test_refresh_is_refused_when_every_scope_was_withdrawn(auth: AuthService, pair: TokenPair) -> None:
    with sqlite3.connect(auth.settings.db_path) as db:
        db.execute("UPDATE principals SET scopes = 'monitor' WHERE id = ?", ("scorer",))
    invalid_grant(lambda: auth.refresh(pair.refresh_token))


def test_refresh_token_unknown_to_the_store_is_refused(auth: AuthService, pair: TokenPair) -> None:
    with sqlite3.connect(auth.settings.db_path) as db:
        db.execute("DELETE FROM refresh_tokens")
    invalid_grant(lambda: auth.refresh(pair.refresh_token))


def test_concurrent_refresh_of_one_token_succeeds_exactly_once(auth: AuthService, pair: TokenPair) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        try:
            auth.refresh(pair.refresh_token)
            outcomes.append("ok")
        except AuthError as err:
            outcomes.append(err.error)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["invalid_grant"] * 7 + ["ok"]


def test_concurrent_refresh_from_two_services_on_one_database_succeeds_once(
    make_auth, auth: AuthService, pair: TokenPair
) -> None:
    # Two AuthService objects stand for two Ray replicas sharing state_dir.
    replicas = [auth, make_auth()]
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def attempt(service: AuthService) -> None:
        start.wait()
        try:
            service.refresh(pair.refresh_token)
            outcomes.append("ok")
        except AuthError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]


def test_store_uses_wal_mode(auth: AuthService) -> None:
    with sqlite3.connect(auth.settings.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_expired_refresh_rows_are_pruned_when_new_ones_are_issued(
    auth: AuthService, pair: TokenPair, service_secret: str, clock
) -> None:
    clock.advance(28_800 + 1)
    auth.issue("client_credentials", client_id="scorer", client_secret=service_secret)
    with sqlite3.connect(auth.settings.db_path) as db:
        assert db.execute("SELECT count(*) FROM refresh_tokens").fetchone()[0] == 1
