"""The service's settings: one typed model, read from serve/config.yaml, overridable from the environment.

The application's `args` in the Serve config hold five sections (`service`, `auth`, `limits`,
`paths`, `monitoring`); every field can be overridden by an environment variable named after its path,
`MODELSHIP_<SECTION>__<FIELD>` (e.g. `MODELSHIP_PATHS__STATE_DIR=/srv/state`). The service's
replicas, the OpenAPI export, the benchmark and the operator CLI (`python -m serve.auth`) all
read them through `Settings.from_config`, so they always agree on where the keys and the
client database live.

The registry and the contract are the pipeline's: their paths are read from the params file
that `paths.params` names, never spelled a second time here.

Serve's own knobs (replicas, batching, max_ongoing_requests, request_timeout_s) stay in the
Serve config's `deployments:` and `http_options:` sections, where Serve reads them.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from serve.auth.settings import AuthSettings

if TYPE_CHECKING:
    from modelship.params import Params

# Where relative paths are resolved: the launcher exports the project root, so replicas
# (whose working directory is Ray's choice) find the same files.
ROOT_ENV = "MODELSHIP_ROOT"
ENV_PREFIX = "MODELSHIP_"
DEFAULT_CONFIG = Path("serve/config.yaml")
APP_NAME = "modelship"


def project_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or os.getcwd())


def resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else project_root() / p


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(Section):
    """At most `limit` units per key in any window of `window_s` seconds."""

    limit: int = Field(gt=0)
    window_s: float = Field(gt=0)


class ClientLimits(Section):
    """Per-client overrides of the default limits (for a partner with a bigger quota, or tests)."""

    rate_limit: Limit | None = None
    row_quota: Limit | None = None


class ServiceSection(Section):
    title: str = "modelship API"
    # OWASP API4: bounded requests.
    max_body_bytes: int = Field(default=262_144, gt=0)
    max_batch_rows: int = Field(default=100, gt=0)
    predict_timeout_s: float = Field(default=10.0, gt=0)
    # Predictions are buffered in memory and written in batches (docs/api.qmd, durability).
    prediction_flush_s: float = Field(default=0.05, gt=0)
    # Browser origins allowed to call the API (CORS); empty means no cross-origin access.
    cors_origins: tuple[str, ...] = ()

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in origins:
            raise ValueError(
                "cors_origins must list origins explicitly; '*' is refused "
                "(a token-bearing API must not be callable from any web page)"
            )
        return origins


class LimitsSection(Section):
    """Shared by the ingress replicas of this machine (serve/ratelimit.py, SharedTokenBuckets)."""

    rate_limit: Limit = Limit(limit=600, window_s=60)
    row_quota: Limit = Limit(limit=100_000, window_s=3600)
    # Token requests (docs/auth.qmd, rate limits). Per (client id, source address): guesses at one
    # secret, and a known client keeps its own budget whoever else uses its id elsewhere.
    token_rate_limit: Limit = Limit(limit=30, window_s=60)
    # Per source address, for requests from an address that has not authenticated that client
    # before: one address cannot spend the global budget alone.
    token_ip_rate_limit: Limit = Limit(limit=60, window_s=60)
    # All such requests together, every replica: bounds the argon2 work that unknown ids and
    # new addresses can cause, whatever the number of addresses.
    token_global_rate_limit: Limit = Limit(limit=120, window_s=60)
    # Renewals and revocations (the refresh grant, /refresh, /revoke) per source address: they hash
    # nothing costly, but unbounded they would let one address hammer the token store.
    renew_ip_rate_limit: Limit = Limit(limit=120, window_s=60)
    # How long a successful authentication makes its (client id, address) known.
    token_known_address_s: float = Field(default=30 * 86_400, gt=0)
    clients: dict[str, ClientLimits] = Field(default_factory=dict)

    def for_client(self, client_id: str) -> tuple[Limit, Limit]:
        """The request rate and row quota of one client: its override, else the defaults."""
        override = self.clients.get(client_id)
        rate = (override.rate_limit if override else None) or self.rate_limit
        rows = (override.row_quota if override else None) or self.row_quota
        return rate, rows


def _auth_default(name: str) -> Any:
    """The authentication library's own default, so that it is written in one place."""
    return AuthSettings.__dataclass_fields__[name].default


class AuthSection(Section):
    """Token lifetimes and identifiers (docs/auth.qmd); the keys themselves come from the
    environment (MODELSHIP_JWT_KEYS, MODELSHIP_JWT_SECRET) or the key file, never from here."""

    issuer: str = _auth_default("issuer")
    audience: str = _auth_default("audience")
    realm: str = _auth_default("realm")
    access_ttl_s: int = _auth_default("access_ttl_s")
    refresh_ttl_s: int = _auth_default("refresh_ttl_s")
    leeway_s: int = _auth_default("leeway_s")
    argon2_time_cost: int = _auth_default("argon2_time_cost")
    argon2_memory_cost: int = _auth_default("argon2_memory_cost")
    argon2_parallelism: int = _auth_default("argon2_parallelism")


class PathsSection(Section):
    # The pipeline's params file: the registry and the contract are read from it.
    params: str = "params.yaml"
    # JWT keys and the client database (serve.auth); never in git.
    state_dir: str = ".secrets"
    # The prediction and feedback store and the shared limits (SQLite).
    data_dir: str = "var/serve"

    @cached_property
    def _pipeline(self) -> Params:
        from modelship.params import load_params

        return load_params(resolve(self.params))

    @property
    def registry(self) -> Path:
        return resolve(self._pipeline.registry)

    @property
    def contract(self) -> Path:
        return resolve(self._pipeline.contract)

    @property
    def state(self) -> Path:
        return resolve(self.state_dir)

    @property
    def store(self) -> Path:
        return resolve(self.data_dir) / "api.sqlite3"

    @property
    def limits(self) -> Path:
        """Rate-limit and quota buckets, shared by the ingress replicas of this machine."""
        return resolve(self.data_dir) / "limits.sqlite3"


class MonitoringSection(Section):
    """Collection of served traffic and the metrics computed from it (docs/monitoring.qmd)."""

    enabled: bool = True
    # Rows are profiled and metrics computed per window of this length (seconds in a sandbox,
    # minutes or hours in production).
    window_s: float = Field(default=60.0, gt=0)
    # Each replica hands its buffered rows to the collector this often, or sooner once
    # `batch_size` rows wait; a replica holds at most `max_buffer_rows` (more are dropped, counted).
    handoff_s: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=256, gt=0)
    max_buffer_rows: int = Field(default=50_000, gt=0)
    # Window profiles and summaries; None: `monitoring/` in paths.data_dir.
    profiles_dir: str | None = None
    retention_s: float = Field(default=30 * 86_400, gt=0)
    # Drift (modelship/monitoring/drift.py): a window is judged from this many rows; a feature
    # drifts at a Benjamini-Hochberg adjusted p-value under drift_alpha and a KS statistic of
    # at least drift_min_statistic; the window drifts with min_drifted_features of them.
    min_window_rows: int = Field(default=50, gt=0)
    drift_alpha: float = Field(default=0.01, gt=0, lt=1)
    drift_min_statistic: float = Field(default=0.1, ge=0, le=1)
    min_drifted_features: int = Field(default=2, gt=0)
    # Live performance: from the feedback of this trailing period, given from this many labels.
    min_labels: int = Field(default=30, gt=0)
    performance_period_s: float = Field(default=30 * 86_400, gt=0)
    # The collector's Ray actor (one per application on a cluster).
    collector_name: str = "modelship-monitoring"
    # Alerts (modelship/monitoring/alerts.py): the rules file, evaluated at each window close.
    alert_rules: str = "monitoring/alerts.yaml"
    # Alert notifications to an HTTP webhook (Slack/Teams-compatible JSON); None: no webhook.
    # Sent from a thread of their own: at most webhook_retries more attempts, each bounded by
    # webhook_timeout_s, and a bounded queue, so a slow endpoint never holds the collector.
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=2.0, gt=0)
    webhook_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must be an http:// or https:// URL, not {url!r}")
        return url


class Settings(BaseSettings):
    """Everything the service needs to know about its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", env_ignore_empty=True, frozen=True
    )

    service: ServiceSection = ServiceSection()
    auth: AuthSection = AuthSection()
    limits: LimitsSection = LimitsSection()
    paths: PathsSection = PathsSection()
    monitoring: MonitoringSection = MonitoringSection()
    # Secrets: from the environment only (from_config refuses them in the file).
    jwt_keys: SecretStr | None = None
    jwt_secret: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the config file (the init arguments), not the reverse.
        return env_settings, init_settings

    @classmethod
    def from_args(cls, args: dict[str, Any] | None) -> Settings:
        """From an application's `args` (what Serve hands the deployment)."""
        args = dict(args or {})
        for secret in ("jwt_keys", "jwt_secret"):
            if secret in args:
                raise ValueError(
                    f"{secret} must not be written in the config file: set "
                    f"{ENV_PREFIX}{secret.upper()} in the environment (docs/auth.qmd)"
                )
        return cls(**args)

    @classmethod
    def from_config(cls, path: str | Path = DEFAULT_CONFIG, app_name: str = APP_NAME) -> Settings:
        """The settings of application `app_name` in a Serve config file."""
        path = resolve(path)
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise FileNotFoundError(f"Serve config not found: {path}") from None
        for app in config.get("applications") or []:
            if app.get("name") == app_name:
                return cls.from_args(app.get("args"))
        raise KeyError(f"no application named {app_name!r} in {path}: check its `applications:` list")

    @property
    def alert_rules_path(self) -> Path:
        """The alert rules file (monitoring.alert_rules, relative to the project root)."""
        return resolve(self.monitoring.alert_rules)

    @property
    def monitoring_dir(self) -> Path:
        """Where the collector writes window profiles and summaries."""
        folder = self.monitoring.profiles_dir
        return resolve(folder) if folder else resolve(self.paths.data_dir) / "monitoring"

    def auth_settings(self, state_dir: Path | None = None) -> AuthSettings:
        """The authentication library's settings; `state_dir` overrides paths.state_dir (CLI flag)."""
        return AuthSettings(
            state_dir=state_dir or self.paths.state,
            **self.auth.model_dump(),
            jwt_keys=self.jwt_keys.get_secret_value() if self.jwt_keys else None,
            jwt_secret=self.jwt_secret.get_secret_value() if self.jwt_secret else None,
        )
