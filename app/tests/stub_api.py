"""A small HTTP server that behaves as the model's API documents (tokens, rotation, reuse, the
operations the app calls), for the client's unit tests: a real server on 127.0.0.1 in a thread,
so the client's real transport, timeouts and refused connections are exercised, not a mock.

It records every request it receives, so tests/test_model_api_contract.py can check each one
against the published OpenAPI document. The integration tests of the repository around the app
run the same client against the real service."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

CLIENT_ID = "pathlab-test"
SECRET = "stub-secret-" + "x" * 20


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    body: Any  # the parsed JSON or form, or None


@dataclass
class Injected:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class StubState:
    expires_in: int = 900
    delay_s: float = 0.0
    access: set[str] = field(default_factory=set)
    refresh: dict[str, str] = field(default_factory=dict)  # token -> family
    used_refresh: dict[str, str] = field(default_factory=dict)
    revoked_families: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    inject: dict[str, list[Injected]] = field(default_factory=dict)  # path -> answers to give first
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    feedback: dict[str, str] = field(default_factory=dict)
    max_records: int = 3  # the stub's documented cap (maxItems of POST /v1/predict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str, **form: str) -> int:
        return sum(
            1
            for r in self.requests
            if r.path == path and all(isinstance(r.body, dict) and r.body.get(k) == v for k, v in form.items())
        )

    def drop_access_tokens(self) -> None:
        """As an operator's `rotate-keys --drop-previous` does to access tokens."""
        with self.lock:
            self.access.clear()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        media = "application/json" if status < 400 else "application/problem+json"
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, status: int, detail: str, **extra: Any) -> None:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else {}
        self._answer(
            status, {"type": "about:blank", "title": "Error", "status": status, "detail": detail, **extra}, headers
        )

    def _handle(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        body: Any = None
        if raw and content_type == "application/json":
            body = json.loads(raw)
        elif raw and content_type == "application/x-www-form-urlencoded":
            body = dict(parse_qsl(raw.decode()))
        with state.lock:
            state.requests.append(Recorded(method, self.path, content_type, body))
            injected = state.inject.get(self.path)
            answer = injected.pop(0) if injected else None
        if state.delay_s:
            time.sleep(state.delay_s)
        if answer is not None:
            self._answer(answer.status, answer.body or {"status": answer.status, "detail": "injected"}, answer.headers)
            return
        route = {
            ("POST", "/v1/auth/token"): self._token,
            ("POST", "/v1/auth/refresh"): self._refresh,
            ("POST", "/v1/auth/revoke"): self._revoke,
            ("POST", "/v1/predict"): self._predict,
            ("POST", "/v1/feedback"): self._feedback,
            ("GET", "/v1/model"): self._model,
            ("GET", "/openapi.json"): self._openapi,
        }.get((method, self.path))
        if route is None:
            self._problem(404, "no such route")
            return
        if self.path.startswith("/v1/") and not self.path.startswith("/v1/auth/"):
            auth = self.headers.get("Authorization", "")
            with state.lock:
                known = auth.startswith("Bearer ") and auth[7:] in state.access
            if not known:
                self._problem(401, "invalid token", error="invalid_token")
                return
        route(body or {})

    def _pair(self, family: str) -> dict[str, Any]:
        state = self.server.state
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        with state.lock:
            state.access.add(access)
            state.refresh[refresh] = family
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": state.expires_in,
            "refresh_token": refresh,
            "scope": "predict feedback",
        }

    def _token(self, form: dict[str, str]) -> None:
        if form.get("grant_type") != "client_credentials":
            self._problem(400, "unsupported grant", error="unsupported_grant_type")
        elif form.get("client_id") != CLIENT_ID or form.get("client_secret") != SECRET:
            self._problem(401, "wrong credentials", error="invalid_client")
        else:
            self._answer(200, self._pair(secrets.token_hex(4)))

    def _refresh(self, form: dict[str, str]) -> None:
        state = self.server.state
        token = form.get("refresh_token", "")
        with state.lock:
            family = state.refresh.pop(token, None)
            if family is None and token in state.used_refresh:
                # reuse: the whole family ends (docs/auth.qmd, "Reuse is treated as theft")
                state.revoked_families.add(state.used_refresh[token])
                for t, f in list(state.refresh.items()):
                    if f == state.used_refresh[token]:
                        del state.refresh[t]
            if family is not None:
                state.used_refresh[token] = family
            ok = family is not None and family not in state.revoked_families
        if not ok:
            self._problem(400, "refresh token used, revoked or unknown", error="invalid_grant")
        else:
            assert family is not None
            self._answer(200, self._pair(family))

    def _revoke(self, form: dict[str, str]) -> None:
        state = self.server.state
        with state.lock:
            family = state.refresh.get(form.get("token", ""))
            if family:
                state.revoked_families.add(family)
        self._answer(200, {"status": "ok"})

    def _openapi(self, body: dict[str, Any]) -> None:
        """The part of the API's document the client reads: the records limit of POST /v1/predict."""
        records = {"type": "array", "minItems": 1, "maxItems": self.server.state.max_records}
        request = {"properties": {"records": records}}
        self._answer(
            200,
            {
                "openapi": "3.1.0",
                "paths": {
                    "/v1/predict": {
                        "post": {
                            "requestBody": {
                                "content": {
                                    "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
                                }
                            }
                        }
                    }
                },
                "components": {"schemas": {"PredictRequest": request}},
            },
        )

    def _predict(self, body: dict[str, Any]) -> None:
        records = body.get("records") or []
        if len(records) > self.server.state.max_records:
            self._problem(422, "too many records", invalid_params=[{"name": "records", "reason": "too long"}])
            return
        bad = [i for i, r in enumerate(records) if any(not isinstance(v, int | float) for v in r.values())]
        if not records or bad:
            self._problem(
                422, "bad records", invalid_params=[{"name": f"records.{bad[0] if bad else 0}", "reason": "bad"}]
            )
            return
        predictions = []
        for record in records:
            probability = min(1.0, max(0.0, float(record.get("mean_radius", 0)) / 30))
            pid = secrets.token_hex(16)
            prediction: dict[str, Any] = {
                "prediction_id": pid,
                "label": "malignant" if probability >= 0.3 else "benign",
                "probability": probability,
                "threshold": 0.3,
                "model_version": "v0007",
            }
            self.server.state.predictions[pid] = prediction
            predictions.append(prediction)
        self._answer(
            200,
            {
                "model_version": "v0007",
                "positive_label": "malignant",
                "predictions": predictions,
                "notice": "Decision support only: this prediction supports, and does not replace, the diagnosis "
                "of a pathologist.",
            },
        )

    def _feedback(self, body: dict[str, Any]) -> None:
        state = self.server.state
        pid, label = body.get("prediction_id", ""), body.get("label", "")
        if pid not in state.predictions:
            self._problem(404, "unknown prediction")
        elif pid in state.feedback:
            self._problem(409, "feedback already recorded")
        else:
            state.feedback[pid] = label
            self._answer(201, {"prediction_id": pid, "label": label, "recorded_at": "2026-12-02T08:00:00+00:00"})

    def _model(self, body: dict[str, Any]) -> None:
        self._answer(
            200,
            {
                "version": "v0007",
                "created_at": "2026-11-30T10:00:00+00:00",
                "threshold": 0.3,
                "positive_label": "malignant",
                "negative_label": "benign",
                "metrics": {"roc_auc": 0.99, "recall": 0.98, "precision": 0.9, "f1": 0.94, "brier": 0.03},
                "data_sha256": "0" * 64,
                "model_sha256": "1" * 64,
                "features": ["mean_radius"],
                "contract": {"name": "wdbc", "version": 1},
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StubState


@dataclass
class Stub:
    url: str
    state: StubState


@contextmanager
def stub_api(**state: Any) -> Iterator[Stub]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = StubState(**state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stub(f"http://127.0.0.1:{server.server_address[1]}", server.state)
    finally:
        server.shutdown()
        server.server_close()
