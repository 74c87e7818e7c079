"""ASGI middleware in front of every route: body size limit, identity coding only, security
headers, CORS allowlist; and the filter of client request ids (RequestIdFilter).

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a copy per
request on the hot path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from serve.auth import NO_STORE
from serve.problems import PROBLEM_JSON, ProblemHook, problem_body, route_of

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # The API serves JSON only: nothing may be loaded from, or framed into, a page.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]
# Tokens, predictions and model data must not sit in shared or browser caches.
NO_STORE_HEADERS = [(k.lower().encode(), v.encode()) for k, v in NO_STORE.items()]
CORS_METHODS = b"GET, POST"
CORS_HEADERS = b"authorization, content-type"


def _problem(status: int, kind: str, title: str, detail: str, path: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = problem_body(status, kind, detail, path, title=title)
    return [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())], body


# Told of every answered request: (route template, status, seconds to the end of the answer).
RequestHook = Callable[[str, int, float], None]


class Guard:
    def __init__(
        self,
        app: Any,
        max_body_bytes: int,
        cors_origins: list[str],
        on_request: RequestHook | None = None,
        on_problem: ProblemHook | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.origins = {o.encode() for o in cors_origins}
        self.on_request = on_request
        self.on_problem = on_problem

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.on_request is None:
            await self._guard(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._guard(scope, receive, send_observed)
        finally:
            if status:  # 0: the client left before an answer
                self.on_request(route_of(scope), status, time.perf_counter() - started)

    async def _guard(self, scope: Scope, receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin")
        allowed_origin = origin if origin is not None and origin in self.origins else None
        extra = list(SECURITY_HEADERS)
        if path.startswith("/v1/"):
            extra += NO_STORE_HEADERS
        if allowed_origin is not None:
            extra += [(b"access-control-allow-origin", allowed_origin), (b"vary", b"Origin")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [(k, v) for k, v in extra if k not in present]
            await send(message)

        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await self._preflight(scope, send_with_headers, allowed_origin is not None)
            return

        coding = headers.get(b"content-encoding", b"identity").strip().lower()
        if coding not in (b"", b"identity"):
            await self._unsupported_coding(path, send_with_headers)
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._too_large(path, send_with_headers)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            # Read the body here, bounded, so a chunked upload cannot exceed the limit either.
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    await self._too_large(path, send_with_headers)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _told(self, status: int, kind: str) -> None:
        if self.on_problem is not None:
            self.on_problem("other", status, kind, None)

    async def _too_large(self, path: str, send: Any) -> None:
        self._told(413, "payload-too-large")
        headers, body = _problem(
            413,
            "payload-too-large",
            "Content Too Large",
            f"the request body exceeds {self.max_body} bytes; send fewer records per request",
            path,
        )
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _unsupported_coding(self, path: str, send: Any) -> None:
        # A compressed body would be decoded past the size limit (a zip bomb) or read as garbage.
        self._told(415, "unsupported-media-type")
        headers, body = _problem(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            "the API takes uncompressed bodies only: send it without Content-Encoding",
            path,
        )
        await send({"type": "http.response.start", "status": 415, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _preflight(self, scope: Scope, send: Any, allowed: bool) -> None:
        if not allowed:
            headers, body = _problem(
                403,
                "cors-origin-refused",
                "Forbidden",
                "this origin is not allowed to call the API from a browser",
                scope.get("path", ""),
            )
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-methods", CORS_METHODS),
                    (b"access-control-allow-headers", CORS_HEADERS),
                    (b"access-control-max-age", b"600"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


# What a request id may be: short, and nothing a log viewer or a page could take for markup.
SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
REQUEST_ID = b"x-request-id"


def safe_request_id(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers without a client's X-Request-ID that is not a short token of safe characters."""
    return [(k, v) for k, v in headers if k.lower() != REQUEST_ID or SAFE_REQUEST_ID.fullmatch(v)]


class RequestIdFilter:
    """Drops an unsafe X-Request-ID before the server that echoes it sees it.

    Ray Serve's RequestIdMiddleware, outside the app, echoes the client's id in the answer, or
    makes one up when there is none; so this must wrap that middleware (be passed as one of
    the HTTP server's middlewares), not sit in the app where the echo is already decided."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = scope.get("headers") or []
            kept = safe_request_id(list(headers))
            if len(kept) != len(headers):
                scope = {**scope, "headers": kept}
        await self.app(scope, receive, send)
