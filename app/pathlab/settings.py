"""The app's settings: settings.toml, overridden by PATHLAB_<SECTION>__<KEY> environment variables.

Each concern has its own section, so a new one (such as a service the app calls) is one more
model and one more table in the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_FILE = PROJECT_DIR / "settings.toml"


class SettingsError(RuntimeError):
    """The settings file or an override is missing or invalid."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=0, le=65535)


class DatabaseSettings(_Section):
    path: Path = Path("var/pathlab.sqlite3")


class CasesSettings(_Section):
    seed_file: Path = Path("data/holding_cases.json")
    page_size: int = Field(default=20, ge=1, le=200)


class SessionSettings(_Section):
    cookie_name: str = Field(default="pathlab_session", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    secure_cookie: bool = False
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    absolute_hours: int = Field(default=12, ge=1, le=24 * 7)


class LoginSettings(_Section):
    window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_failures_per_user: int = Field(default=5, ge=1)
    max_failures_per_address: int = Field(default=20, ge=1)


class ModelApiSettings(_Section):
    """The model's API (see its documentation, docs/api.qmd and docs/auth.qmd). The client secret is
    never a setting: it comes from PATHLAB_MODEL_API_SECRET or the file `secret_file` names."""

    enabled: bool = False
    base_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/?#]+$")
    client_id: str = Field(default="pathlab", pattern=r"^[A-Za-z0-9._@-]{1,64}$")
    # What the app asks its tokens for: only what it uses (the API's least privilege).
    scopes: str = Field(default="predict feedback", pattern=r"^[a-z]+( [a-z]+)*$")
    secret_file: Path = Path("var/model_api_secret")
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    renew_before_s: float = Field(default=60.0, ge=0, le=3600)
    outbox_interval_s: float = Field(default=30.0, gt=0, le=3600)
    # Cases per request of a batch assessment: the API's documented cap unless this is lower.
    max_batch_records: int | None = Field(default=None, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATHLAB_", env_nested_delimiter="__", extra="forbid", frozen=True)

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    cases: CasesSettings = CasesSettings()
    session: SessionSettings = SessionSettings()
    login: LoginSettings = LoginSettings()
    model_api: ModelApiSettings = ModelApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return (env_settings, init_settings)


def settings_file() -> Path:
    return Path(os.environ.get("PATHLAB_SETTINGS", DEFAULT_FILE))


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file and the environment; relative paths follow the file's folder."""
    path = path or settings_file()
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid settings ({path} or PATHLAB_ variables): {problems}") from None
    base = path.resolve().parent
    return settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"path": base / settings.database.path}),
            "cases": settings.cases.model_copy(update={"seed_file": base / settings.cases.seed_file}),
            "model_api": settings.model_api.model_copy(update={"secret_file": base / settings.model_api.secret_file}),
        }
    )
