"""Clients and users: creation, secret storage and the credential grants.

Requirements: C9.1 (who may get a token), C9.3 (OWASP API2: credential storage, enumeration).
"""

from __future__ import annotations

import sqlite3

import pytest
from argon2 import PasswordHasher

from serve.auth import AuthError, AuthService

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="Auth: clients, users and the credential grants",
        scope="unit",
        strategy="example-based, attack",
        tool="pytest, PyJWT, argon2, SQLite",
    ),
]


def stored_row(auth: AuthService, client_id: str) -> tuple:
    with sqlite3.connect(auth.settings.db_path) as db:
        return db.execute("SELECT * FROM principals WHERE id = ?", (client_id,)).fetchone()


def test_create_client_returns_a_long_random_secret(auth: AuthService) -> None:
    secret = auth.create_client("scorer", ["predict"])
    assert len(secret) >= 43 and secret != auth.create_client("scorer2", ["predict"])


def test_secret_is_stored_only_as_an_argon2_hash(auth: AuthService) -> None:
    secret = auth.create_client("scorer", ["predict"])
    row = stored_row(auth, "scorer")
    assert all(secret not in str(value) for value in row)
    stored_hash = row[2]
    assert stored_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(stored_hash, secret)


def test_database_file_is_readable_by_its_owner_only(auth: AuthService) -> None:
    assert auth.settings.db_path.stat().st_mode & 0o077 == 0


def test_production_settings_keep_argon2_library_defaults(state_dir) -> None:
    from serve.auth import AuthSettings

    defaults = PasswordHasher()
    settings = AuthSettings(state_dir=state_dir)
    assert (settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism) == (
        defaults.time_cost,
        defaults.memory_cost,
        defaults.parallelism,
    )


def test_client_id_already_taken_is_refused(auth: AuthService) -> None:
    auth.create_client("scorer", ["predict"])
    with pytest.raises(AuthError, match="already exists"):
        auth.create_client("scorer", ["predict"])


@pytest.mark.parametrize("client_id", ["", "-starts-with-dash", "has space", "x" * 65, "semi;colon", "é"])
def test_malformed_client_id_is_refused(auth: AuthService, client_id: str) -> None:
    with pytest.raises(AuthError) as err:
        auth.create_client(client_id, ["predict"])
    assert err.value.error == "invalid_request"


@pytest.mark.parametrize("scopes", [[], [""], ["predict", "root"]])
def test_client_without_valid_scopes_is_refused(auth: AuthService, scopes: list[str]) -> None:
    with pytest.raises(AuthError) as err:
        auth.create_client("scorer", scopes)
    assert err.value.error == "invalid_scope"


def test_unknown_kind_is_refused(auth: AuthService) -> None:
    with pytest.raises(AuthError, match="kind must be one of"):
        auth.create_client("scorer", ["predict"], kind="robot")


def test_scopes_are_stored_in_canonical_order_without_duplicates(auth: AuthService) -> None:
    auth.create_client("ops", ["admin", "predict", "admin"], kind="user")
    assert auth.list_clients()[0].scopes == ("predict", "admin")


def test_list_clients_shows_no_secret_hash(auth: AuthService) -> None:
    auth.create_client("scorer", ["predict"])
    (info,) = auth.list_clients()
    assert (info.client_id, info.kind, info.scopes, info.disabled) == ("scorer", "service", ("predict",), False)
    assert not any(str(v).startswith("$argon2") for v in vars(info).values())


def test_user_gets_tokens_with_the_password_grant(auth: AuthService) -> None:
    password = auth.create_client("alice", ["monitor"], kind="user")
    pair = auth.issue("password", username="alice", password=password)
    assert auth.verify_access(pair.access_token).kind == "user"


def invalid_client(call) -> AuthError:
    with pytest.raises(AuthError) as err:
        call()
    assert (err.value.status, err.value.error) == (401, "invalid_client")
    assert err.value.www_authenticate == 'Bearer realm="modelship"'
    return err.value


def test_wrong_secret_is_refused_with_invalid_client(auth: AuthService, service_secret: str) -> None:
    invalid_client(lambda: auth.issue("client_credentials", client_id="scorer", client_secret=service_secret + "x"))


def test_unknown_id_and_wrong_secret_give_the_same_answer(auth: AuthService, service_secret: str) -> None:
    unknown = invalid_client(lambda: auth.issue("client_credentials", client_id="nobody", client_secret="x"))
    wrong = invalid_client(lambda: auth.issue("client_credentials", client_id="scorer", client_secret="x"))
    assert (unknown.detail, unknown.www_authenticate) == (wrong.detail, wrong.www_authenticate)


def test_unknown_id_still_runs_one_argon2_verification(auth: AuthService, monkeypatch) -> None:
    calls: list[str] = []
    real = auth._hasher

    class CountingHasher:
        def verify(self, hash_: str, secret: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, secret)

    monkeypatch.setattr(auth, "_hasher", CountingHasher())
    invalid_client(lambda: auth.issue("client_credentials", client_id="nobody", client_secret="guess"))
    assert calls == [auth._dummy_hash]


def test_user_cannot_use_the_client_credentials_grant(auth: AuthService) -> None:
    password = auth.create_client("alice", ["monitor"], kind="user")
    invalid_client(lambda: auth.issue("client_credentials", client_id="alice", client_secret=password))


def test_service_cannot_use_the_password_grant(auth: AuthService, service_secret: str) -> None:
    invalid_client(lambda: auth.issue("password", username="scorer", password=service_secret))


def test_disabled_client_cannot_get_tokens(auth: AuthService, service_secret: str) -> None:
    auth.disable_client("scorer")
    invalid_client(lambda: auth.issue("client_credentials", client_id="scorer", client_secret=service_secret))


def test_disabling_an_unknown_client_is_refused(auth: AuthService) -> None:
    with pytest.raises(AuthError, match="no client"):
        auth.disable_client("nobody")


def test_oversized_secret_is_refused_without_hashing_all_of_it(auth: AuthService, service_secret: str) -> None:
    invalid_client(
        lambda: auth.issue("client_credentials", client_id="scorer", client_secret=service_secret + "a" * 10_000)
    )


def test_oversized_client_id_is_refused_with_invalid_client(auth: AuthService) -> None:
    invalid_client(lambda: auth.issue("client_credentials", client_id="x" * 1000, client_secret="s"))


@pytest.mark.parametrize(
    "kwargs", [{"client_id": "scorer"}, {"client_secret": "s"}, {"client_id": "", "client_secret": "s"}]
)
def test_client_credentials_grant_without_both_credentials_is_an_invalid_request(auth: AuthService, kwargs) -> None:
    with pytest.raises(AuthError) as err:
        auth.issue("client_credentials", **kwargs)
    assert (err.value.status, err.value.error) == (400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["implicit", "authorization_code", "", "CLIENT_CREDENTIALS"])
def test_unsupported_grant_type_is_refused(auth: AuthService, grant_type: str) -> None:
    with pytest.raises(AuthError) as err:
        auth.issue(grant_type, client_id="scorer", client_secret="s")
    assert (err.value.status, err.value.error) == (400, "unsupported_grant_type")


def test_hash_made_with_weaker_parameters_is_upgraded_at_next_login(make_auth, auth: AuthService) -> None:
    secret = auth.create_client("scorer", ["predict"])
    stronger = make_auth(argon2_time_cost=2)
    stronger.issue("client_credentials", client_id="scorer", client_secret=secret)
    assert "t=2" in stored_row(auth, "scorer")[2]


def test_sql_metacharacters_in_credentials_are_just_wrong_credentials(auth: AuthService, service_secret) -> None:
    invalid_client(lambda: auth.issue("client_credentials", client_id="scorer' OR '1'='1", client_secret="' OR 1=1 --"))


def test_database_and_its_wal_file_are_private_while_in_use(auth: AuthService, service_secret: str) -> None:
    with sqlite3.connect(auth.settings.db_path) as db:
        db.execute("SELECT count(*) FROM principals").fetchone()
        wal = auth.settings.db_path.with_name(auth.settings.db_path.name + "-wal")
        assert wal.exists() and wal.stat().st_mode & 0o077 == 0


def test_scopes_given_as_one_comma_separated_string_are_split(auth: AuthService) -> None:
    auth.create_client("scorer", "predict,feedback")  # type: ignore[arg-type]
    assert auth.list_clients()[0].scopes == ("predict", "feedback")
