"""Settings: defaults, the service's auth section and its MODELSHIP_AUTH__* variables, and the limits
that keep tokens short-lived.

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
        scope="unit",
        strategy="example-based",
        tool="pytest",
    ),
]


def test_defaults_match_the_documented_values(tmp_path: Path) -> None:
    s = AuthSettings(state_dir=tmp_path)
    assert (s.issuer, s.audience, s.access_ttl_s, s.refresh_ttl_s, s.leeway_s, s.min_key_bytes) == (
        "modelship",
        "modelship-api",
        900,
        28_800,
        30,
        32,
    )


def test_key_file_and_database_live_in_the_state_dir(tmp_path: Path) -> None:
    s = AuthSettings(state_dir=tmp_path)
    assert (s.keys_path.parent, s.db_path.parent) == (tmp_path, tmp_path)


def _service_settings():
    from serve.settings import Settings

    return Settings.from_args({"auth": {"issuer": "from-config", "access_ttl_s": 600}})


def test_the_service_settings_auth_section_builds_the_library_settings(tmp_path: Path) -> None:
    s = _service_settings().auth_settings(tmp_path)
    assert (s.issuer, s.access_ttl_s, s.state_dir) == ("from-config", 600, tmp_path)


def test_the_environment_overrides_the_auth_section(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELSHIP_AUTH__ACCESS_TTL_S", "120")
    monkeypatch.setenv("MODELSHIP_AUTH__REALM", "r")
    s = _service_settings().auth_settings(tmp_path)
    assert (s.access_ttl_s, s.realm, s.issuer) == (120, "r", "from-config")


def test_empty_variables_count_as_unset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELSHIP_JWT_SECRET", "")
    monkeypatch.setenv("MODELSHIP_AUTH__LEEWAY_S", "")
    s = _service_settings().auth_settings(tmp_path)
    assert (s.jwt_secret, s.leeway_s) == (None, 30)


def test_a_non_numeric_ttl_in_the_environment_is_refused_naming_it(monkeypatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("MODELSHIP_AUTH__ACCESS_TTL_S", "15m")
    with pytest.raises(ValidationError, match="access_ttl_s"):
        _service_settings()


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
    s = AuthSettings(state_dir=tmp_path, jwt_secret="do-not-print-me", jwt_keys='{"k": 1}')
    assert "do-not-print-me" not in repr(s) and "jwt_keys" not in repr(s)


def test_state_dir_given_as_a_string_becomes_a_path(tmp_path: Path) -> None:
    assert AuthSettings(state_dir=str(tmp_path)).state_dir == tmp_path  # type: ignore[arg-type]


@pytest.mark.parametrize("realm", ["", 'mo"del', "back\\slash", "new\nline"])
def test_realm_that_would_break_the_challenge_header_is_refused(tmp_path: Path, realm: str) -> None:
    with pytest.raises(AuthConfigError, match="WWW-Authenticate"):
        AuthSettings(state_dir=tmp_path, realm=realm)


def test_the_operator_cli_and_the_service_use_the_config_state_folder(tmp_path: Path, capsys) -> None:
    import yaml

    from serve.auth import AuthService
    from serve.auth.__main__ import main
    from serve.settings import Settings

    config = tmp_path / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "applications": [
                    {
                        "name": "modelship",
                        "args": {
                            "paths": {"state_dir": str(tmp_path / "elsewhere")},
                            "auth": {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1},
                        },
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    assert main(["--config", str(config), "create-client", "app", "--scopes", "predict"]) == 0
    secret = capsys.readouterr().out.strip()
    service = AuthService(Settings.from_config(config).auth_settings())
    assert [c.client_id for c in service.list_clients()] == ["app"]
    assert service.settings.state_dir == tmp_path / "elsewhere"
    assert service.issue("client_credentials", client_id="app", client_secret=secret).access_token
