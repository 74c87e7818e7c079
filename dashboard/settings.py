"""The dashboard's settings: typed defaults here, each overridable as MODELSHIP_DASHBOARD_<FIELD>.

The dashboard is a client of the API, a process of its own: it needs the API's address, not the
service's settings, so it reads nothing from serve/config.yaml.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MODELSHIP_DASHBOARD_"


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True, env_ignore_empty=True)

    # Loopback only by default: put a TLS reverse proxy in front for other machines.
    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=0, le=65535)
    # The API (`make dashboard SERVE_URL=...`).
    api_url: str = "http://127.0.0.1:8000"
    request_timeout_s: float = Field(default=5.0, gt=0)
    # How often the page asks for new figures (the collector's windows close less often).
    poll_s: float = Field(default=5.0, ge=1)
    # The access token is renewed this long before it expires (or at a quarter of its lifetime,
    # whichever is shorter), so that a request rarely meets a 401.
    renew_before_s: float = Field(default=60.0, ge=0)
    # A signed-in session unused this long ends; the service's refresh token ends it anyway.
    session_idle_s: float = Field(default=3600.0, gt=0)
    # None: the cookie is Secure when the request came over https (behind a TLS proxy that says so).
    secure_cookie: bool | None = None
    cookie_name: str = "modelship_dashboard"
    # Alerts' runbook entries are links below this address; the built docs site (`make docs`)
    # is served under /site/ when `site_dir` exists.
    docs_url: str = "/site/docs/"
    site_dir: str = "_site"
