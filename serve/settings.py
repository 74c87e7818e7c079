"""Settings of the API, read from the application's `args` in the Serve config (serve/config.yaml).

Only what changes between deployments lives here; Serve's own knobs (replicas, batching,
max_ongoing_requests, max_queued_requests, request_timeout_s) stay in the Serve config's
`deployments:` and `http_options:` sections, where Serve reads them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Where relative paths in the config are resolved: the launcher exports the project root,
# so replicas (whose working directory is Ray's choice) find the same files.
ROOT_ENV = "MODELSHIP_ROOT"


def project_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or os.getcwd())


def resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else project_root() / p


class Limit(BaseModel):
    """At most `limit` units per client in any window of `window_s` seconds."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(gt=0)
    window_s: float = Field(gt=0)


class ClientLimits(BaseModel):
    """Per-client overrides of the default limits (for a partner with a bigger quota, or tests)."""

    model_config = ConfigDict(extra="forbid")
    rate_limit: Limit | None = None
    row_quota: Limit | None = None


class ServiceSettings(BaseModel):
    """Everything the ingress and the model deployment need to know about their environment."""

    model_config = ConfigDict(extra="forbid")

    registry: str = "models/registry"
    contract: str = "contracts/wdbc.yaml"
    # JWT keys and the client database (serve.auth); never in git.
    state_dir: str = ".secrets"
    # The prediction and feedback store (SQLite).
    data_dir: str = "var/serve"
    title: str = "modelship API"
    # OWASP API4: bounded requests.
    max_body_bytes: int = Field(default=262_144, gt=0)
    max_batch_rows: int = Field(default=100, gt=0)
    predict_timeout_s: float = Field(default=10.0, gt=0)
    # Shared by the ingress replicas of this machine (serve/ratelimit.py, SharedTokenBuckets).
    rate_limit: Limit = Limit(limit=600, window_s=60)
    row_quota: Limit = Limit(limit=100_000, window_s=3600)
    token_rate_limit: Limit = Limit(limit=30, window_s=60)
    clients: dict[str, ClientLimits] = Field(default_factory=dict)
    # Browser origins allowed to call the API (CORS); empty means no cross-origin access.
    cors_origins: list[str] = Field(default_factory=list)
    # Predictions are buffered in memory and written in batches (see docs/api.qmd, durability).
    prediction_flush_s: float = Field(default=0.05, gt=0)
    # single: the model in each ingress replica (one deployment, the faster one measured);
    # split: an ingress deployment calling a model deployment. See docs/api.qmd, "Topology".
    topology: Literal["single", "split"] = "single"

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: list[str]) -> list[str]:
        if "*" in origins:
            raise ValueError("cors_origins must list origins explicitly; '*' is refused "
                             "(a token-bearing API must not be callable from any web page)")
        return origins

    @property
    def registry_path(self) -> Path:
        return resolve(self.registry)

    @property
    def contract_path(self) -> Path:
        return resolve(self.contract)

    @property
    def state_path(self) -> Path:
        return resolve(self.state_dir)

    @property
    def db_path(self) -> Path:
        return resolve(self.data_dir) / "api.sqlite3"

    @property
    def limits_path(self) -> Path:
        """Rate-limit and quota buckets, shared by the ingress replicas of this machine."""
        return resolve(self.data_dir) / "limits.sqlite3"

    def limits_for(self, client_id: str) -> tuple[Limit, Limit]:
        override = self.clients.get(client_id)
        rate = (override.rate_limit if override else None) or self.rate_limit
        rows = (override.row_quota if override else None) or self.row_quota
        return rate, rows
