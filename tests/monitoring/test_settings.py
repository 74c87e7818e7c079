"""The monitoring section of the service's settings (C11.2, C11.8): read from the Serve config,
overridable from the environment, validated, and its folder following the data folder."""

from __future__ import annotations

import pytest
from api_support import serve_config
from pydantic import ValidationError

from serve.settings import ROOT_ENV, Settings

pytestmark = [
    pytest.mark.requirement("C11.2", "C11.8"),
    pytest.mark.catalogue(
        part="Monitoring: settings (serve.settings, monitoring section)",
        scope="unit",
        strategy="example-based",
        tool="pytest",
    ),
]


def test_the_project_config_turns_monitoring_on_with_one_minute_windows(repo_root, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(repo_root))
    m = Settings.from_config(repo_root / "serve" / "config.yaml").monitoring
    assert m.enabled and m.window_s == 60 and m.min_drifted_features == 2 and m.drift_alpha == 0.01


def test_the_environment_overrides_the_file(tmp_path, monkeypatch):
    path = serve_config(tmp_path / "serve.yaml", {"monitoring": {"window_s": 30, "enabled": True}})
    monkeypatch.setenv("MODELSHIP_MONITORING__WINDOW_S", "5")
    monkeypatch.setenv("MODELSHIP_MONITORING__ENABLED", "false")
    m = Settings.from_config(path).monitoring
    assert m.window_s == 5 and m.enabled is False


def test_the_folder_follows_the_data_folder_unless_given(tmp_path):
    s = Settings.from_args({"paths": {"data_dir": str(tmp_path / "data")}})
    assert s.monitoring_dir == tmp_path / "data" / "monitoring"
    s = Settings.from_args({"monitoring": {"profiles_dir": str(tmp_path / "elsewhere")}})
    assert s.monitoring_dir == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "fields",
    [{"window_s": 0}, {"drift_alpha": 1.0}, {"min_drifted_features": 0}, {"batch_size": -1}, {"windows": 3}],
)
def test_bad_values_are_refused(fields):
    with pytest.raises(ValidationError):
        Settings.from_args({"monitoring": fields})
