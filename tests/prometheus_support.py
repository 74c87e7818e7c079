"""A real Prometheus server for tests: Debian's `prometheus` (make system-deps), on 127.0.0.1.

    from prometheus_support import prometheus_server

    @pytest.fixture(scope="session")
    def prometheus(tmp_path_factory, served):          # any target serving the metrics route
        with prometheus_server(
            tmp_path_factory.mktemp("prometheus"),
            target="127.0.0.1:8000",                    # host:port of the service
            token=access_token_with_monitor_scope,      # written to a file, sent as Bearer
            rule_files=[rules_path],                    # optional: e.g. promrules.generate(...)
        ) as server:
            yield server

    server.query('modelship_drifted_features')          # /api/v1/query: the result vector
    server.alerts()                                     # /api/v1/alerts: [{labels, state, ...}]
    server.alert_states("drift")                        # {"pending"} / {"firing"} / set()
    server.wait_for(lambda: "firing" in server.alert_states("drift"), timeout_s=60)
    server.write_token(new_token)                       # renewed tokens: read at each scrape

The server gets a generated config (one scrape job, `metrics_path` /v1/monitoring/metrics,
`authorization: credentials_file:` the token file), a temporary --storage.tsdb.path, a free
loopback port, and scrape and evaluation intervals of `interval_s` (1 s by default, so an
alert's `for:` is the only wait). It is stopped (SIGTERM, then SIGKILL) when the block ends;
its log is in `<folder>/prometheus.log`. The alerts carry the labels `rule` (the id in
monitoring/alerts.yaml) and `severity`, as the generated rules give them.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
METRICS_PATH = "/v1/monitoring/metrics"
JOB = "modelship"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrometheusServer:
    url: str
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def token_file(self) -> Path:
        return self.folder / "token"

    def write_token(self, token: str) -> None:
        tmp = self.token_file.with_suffix(".tmp")
        tmp.write_text(token + "\n", encoding="utf-8")
        tmp.replace(self.token_file)

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: its `data`, or AssertionError with Prometheus's error."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: [{"metric": {labels}, "value": [time, "value"]}, ...]."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The query's one value, None when it has no result."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts: [{"labels": {alertname, rule, severity, ...}, "state": "pending"|"firing", ...}]."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def alert_states(self, rule: str) -> set[str]:
        return {a["state"] for a in self.alerts() if a["labels"].get("rule") == rule}

    def targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return targets

    def wait_for(self, check: Callable[[], T], timeout_s: float = 30.0, every_s: float = 0.5) -> T:
        """Calls `check` until it returns something truthy; AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process.poll() is None, f"prometheus exited: {self.log()[-2000:]}"
            got = check()
            if got:
                return got
            assert time.monotonic() < deadline, f"not within {timeout_s} s; targets: {self.targets()}"
            time.sleep(every_s)

    def log(self) -> str:
        return (self.folder / "prometheus.log").read_text(encoding="utf-8", errors="replace")


def write_config(
    folder: Path,
    target: str,
    metrics_path: str = METRICS_PATH,
    rule_files: Sequence[Path] = (),
    interval_s: float = 1.0,
) -> Path:
    interval = f"{round(interval_s * 1000)}ms"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": metrics_path,
                "authorization": {"type": "Bearer", "credentials_file": str(folder / "token")},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def prometheus_server(
    folder: Path,
    target: str,
    token: str,
    rule_files: Sequence[Path] = (),
    metrics_path: str = METRICS_PATH,
    interval_s: float = 1.0,
    start_timeout_s: float = 30.0,
) -> Iterator[PrometheusServer]:
    """Start Prometheus scraping `target` (host:port) with `token`; stop it when the block ends."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: run `make system-deps` (Debian's prometheus package)"
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, target, metrics_path, rule_files, interval_s)
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PrometheusServer(f"http://127.0.0.1:{port}", folder, process)
    server.write_token(token)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            assert process.poll() is None, f"prometheus exited: {server.log()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"prometheus not ready in {start_timeout_s} s: {server.log()[-2000:]}"
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
