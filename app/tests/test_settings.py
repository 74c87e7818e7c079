"""Settings: the file, its environment overrides, and clear refusals of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathlab.settings import DEFAULT_FILE, SettingsError, load_settings

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(part="Lab app: settings", scope="unit", strategy="example-based", tool="pytest"),
]


def test_the_committed_file_serves_on_loopback_with_paths_beside_it() -> None:
    settings = load_settings(DEFAULT_FILE)
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8100
    assert settings.database.path == DEFAULT_FILE.parent / "var" / "pathlab.sqlite3"
    assert settings.cases.seed_file == DEFAULT_FILE.parent / "data" / "holding_cases.json"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[server]\nport = 8200\n[database]\npath = "db/app.sqlite3"\n', encoding="utf-8")
    monkeypatch.setenv("PATHLAB_SERVER__PORT", "8300")
    settings = load_settings(path)
    assert settings.server.port == 8300
    assert settings.database.path == tmp_path / "db" / "app.sqlite3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nhots = 'x'\n", "server.hots"),
        ("[session]\ncookie_name = 'a b'\n", "session.cookie_name"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=expected.replace(".", r"\.")):
        load_settings(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "nowhere.toml")
