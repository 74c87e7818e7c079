"""Signing keys: generation, refusal of weak keys, rotation by kid, keys from the environment.

Requirements: C9.1 (tokens only we can sign), C9.3 (OWASP API2 and API8: secrets and configuration).
"""

from __future__ import annotations

import base64
import json
import os

import jwt
import pytest

from serve.auth import AuthConfigError, AuthError, AuthService, AuthSettings

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="Auth: signing keys, weak-key refusal, rotation by kid",
        scope="unit",
        strategy="example-based, fault injection",
        tool="pytest, PyJWT, argon2, SQLite",
    ),
]

STRONG = "k" + "".join(chr(ord("a") + i % 26) for i in range(47))  # 48 bytes, varied


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def write_keys(path, keys: list[dict], active: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 1, "active": active, "keys": keys}))
    path.chmod(0o600)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# -- first run and the key file ---------------------------------------------------------------


def test_first_start_generates_a_key_file_only_the_owner_can_read(auth: AuthService) -> None:
    path = auth.settings.keys_path
    assert path.stat().st_mode & 0o777 == 0o600
    assert auth.settings.state_dir.stat().st_mode & 0o077 == 0


def test_generated_key_is_64_random_bytes(auth: AuthService) -> None:
    (entry,) = json.loads(auth.settings.keys_path.read_text())["keys"]
    assert len(base64.urlsafe_b64decode(entry["secret"] + "==")) == 64


def test_service_restarted_on_the_same_state_dir_keeps_its_key(make_auth, auth: AuthService) -> None:
    assert make_auth()._ring.active.kid == auth._ring.active.kid


def test_replica_that_loses_the_first_start_race_reads_the_winners_key(auth: AuthService) -> None:
    winner = auth._ring.active.kid
    auth._ring._create_first_key(auth.settings.keys_path)  # a second replica arriving late
    auth._ring._read_file()
    assert auth._ring.active.kid == winner
    assert [p.name for p in auth.settings.state_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_key_file_shorter_than_32_bytes_refuses_start_with_a_remedy(settings: AuthSettings) -> None:
    write_keys(settings.keys_path, [{"kid": "k1", "secret": b64(b"0123456789ab"), "created_at": 0}], "k1")
    with pytest.raises(AuthConfigError) as err:
        AuthService(settings)
    message = str(err.value)
    assert "is 12 bytes; at least 32 are required" in message
    assert "delete the file to have a new one generated" in message and "MODELSHIP_JWT_SECRET" in message


def test_key_file_readable_by_others_refuses_start_with_chmod_remedy(auth: AuthService, settings) -> None:
    settings.keys_path.chmod(0o644)
    with pytest.raises(AuthConfigError, match="chmod 600"):
        AuthService(settings)


@pytest.mark.parametrize("content", ["not json", "{}", '{"keys": [{"kid": "a"}]}', '{"keys": "x"}'])
def test_unreadable_key_file_refuses_start(settings: AuthSettings, content: str) -> None:
    settings.keys_path.parent.mkdir(parents=True)
    settings.keys_path.write_text(content)
    settings.keys_path.chmod(0o600)
    with pytest.raises(AuthConfigError, match="cannot be read"):
        AuthService(settings)


def test_key_file_without_keys_refuses_start(settings: AuthSettings) -> None:
    write_keys(settings.keys_path, [], None)
    with pytest.raises(AuthConfigError, match="holds no key"):
        AuthService(settings)


def test_key_file_whose_keys_are_all_retired_refuses_start(settings: AuthSettings) -> None:
    write_keys(settings.keys_path, [{"kid": "k1", "secret": b64(os.urandom(32)), "retired_at": 5}], None)
    with pytest.raises(AuthConfigError, match="no active key"):
        AuthService(settings)


def test_key_file_without_an_active_field_uses_its_newest_live_key(settings: AuthSettings) -> None:
    keys = [
        {"kid": "old", "secret": b64(os.urandom(32)), "created_at": 1},
        {"kid": "new", "secret": b64(os.urandom(32)), "created_at": 2},
    ]
    write_keys(settings.keys_path, keys, None)
    assert AuthService(settings)._ring.active.kid == "new"


def test_key_file_deleted_while_running_keeps_the_loaded_keys(auth: AuthService, pair, clock) -> None:
    auth.settings.keys_path.unlink()
    clock.advance(10)
    auth._ring.refresh(force=True)
    assert auth.verify_access(pair.access_token).sub == "scorer"


def test_reading_a_missing_key_file_explains_how_to_get_one(auth: AuthService) -> None:
    auth.settings.keys_path.unlink()
    with pytest.raises(AuthConfigError, match="is missing"):
        auth._ring._read_file()


# -- weak or placeholder secrets from the environment -----------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        "secret",
        "changeme",
        "change-me",
        "CHANGEME",
        " secret ",
        "your-256-bit-secret",
        "please-changeme-before-going-to-production-0123456789",
        "placeholder-placeholder-placeholder-x",
    ],
)
def test_known_placeholder_secret_refuses_start(settings: AuthSettings, secret: str) -> None:
    with pytest.raises(AuthConfigError, match="known placeholder"):
        AuthService(settings.__class__(**{**vars(settings), "jwt_secret": secret}))


def test_short_env_secret_refuses_start_and_says_how_to_generate_one(settings: AuthSettings) -> None:
    with pytest.raises(AuthConfigError) as err:
        AuthService(settings.__class__(**{**vars(settings), "jwt_secret": "x7Gq2mP9"}))
    assert "MODELSHIP_JWT_SECRET is 8 bytes; at least 32" in str(err.value)
    assert "secrets.token_urlsafe" in str(err.value)


def test_long_but_repetitive_secret_refuses_start(settings: AuthSettings) -> None:
    with pytest.raises(AuthConfigError, match="too repetitive"):
        AuthService(settings.__class__(**{**vars(settings), "jwt_secret": "ab" * 40}))


def test_config_error_is_a_value_error(settings: AuthSettings) -> None:
    with pytest.raises(ValueError):
        AuthService(settings.__class__(**{**vars(settings), "jwt_secret": "secret"}))


def test_env_secret_signs_tokens_and_creates_no_key_file(settings: AuthSettings) -> None:
    auth = AuthService(settings.__class__(**{**vars(settings), "jwt_secret": STRONG}))
    secret = auth.create_client("scorer", ["predict"])
    pair = auth.issue("client_credentials", client_id="scorer", client_secret=secret)
    assert auth.verify_access(pair.access_token).sub == "scorer"
    assert not settings.keys_path.exists()


def test_replicas_sharing_an_env_secret_derive_the_same_kid(tmp_path, settings: AuthSettings) -> None:
    one = AuthService(settings.__class__(**{**vars(settings), "jwt_secret": STRONG}))
    two = AuthService(settings.__class__(**{**vars(settings), "jwt_secret": STRONG, "state_dir": tmp_path / "b"}))
    assert one._ring.active.kid == two._ring.active.kid
    assert STRONG not in one._ring.active.kid


def test_env_keys_cannot_be_rotated_by_the_service(settings: AuthSettings) -> None:
    auth = AuthService(settings.__class__(**{**vars(settings), "jwt_secret": STRONG}))
    with pytest.raises(AuthConfigError, match="cannot be rotated here"):
        auth.rotate_keys()


def test_setting_both_env_key_variables_refuses_start(settings: AuthSettings) -> None:
    doc = json.dumps({"active": "a", "keys": [{"kid": "a", "secret": b64(os.urandom(32))}]})
    with pytest.raises(AuthConfigError, match="keep only one"):
        AuthService(settings.__class__(**{**vars(settings), "jwt_secret": STRONG, "jwt_keys": doc}))


def test_env_key_ring_verifies_tokens_of_its_retired_key_within_the_window(settings: AuthSettings, clock) -> None:
    old, new = os.urandom(48), os.urandom(48)
    now = int(clock())
    doc = json.dumps(
        {
            "active": "new",
            "keys": [
                {"kid": "old", "secret": b64(old), "created_at": now - 100, "retired_at": now},
                {"kid": "new", "secret": b64(new), "created_at": now},
            ],
        }
    )
    auth = AuthService(settings.__class__(**{**vars(settings), "jwt_keys": doc}))
    claims = {
        "iss": "modelship",
        "aud": "modelship-api",
        "sub": "s",
        "client_id": "s",
        "kind": "service",
        "scope": "predict",
        "jti": "j",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
    }
    token = jwt.encode(claims, old, algorithm="HS256", headers={"kid": "old", "typ": "at+jwt"})
    assert auth.verify_access(token).sub == "s"


def test_env_key_ring_with_a_short_key_names_the_variable(settings: AuthSettings) -> None:
    doc = json.dumps({"active": "a", "keys": [{"kid": "a", "secret": b64(b"short")}]})
    with pytest.raises(AuthConfigError, match="MODELSHIP_JWT_KEYS"):
        AuthService(settings.__class__(**{**vars(settings), "jwt_keys": doc}))


def test_malformed_env_key_ring_says_where_the_format_is(settings: AuthSettings) -> None:
    with pytest.raises(AuthConfigError, match="docs/auth.qmd"):
        AuthService(settings.__class__(**{**vars(settings), "jwt_keys": "[1, 2"}))


# -- rotation ---------------------------------------------------------------------------------


def test_rotation_returns_a_new_kid_and_new_tokens_use_it(auth: AuthService, service_secret: str) -> None:
    old = auth._ring.active.kid
    new = auth.rotate_keys()
    pair = auth.issue("client_credentials", client_id="scorer", client_secret=service_secret)
    assert new != old and kid_of(pair.access_token) == new


def test_token_of_the_retired_key_still_verifies_after_rotation(auth: AuthService, pair, clock) -> None:
    auth.rotate_keys()
    clock.advance(600)
    assert auth.verify_access(pair.access_token).sub == "scorer"


def test_retired_key_stops_verifying_after_access_ttl_plus_leeway(make_auth, auth: AuthService, clock) -> None:
    auth.rotate_keys()
    # Signed at the rotation with the longest lifetime accepted (access TTL + leeway): with the
    # leeway after its exp, the token itself would outlive the key's window.
    old_kid = [k for k in auth._ring.kids() if k != auth._ring.active.kid][0]
    old_secret = auth._ring._ring[0][old_kid].secret
    now = int(clock())
    claims = {
        "iss": "modelship",
        "aud": "modelship-api",
        "sub": "s",
        "client_id": "s",
        "kind": "service",
        "scope": "predict",
        "jti": "j",
        "iat": now,
        "nbf": now,
        "exp": now + 900 + 30,
    }
    token = jwt.encode(claims, old_secret, algorithm="HS256", headers={"kid": old_kid, "typ": "at+jwt"})
    clock.advance(900 + 30)
    assert auth.verify_access(token).sub == "s"
    clock.advance(1)
    with pytest.raises(AuthError) as err:
        make_auth(cache_size=0).verify_access(token)
    assert err.value.status == 401


def test_cached_token_stops_verifying_when_its_key_window_ends(auth: AuthService, clock) -> None:
    old_kid, old_secret = auth._ring.active.kid, auth._ring.active.secret
    now = int(clock())
    claims = {
        "iss": "modelship",
        "aud": "modelship-api",
        "sub": "s",
        "client_id": "s",
        "kind": "service",
        "scope": "predict",
        "jti": "j",
        "iat": now,
        "nbf": now,
        "exp": now + 900 + 30,
    }
    token = jwt.encode(claims, old_secret, algorithm="HS256", headers={"kid": old_kid, "typ": "at+jwt"})
    auth.verify_access(token)  # cached
    auth.rotate_keys()
    clock.advance(900 + 31)
    with pytest.raises(AuthError):
        auth.verify_access(token)


def test_refresh_token_of_the_retired_key_still_refreshes_after_the_access_window(
    auth: AuthService, pair, clock
) -> None:
    new_kid = auth.rotate_keys()
    clock.advance(2 * 3600)
    renewed = auth.refresh(pair.refresh_token)
    assert kid_of(renewed.refresh_token) == new_kid


def test_dropping_previous_keys_rejects_their_tokens_at_once(auth: AuthService, pair) -> None:
    auth.verify_access(pair.access_token)  # cached, too
    auth.rotate_keys(drop_previous=True)
    with pytest.raises(AuthError):
        auth.verify_access(pair.access_token)
    with pytest.raises(AuthError):
        auth.refresh(pair.refresh_token)


def test_rotation_prunes_keys_whose_tokens_have_all_expired(auth: AuthService, clock) -> None:
    first = auth._ring.active.kid
    auth.rotate_keys()
    clock.advance(28_800 + 31)
    auth.rotate_keys()
    assert first not in auth._ring.kids() and len(auth._ring.kids()) == 2


def test_rotated_key_file_stays_owner_only(auth: AuthService) -> None:
    auth.rotate_keys()
    assert auth.settings.keys_path.stat().st_mode & 0o777 == 0o600


def test_running_replica_verifies_tokens_of_a_key_rotated_elsewhere(
    make_auth, auth: AuthService, service_secret
) -> None:
    replica = make_auth()
    auth.rotate_keys()
    pair = auth.issue("client_credentials", client_id="scorer", client_secret=service_secret)
    assert replica.verify_access(pair.access_token).sub == "scorer"


def test_running_replica_signs_with_a_key_rotated_elsewhere_within_seconds(
    make_auth, auth: AuthService, service_secret, clock
) -> None:
    replica = make_auth()
    new_kid = auth.rotate_keys()
    clock.advance(replica.settings.key_reload_s)
    pair = replica.issue("client_credentials", client_id="scorer", client_secret=service_secret)
    assert kid_of(pair.access_token) == new_kid


def test_key_repr_never_shows_the_secret(auth: AuthService) -> None:
    key = auth._ring.active
    assert key.secret.hex() not in repr(key) and str(key.secret) not in repr(key)


def test_dropping_keys_elsewhere_ends_a_replicas_cached_tokens_within_seconds(
    make_auth, auth: AuthService, pair, clock
) -> None:
    replica = make_auth()
    replica.verify_access(pair.access_token)  # cached by the replica
    auth.rotate_keys(drop_previous=True)
    clock.advance(replica.settings.key_reload_s)
    with pytest.raises(AuthError):
        replica.verify_access(pair.access_token)


def test_dropping_keys_elsewhere_ends_their_refresh_tokens_at_a_replica_that_verified_nothing_since(
    make_auth, auth: AuthService, pair, clock
) -> None:
    replica = make_auth()  # it has loaded the old keys, and sees no access token after the drop
    auth.rotate_keys(drop_previous=True)
    clock.advance(replica.settings.key_reload_s)
    with pytest.raises(AuthError):
        replica.refresh(pair.refresh_token)


def test_key_file_broken_while_running_keeps_the_loaded_keys_and_logs_it(
    auth: AuthService, pair, clock, caplog
) -> None:
    auth.settings.keys_path.write_text("{ broken")
    clock.advance(auth.settings.key_reload_s)
    assert auth.verify_access(pair.access_token).sub == "scorer"
    assert "keeping the loaded signing keys" in caplog.text
