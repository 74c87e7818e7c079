"""Alerts through the API and a real Prometheus (C11.6, C11.10).

The API app runs under uvicorn in a thread on 127.0.0.1 (the collector in a thread, windows of
one second) with a rules file of its own, a webhook receiver on 127.0.0.1, and Debian's
Prometheus scraping GET /v1/monitoring/metrics with a monitor-scope token and evaluating the
rules generated from the same file (tests/prometheus_support.py). Refused predictions make the
data-quality alert go pending, then firing; valid ones resolve it. Each transition reaches the
summary, the alerts file and (firing, resolved) the webhook once, and Prometheus shows it too.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from api_support import CHEAP_ARGON2, CONTRACT, sample_records, settings_of
from prometheus_support import PrometheusServer, prometheus_server

from modelship.contract import load_contract
from modelship.monitoring.alerts import AlertRulesError, load_rules
from serve.api import create_api
from serve.model import LocalBackend, ModelHolder
from serve.monitoring import promrules
from serve.monitoring.notify import ALERTS_FILE
from serve.service import build_service
from serve.settings import Settings
from support import write_params

pytestmark = [
    pytest.mark.requirement("C11.6", "C11.10"),
    pytest.mark.catalogue(
        part="Monitoring: alerts through the API, the webhook and a real Prometheus",
        scope="integration",
        strategy="example-based",
        tool="pytest + httpx, API app under uvicorn in-process, http.server webhook, Debian's prometheus",
    ),
]

RULES = """
rules:
  - id: invalid_requests
    metric: invalid_share
    comparison: ">"
    threshold: 0.5
    for_windows: 2
    min_samples: 2
    severity: warning
    runbook: runbook-invalid_requests
    summary: "{value:.0%} of prediction requests refused as invalid (422), above {threshold:.0%}"
"""


@dataclass
class Stack:
    url: str
    settings: Settings
    headers: Callable[[str], dict[str, str]]
    hook: list[dict[str, Any]]
    prometheus: PrometheusServer


def serve_hook() -> tuple[http.server.ThreadingHTTPServer, list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, template_registry: Path, clients) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("alerts-stack")
    registry = tmp / "registry"
    shutil.copytree(template_registry, registry)
    rules = tmp / "alerts.yaml"
    rules.write_text(RULES, encoding="utf-8")
    hook_server, received = serve_hook()
    params = write_params(tmp / "params.yaml", registry=str(registry), contract=str(CONTRACT))
    settings = settings_of(
        params=str(params),
        state_dir=str(clients.state_dir),
        data_dir=str(tmp / "data"),
        window_s=1.0,
        handoff_s=0.05,
        alert_rules=str(rules),
        webhook_url=f"http://127.0.0.1:{hook_server.server_address[1]}/hook",
        **CHEAP_ARGON2,
    )
    contract = load_contract(CONTRACT)
    backend = LocalBackend(ModelHolder(registry, feature_order=contract.feature_names))
    service = build_service(settings, backend, contract)
    server = uvicorn.Server(
        uvicorn.Config(create_api(settings, contract, service), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    prom_rules = tmp / "prometheus-rules.yml"
    prom_rules.write_text(promrules.render(load_rules(rules), settings.monitoring.window_s, str(rules)), "utf-8")
    try:
        with prometheus_server(
            tmp / "prometheus", f"127.0.0.1:{port}", clients.token("monitor"), rule_files=[prom_rules]
        ) as prometheus:
            yield Stack(f"http://127.0.0.1:{port}", settings, clients.headers, received, prometheus)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        hook_server.shutdown()
        hook_server.server_close()


def summary(client: httpx.Client, stack: Stack) -> dict[str, Any]:
    r = client.get("/v1/monitoring/summary", headers=stack.headers("monitor"))
    assert r.status_code == 200, r.text
    return r.json()


def traffic_until(
    client: httpx.Client, stack: Stack, valid: bool, done: Callable[[dict[str, Any]], bool], timeout_s: float = 20.0
) -> dict[str, Any]:
    """Send predictions (valid or not) a few per window until the summary satisfies `done`."""
    records = sample_records(1)
    if not valid:
        records[0]["mean_radius"] = -1.0  # outside the contract: 422
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.post("/v1/predict", json={"records": records}, headers=stack.headers("clinic"))
        assert r.status_code == (200 if valid else 422), r.text
        state = summary(client, stack)
        if done(state):
            return state
        assert time.monotonic() < deadline, state["alerts"]
        time.sleep(0.1)


def states(state: dict[str, Any]) -> dict[str, str]:
    return {a["rule"]: a["state"] for a in state["alerts"]["active"]}


def test_prometheus_scrapes_the_monitoring_metrics_with_the_bearer_token(stack):
    with httpx.Client(base_url=stack.url) as client:
        r = client.post("/v1/predict", json={"records": sample_records(2)}, headers=stack.headers("clinic"))
        assert r.status_code == 200, r.text
    (target,) = stack.prometheus.wait_for(
        lambda: [t for t in stack.prometheus.targets() if t["health"] == "up"], timeout_s=30
    )
    assert target["scrapeUrl"].endswith("/v1/monitoring/metrics")
    started = stack.prometheus.wait_for(lambda: stack.prometheus.value("modelship_collector_start_time_seconds"))
    assert abs(started - time.time()) < 600
    rules = stack.prometheus.query("modelship_alert_state")
    assert [r["metric"]["rule"] for r in rules] == ["invalid_requests"]


def test_refusals_raise_the_quality_alert_once_and_valid_traffic_resolves_it(stack):
    prom = stack.prometheus
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        pending = traffic_until(client, stack, valid=False, done=lambda s: bool(states(s)))
        assert states(pending) == {"invalid_requests": "pending"}
        firing = traffic_until(client, stack, valid=False, done=lambda s: states(s) == {"invalid_requests": "firing"})
        (alert,) = firing["alerts"]["active"]
        assert alert["value"] == 1.0 and alert["summary"].startswith("100% of prediction requests refused")
        assert alert["runbook"] == "monitoring.html#runbook-invalid_requests"
        # Prometheus, on the same gauges and the generated rule, agrees.
        prom.wait_for(lambda: "firing" in prom.alert_states("invalid_requests"), timeout_s=20)
        assert prom.value('modelship_alert_state{rule="invalid_requests"}') == 2.0
        # Quiet windows (only Prometheus's scrapes, no prediction request) cannot be judged: the
        # alert stays firing, in the collector and in Prometheus, with no second notification.
        time.sleep(2.5)
        quiet = summary(client, stack)
        assert states(quiet) == {"invalid_requests": "firing"}
        assert any(w["alerts"] and w["alerts"][0]["breached"] is None for w in quiet["windows"])
        assert "firing" in prom.alert_states("invalid_requests")
        resolved = traffic_until(client, stack, valid=True, done=lambda s: not states(s))
        assert resolved["alerts"]["resolved"][0]["rule"] == "invalid_requests"
        assert resolved["alerts"]["resolved"][0]["state"] == "resolved"
        prom.wait_for(lambda: not prom.alert_states("invalid_requests"), timeout_s=20)
        # Read again: the collector shows a window's alert states a moment before its summary.
        later = summary(client, stack)
    # The windows' own evaluations are in their summaries; a window too small to judge says
    # `breached: null`, and the last judged one is a normal window (valid traffic only since).
    evaluated = [w["alerts"][0] for w in later["windows"] if w["alerts"]]
    judged = [e["breached"] for e in evaluated if e["breached"] is not None]
    assert any(judged) and judged[-1] is False
    lines = (stack.settings.monitoring_dir / ALERTS_FILE).read_text(encoding="utf-8").splitlines()
    assert [(e["from"], e["state"]) for e in map(json.loads, lines)] == [
        ("inactive", "pending"),
        ("pending", "firing"),
        ("firing", "resolved"),
    ]
    deadline = time.monotonic() + 10
    while len(stack.hook) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p["alert"]["state"] for p in stack.hook] == ["firing", "resolved"]
    assert stack.hook[0]["text"].startswith("[FIRING] invalid_requests (warning): 100% of prediction requests")


def test_a_bad_rules_file_stops_the_service_at_start_with_the_rule_and_remedy(make_api, tmp_path):
    bad = tmp_path / "alerts.yaml"
    bad.write_text(RULES.replace("severity: warning", "severity: page"), encoding="utf-8")
    with pytest.raises(AlertRulesError, match=r"rule 1 \(invalid_requests\): severity 'page' is not one of"):
        make_api(alert_rules=str(bad))


def test_the_default_rules_are_the_committed_file(repo_root):
    assert Settings().alert_rules_path == repo_root / "monitoring" / "alerts.yaml"
