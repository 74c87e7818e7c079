"""serve/settings.py: typed nested settings from the serve config, the environment and defaults (C9.2, C9.3, C9.10).

Unit tests on config files written in tmp_path; no setting is read from the developer's
environment except where a test sets it.
"""

from __future__ import annotations

import pytest
import yaml
from api_support import params_file as _params
from api_support import serve_config as _config
from api_support import settings_of
from pydantic import ValidationError

from serve.settings import ROOT_ENV, Settings, project_root, resolve

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.10"),
    pytest.mark.catalogue(
        part="Settings: serve config, environment, paths, limits",
        scope="unit",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]


def test_settings_are_read_from_the_named_application_of_a_serve_config(tmp_path):
    config = _config(tmp_path / "c.yaml", {"service": {"max_batch_rows": 7}})
    assert Settings.from_config(config).service.max_batch_rows == 7


def test_a_config_without_the_application_is_refused_naming_it(tmp_path):
    with pytest.raises(KeyError, match="modelship"):
        Settings.from_config(_config(tmp_path / "c.yaml", {}, name="else"))


def test_a_missing_config_file_is_refused_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        Settings.from_config(tmp_path / "nowhere.yaml")


def test_relative_paths_resolve_against_the_project_root_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    (tmp_path / "p.yaml").write_text(
        yaml.safe_dump({**yaml.safe_load(open(_params(tmp_path))), "registry": "reg", "contract": "c.yaml"})
    )
    s = settings_of(params="p.yaml", state_dir="st", data_dir="d").paths
    assert (s.registry, s.contract, s.state, s.store, s.limits) == (
        tmp_path / "reg",
        tmp_path / "c.yaml",
        tmp_path / "st",
        tmp_path / "d" / "api.sqlite3",
        tmp_path / "d" / "limits.sqlite3",
    )


def test_the_registry_and_contract_paths_come_from_the_params_file_only(tmp_path):
    with pytest.raises(ValidationError, match="extra"):
        settings_of(params=_params(tmp_path)).model_validate({"paths": {"registry": "models/registry"}})


def test_without_the_variable_relative_paths_resolve_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path and resolve("x") == tmp_path / "x"


def test_absolute_paths_are_kept(tmp_path):
    assert resolve(tmp_path / "x") == tmp_path / "x"


@pytest.mark.parametrize("origins", [["*"], ["http://ok.test", "*"]])
def test_a_cors_wildcard_is_refused(origins):
    with pytest.raises(ValidationError, match="explicitly"):
        settings_of(cors_origins=origins)


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValidationError, match="extra"):
        Settings.from_args({"service": {"max_rows": 5}})


def test_an_unknown_section_is_refused():
    with pytest.raises(ValidationError, match="extra"):
        Settings.from_args({"servise": {}})


def test_a_limit_must_be_positive():
    with pytest.raises(ValidationError):
        settings_of(rate_limit={"limit": 0, "window_s": 60})


def test_per_client_limits_override_the_defaults():
    s = settings_of(clients={"big": {"row_quota": {"limit": 9, "window_s": 1}}}).limits
    assert s.for_client("big")[1].limit == 9 and s.for_client("other")[1].limit == s.row_quota.limit


def test_a_client_override_of_one_limit_keeps_the_default_of_the_other():
    s = settings_of(clients={"x": {"rate_limit": {"limit": 1, "window_s": 1}}}).limits
    rate, rows = s.for_client("x")
    assert rate.limit == 1 and rows == s.row_quota


def test_the_environment_overrides_a_field_of_the_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSHIP_PATHS__STATE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MODELSHIP_LIMITS__RATE_LIMIT__LIMIT", "5")
    config = _config(
        tmp_path / "c.yaml", {"paths": {"state_dir": "here"}, "limits": {"rate_limit": {"limit": 600, "window_s": 60}}}
    )
    s = Settings.from_config(config)
    assert s.paths.state == tmp_path / "elsewhere"
    assert (s.limits.rate_limit.limit, s.limits.rate_limit.window_s) == (5, 60)


def test_a_secret_written_in_the_config_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="MODELSHIP_JWT_SECRET"):
        Settings.from_config(_config(tmp_path / "c.yaml", {"jwt_secret": "x" * 40}))


def test_the_jwt_secret_comes_from_the_environment_into_the_auth_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSHIP_JWT_SECRET", "s" * 40)
    auth = Settings.from_args({}).auth_settings(tmp_path)
    assert auth.jwt_secret == "s" * 40 and auth.state_dir == tmp_path
    assert "s" * 40 not in repr(Settings.from_args({}))


def test_the_auth_section_sets_the_token_lifetimes(tmp_path):
    auth = Settings.from_args({"auth": {"access_ttl_s": 60, "refresh_ttl_s": 120}}).auth_settings(tmp_path)
    assert (auth.access_ttl_s, auth.refresh_ttl_s) == (60, 120)
