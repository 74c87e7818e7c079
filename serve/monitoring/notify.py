"""Where alert transitions go: a structured log line, an append-only file, an HTTP webhook.

The collector calls `Notifier.notify` at a window close with that close's transitions
(modelship/monitoring/alerts.py); it returns at once. The log line and the file line are written
in the caller's thread (a line each, local); the webhook is posted from a thread of its own,
through a bounded queue: a slow endpoint costs that thread at most
(1 + webhook_retries) × webhook_timeout_s per notification plus the pauses between attempts,
and when the queue is full the notification is dropped and counted, never waited for.

The webhook gets the states a person acts on, firing and resolved; the log and the file get
every transition (pending, and a pending alert going back to inactive, too).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from modelship.monitoring.alerts import FIRING, RESOLVED
from serve.settings import Settings

log = logging.getLogger("modelship.alerts")
ALERTS_FILE = "alerts.jsonl"
WEBHOOK_STATES = (FIRING, RESOLVED)
QUEUE_SIZE = 100
# Pause before retry n (seconds): short, so a burst of failures cannot pile up behind it.
BACKOFF_S = (0.5, 1.0, 2.0)


def event_line(transition: dict[str, Any]) -> str:
    """The structured log line of a transition: one JSON object, keys in a fixed order."""
    return json.dumps({"event": "alert", **transition}, sort_keys=False)


def webhook_payload(transition: dict[str, Any]) -> dict[str, Any]:
    """Slack- and Teams-compatible (`text` is what they show) with the alert's fields beside it."""
    t = transition
    text = (
        f"[{t['state'].upper()}] {t['rule']} ({t['severity']}): {t['summary']}."
        f" Window {t['window']}. Runbook: {t['runbook']}"
    )
    return {"text": text, "alert": t}


class Webhook:
    """Posts payloads from its own thread: timeout per attempt, bounded retries, bounded queue."""

    def __init__(self, url: str, timeout_s: float, retries: int, queue_size: int = QUEUE_SIZE) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self.sent = 0
        self.failed = 0  # gave up after every attempt
        self.dropped = 0  # the queue was full
        self._thread = threading.Thread(target=self._run, name="alerts-webhook", daemon=True)
        self._thread.start()

    def submit(self, payload: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.dropped += 1
            log.warning("alert webhook queue full: notification dropped (%d so far)", self.dropped)

    def _run(self) -> None:
        while (payload := self._queue.get()) is not None:
            try:
                self._deliver(payload)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])
            request = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                self.sent += 1
                return
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code != 429:  # the request itself is wrong: no retry
                    break
            except (OSError, ValueError) as exc:  # refused, timed out, reset
                reason = type(exc).__name__
            log.warning("alert webhook attempt %d/%d failed: %s", attempt + 1, self.retries + 1, reason)
        self.failed += 1
        log.error("alert webhook gave up on %s (%s)", payload.get("alert", {}).get("rule"), reason)

    def drain(self) -> None:
        """Wait until the queued notifications are delivered or given up (tests, shutdown)."""
        self._queue.join()

    def close(self, timeout_s: float = 5.0) -> None:
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout=timeout_s)


class Notifier:
    def __init__(self, settings: Settings, folder: Path) -> None:
        cfg = settings.monitoring
        self.file = folder / ALERTS_FILE
        self.webhook = Webhook(cfg.webhook_url, cfg.webhook_timeout_s, cfg.webhook_retries) if cfg.webhook_url else None

    def notify(self, transitions: list[dict[str, Any]]) -> None:
        for t in transitions:
            line = event_line(t)
            (log.warning if t["state"] == FIRING else log.info)(line)
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                # One write of one line in append mode: lines of two writers never interleave.
                with self.file.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError as exc:  # a full disk must not lose the webhook too
                log.error("cannot append to %s: %s", self.file, exc)
            if self.webhook is not None and t["state"] in WEBHOOK_STATES:
                self.webhook.submit(webhook_payload(t))

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()
