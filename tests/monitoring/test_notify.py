"""Alert notifications (serve.monitoring.notify; C11.6, C11.10): the log line, the append-only
file, and the webhook against real HTTP servers on 127.0.0.1 that answer, answer late, fail with
500, or refuse the connection. However the endpoint behaves, `notify` returns at once and the
webhook thread gives up after its bounded attempts.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from api_support import settings_of

from serve.monitoring import notify
from serve.monitoring.notify import ALERTS_FILE, Notifier, Webhook, webhook_payload

pytestmark = [
    pytest.mark.requirement("C11.6", "C11.10"),
    pytest.mark.catalogue(
        part="Monitoring: alert notifications (serve.monitoring.notify)",
        scope="unit",
        strategy="fault injection",
        tool="pytest, http.server on 127.0.0.1",
    ),
]


def transition(state: str = "firing", rule: str = "drift") -> dict[str, Any]:
    return {
        "rule": rule,
        "severity": "warning",
        "state": state,
        "summary": "4 features drifted (minimum 2)",
        "metric": "drifted_features",
        "comparison": ">=",
        "threshold": 2.0,
        "value": 4.0,
        "samples": 120,
        "min_samples": 50,
        "since": "2026-12-02T14:00:00Z",
        "window": "20261202T140000Z",
        "runbook": "monitoring.html#runbook-drift",
        "from": "pending",
    }


@dataclass
class Receiver:
    """A webhook endpoint: records each POST, answers `status` after `delay_s`."""

    url: str
    status: int = 200
    delay_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            # Read at arrival: a late answer of one test must not land in the next one's record.
            state.attempts += 1
            status, delay_s = state.status, state.delay_s
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if status == 200 and delay_s == 0:
                state.received.append(json.loads(body))
            time.sleep(delay_s)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    receiver.status, receiver.delay_s, receiver.attempts = 200, 0.0, 0
    receiver.received.clear()
    monkeypatch.setattr(notify, "BACKOFF_S", (0.05,))  # the retry pauses, shortened for the test
    return receiver


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_webhook_gets_slack_compatible_json_with_the_alert(hook):
    webhook = Webhook(hook.url, timeout_s=2.0, retries=2)
    webhook.submit(webhook_payload(transition()))
    webhook.drain()
    webhook.close()
    (payload,) = hook.received
    assert payload["text"] == (
        "[FIRING] drift (warning): 4 features drifted (minimum 2). Window 20261202T140000Z. "
        "Runbook: monitoring.html#runbook-drift"
    )
    assert payload["alert"]["rule"] == "drift" and payload["alert"]["value"] == 4.0
    assert (webhook.sent, webhook.failed, hook.attempts) == (1, 0, 1)


def test_a_failing_webhook_is_retried_a_bounded_number_of_times(hook):
    hook.status = 500
    webhook = Webhook(hook.url, timeout_s=2.0, retries=2)
    webhook.submit(webhook_payload(transition()))
    webhook.drain()
    webhook.close()
    assert (hook.attempts, webhook.sent, webhook.failed) == (3, 0, 1)


def test_a_client_error_is_not_retried(hook):
    hook.status = 400
    webhook = Webhook(hook.url, timeout_s=2.0, retries=2)
    webhook.submit(webhook_payload(transition()))
    webhook.drain()
    webhook.close()
    assert (hook.attempts, webhook.failed) == (1, 1)


def test_a_slow_webhook_times_out_and_never_holds_the_caller(hook, tmp_path):
    hook.delay_s = 1.5
    settings = settings_of(data_dir=str(tmp_path), webhook_url=hook.url, webhook_timeout_s=0.3, webhook_retries=1)
    notifier = Notifier(settings, tmp_path)
    started = time.perf_counter()
    for _ in range(3):
        notifier.notify([transition()])
    took = time.perf_counter() - started
    assert took < 0.2, f"notify waited {took:.2f} s on the webhook"
    assert notifier.webhook is not None
    notifier.webhook.drain()
    assert notifier.webhook.failed == 3 and notifier.webhook.sent == 0
    # Every attempt was cut at the timeout: 3 notifications × 2 attempts.
    assert hook.attempts == 6
    notifier.close()


def test_a_refused_connection_is_given_up_after_the_retries(hook):
    webhook = Webhook(f"http://127.0.0.1:{closed_port()}/hook", timeout_s=1.0, retries=2)
    started = time.perf_counter()
    webhook.submit(webhook_payload(transition()))
    webhook.drain()
    assert webhook.failed == 1 and time.perf_counter() - started < 2.0
    webhook.close()


def test_a_full_queue_drops_and_counts_rather_than_waits(hook):
    hook.delay_s = 0.2
    webhook = Webhook(hook.url, timeout_s=2.0, retries=0, queue_size=2)
    started = time.perf_counter()
    for _ in range(6):
        webhook.submit(webhook_payload(transition()))
    assert time.perf_counter() - started < 0.1
    assert webhook.dropped >= 3
    webhook.drain()
    assert webhook.sent + webhook.dropped == 6
    webhook.close()


def test_every_transition_is_logged_and_appended_but_only_firing_and_resolved_are_sent(hook, tmp_path, caplog):
    settings = settings_of(data_dir=str(tmp_path), webhook_url=hook.url)
    notifier = Notifier(settings, tmp_path / "monitoring")
    states = ["pending", "firing", "resolved", "inactive"]
    with caplog.at_level(logging.INFO, logger="modelship.alerts"):
        for state in states:
            notifier.notify([transition(state)])
    assert notifier.webhook is not None
    notifier.webhook.drain()
    notifier.close()
    lines = (tmp_path / "monitoring" / ALERTS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["state"] for line in lines] == states
    assert all(json.loads(line)["event"] == "alert" for line in lines)
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "modelship.alerts"]
    assert [e["state"] for e in logged] == states
    assert [r.levelname for r in caplog.records if r.name == "modelship.alerts"] == ["INFO", "WARNING", "INFO", "INFO"]
    assert [p["alert"]["state"] for p in hook.received] == ["firing", "resolved"]


def test_without_a_webhook_url_only_the_log_and_file_are_written(tmp_path: Path):
    notifier = Notifier(settings_of(data_dir=str(tmp_path)), tmp_path)
    assert notifier.webhook is None
    notifier.notify([transition()])
    assert len((tmp_path / ALERTS_FILE).read_text(encoding="utf-8").splitlines()) == 1


def test_a_webhook_url_that_is_not_http_is_refused():
    with pytest.raises(ValueError, match="webhook_url must be an http"):
        settings_of(webhook_url="file:///etc/passwd")
