"""A local webhook receiver for the monitoring sandbox: it records every JSON body POSTed to it.

It stands in for a Slack or Teams incoming webhook on 127.0.0.1, so that the sandbox can check
what the alert sink sent (serve/monitoring/notify.py) without any network beyond the machine.
It answers 200 to a JSON body and 400 to anything else, as those services do.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY_BYTES = 1 << 20


class WebhookReceiver:
    """Started on a free loopback port; `url` is what the service's monitoring.webhook_url takes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server name)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    if not 0 < length <= MAX_BODY_BYTES:
                        raise ValueError("empty or too large")
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver._record(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the sandbox prints what it received, not one line per request

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}/hook"

    def _record(self, body: Any) -> None:
        with self._lock:
            self._received.append({"received_at": time.time(), **(body if isinstance(body, dict) else {"body": body})})

    def received(self) -> list[dict[str, Any]]:
        """Every body received so far, oldest first, each with the time it arrived."""
        with self._lock:
            return list(self._received)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
