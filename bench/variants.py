"""Variants of the Serve deployment that the benchmark can run instead of serve/config.yaml as is.

Each variant is the project's config plus changes: environment variables for Ray, launcher
flags, application settings, per-deployment overrides, or another import path.

The launcher gives the ingress replicas the service port itself (serve/launcher.py), so every
throughput-optimized variant is measured on that port. Variants named in older runs of
docs/performance.qmd and gone from here measured designs that the default has replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.workspace import ROOT


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    env: dict[str, str] = field(default_factory=dict)
    throughput_optimized: bool = True
    import_path: str = "serve.app:build"
    deployments: dict[str, Any] = field(default_factory=dict)
    access_log: bool | None = None
    # Application settings sections merged over the config's.
    args: dict[str, Any] = field(default_factory=dict)


# HAProxy's files default to /tmp/haproxy-serve, shared by every cluster on the machine: keep
# ours apart. Its Prometheus frontend binds all interfaces (Ray's template says `bind :PORT`);
# move it off the default port so it cannot collide with another session's.
# HAProxy binds http_options.port, which the launcher now moves to port + 10 (the replica holds
# the service port): the service port these variants measure is the first replica's own.
HAPROXY_DIR = ROOT / "var" / "bench" / "haproxy"
HAPROXY_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(HAPROXY_DIR / "haproxy.cfg"),
    "RAY_SERVE_HAPROXY_SOCKET_PATH": str(HAPROXY_DIR / "admin.sock"),
    "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(HAPROXY_DIR),
    "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(HAPROXY_DIR / "server-state"),
    "RAY_SERVE_HAPROXY_METRICS_PORT": "18190",
}

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant(
            "default",
            "serve/config.yaml as `make serve` runs it: 2 ingress replicas sharing the "
            "service port, throughput-optimized on",
        ),
        Variant("one-replica", "1 ingress replica", deployments={"Ingress": {"num_replicas": 1}}),
        Variant(
            "no-throughput-optimized",
            "RAY_SERVE_THROUGHPUT_OPTIMIZED off: Serve's HTTP proxy actor in front",
            throughput_optimized=False,
        ),
        Variant(
            "haproxy", "RAY_SERVE_ENABLE_HA_PROXY=1: bundled HAProxy in front of the ingress replicas", env=HAPROXY_ENV
        ),
        Variant(
            "max-ongoing-5",
            "Serve's default max_ongoing_requests (5)",
            deployments={"Ingress": {"max_ongoing_requests": 5}},
        ),
        Variant(
            "batch-wait-5ms",
            "batch_wait_timeout_s 5 ms instead of 0",
            deployments={"Ingress": {"user_config": {"batch_wait_timeout_s": 0.005}}},
        ),
        Variant(
            "batch-1", "max_batch_size 1 (no batching)", deployments={"Ingress": {"user_config": {"max_batch_size": 1}}}
        ),
        Variant("access-log", "Serve access log on", access_log=True),
    ]
}
