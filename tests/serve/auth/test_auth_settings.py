"""Settings: defaults, MODELSHIP_* variables and the limits that keep tokens short-lived.

Requirements: C9.3 (OWASP API8: security misconfiguration is refused at start).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from serve.auth import AuthConfigError, AuthSettings

pytestmark = [
    pytest.mark.requirement("C9.3"),
    pytest.mark.catalogue(
        part="Auth: settings and their environment variables",
        scope="unit", strategy="example-based", tool="pytest",
    ),
]


def test_defaults_match_the_documented_values(tmp_path: Path) -> None:
    s = AuthSettings(state_dir=tmp_path)
    assert (s.issuer, s.audience, s.access_ttl_s, s.refresh_ttl_s, s.leeway_s, s.min_key_bytes) == (
        "modelship", "modelship-api", 900, 28_800, 30, 32
    )


def test_key_file_and_database_live_in_the_state_dir(tmp_path: Path) -> None:
    s = AuthSettings(state_dir=tmp_path)
    assert (s.keys_path.parent, s.db_path.parent) == (tmp_path, tmp_path)


def test_from_env_reads_modelship_variables(tmp_path: Path) -> None:
    env = {"MODELSHIP_AUTH_ISSUER": "ms", "MODELSHIP_AUTH_AUDIENCE": "api", "MODELSHIP_AUTH_REALM": "r",
           "MODELSHIP_AUTH_ACCESS_TTL_S": "300", "MODELSHIP_AUTH_REFRESH_TTL_S": "3600",
           "MODELSHIP_AUTH_LEEWAY_S": "5", "MODELSHIP_JWT_SECRET": "s3cr3t"}
    s = AuthSettings.from_env(tmp_path, env)
    assert (s.issuer, s.audience, s.realm, s.access_ttl_s, s.refresh_ttl_s, s.leeway_s, s.jwt_secret) == (
        "ms", "api", "r", 300, 3600, 5, "s3cr3t"
    )


def test_from_env_reads_the_process_environment_by_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELSHIP_AUTH_ACCESS_TTL_S", "120")
    assert AuthSettings.from_env(tmp_path).access_ttl_s == 120


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    s = AuthSettings.from_env(tmp_path, {"MODELSHIP_JWT_SECRET": "", "MODELSHIP_AUTH_LEEWAY_S": ""})
    assert (s.jwt_secret, s.leeway_s) == (None, 30)


def test_non_numeric_ttl_is_refused_with_the_variable_name(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="MODELSHIP_AUTH_ACCESS_TTL_S is '15m'"):
        AuthSettings.from_env(tmp_path, {"MODELSHIP_AUTH_ACCESS_TTL_S": "15m"})


@pytest.mark.parametrize("leeway", [-1, 31, 300])
def test_leeway_outside_0_to_30_seconds_is_refused(tmp_path: Path, leeway: int) -> None:
    with pytest.raises(AuthConfigError, match="between 0 and 30"):
        AuthSettings(state_dir=tmp_path, leeway_s=leeway)


@pytest.mark.parametrize("field", ["access_ttl_s", "refresh_ttl_s"])
def test_non_positive_lifetime_is_refused(tmp_path: Path, field: str) -> None:
    with pytest.raises(AuthConfigError, match="positive"):
        AuthSettings(state_dir=tmp_path, **{field: 0})


def test_refresh_lifetime_shorter_than_access_lifetime_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="must outlive"):
        AuthSettings(state_dir=tmp_path, access_ttl_s=600, refresh_ttl_s=300)


def test_minimum_key_size_below_32_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="at least 32 bytes"):
        AuthSettings(state_dir=tmp_path, min_key_bytes=16)


def test_negative_cache_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cache_size"):
        AuthSettings(state_dir=tmp_path, cache_size=-1)


def test_settings_repr_hides_env_secrets(tmp_path: Path) -> None:
    s = AuthSettings(state_dir=tmp_path, jwt_secret="do-not-print-me", jwt_keys="{\"k\": 1}")
    assert "do-not-print-me" not in repr(s) and "jwt_keys" not in repr(s)


def test_state_dir_given_as_a_string_becomes_a_path(tmp_path: Path) -> None:
    assert AuthSettings(state_dir=str(tmp_path)).state_dir == tmp_path  # type: ignore[arg-type]


@pytest.mark.parametrize("realm", ["", 'mo"del', "back\\slash", "new\nline"])
def test_realm_that_would_break_the_challenge_header_is_refused(tmp_path: Path, realm: str) -> None:
    with pytest.raises(AuthConfigError, match="WWW-Authenticate"):
        AuthSettings(state_dir=tmp_path, realm=realm)
