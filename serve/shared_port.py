"""The servers Ray starts inside the service's processes, adapted to this project's network surface.

Ray 2.60.0 exposes no setting for any of this, so it is done where the servers are built:
`install()` runs in each ingress replica's constructor (serve/app.py), before Serve starts the
replica's servers (Serve starts them only once the constructor has returned), and
`proxy_middlewares()` runs in Serve's proxy actor, before the proxy starts its server (Serve
calls it through RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH, which the launcher exports).

What each replica's direct-ingress HTTP server gets (docs/security.qmd lists what listens where):

- The service port, shared. Ray gives each replica a port of its own and binds it without
  SO_REUSEADDR or SO_REUSEPORT (replica.py passes enable_so_reuseport=False to
  http_util.start_asgi_http_server): a second replica would be reachable only on another port,
  behind a balancer, and a replica restarted after a crash could not bind its old port while the
  dead one's connections sit in TIME_WAIT. With MODELSHIP_SHARED_PORT (the launcher exports it)
  every replica binds that port with SO_REUSEADDR and SO_REUSEPORT (Ray's own helper); the
  kernel spreads new connections over them, and the survivors keep the port open while Serve
  replaces a replica that died. SO_REUSEPORT lets only sockets of the same user join the group.
- No `server: uvicorn` banner (OWASP API8): Ray builds the uvicorn Config without
  `server_header=False`; the Config is loaded only once the server task first runs, after the
  wrapper has returned, so editing it here takes effect.
- A deadline on the request head: uvicorn times out idle keep-alive connections
  (`keep_alive_timeout_s`) but not a client that trickles a request line or headers. The same
  limit applies to the head (`HeadDeadlineProtocol`), counted from the connection or from the
  request's first byte: 408 then, or a plain close if nothing was sent; a head larger than
  MAX_HEAD_BYTES is refused too (431).
- uvicorn's own 400 for a request it cannot parse, and the 408 and 431 above, are problem+json
  with the security headers, like every answer of the API.
- Forwarded headers are trusted only from the proxies in MODELSHIP_FORWARDED_ALLOW_IPS (none by
  default): uvicorn trusts X-Forwarded-For/-Proto from 127.0.0.1 unless told otherwise, and
  every local client connects from there.
- The security headers on what Serve answers itself before the app (`/-/healthz`, `/-/routes`,
  its back-pressure 503), through `EdgeHeaders` around Serve's own ASGI app.
- The replica's inter-deployment gRPC server, which Ray binds to the literal `[::]:0` (every
  interface), binds MODELSHIP_INTERNAL_GRPC_HOST instead when that is set. The launcher sets it
  to 127.0.0.1: on its one-machine cluster every caller connects to the node address, which is
  127.0.0.1. On a multi-node cluster leave it unset (other nodes call it) and keep Ray's token
  auth on; docs/security.qmd says so.

Serve's proxy gets the same server settings (banner, head deadline, 400, forwarded headers)
and, when the launcher has moved it aside (direct ingress: the replicas serve the service
port), answers every request with a 404 problem carrying the security headers, without reading
the body or forwarding anything (`ClosedDoor`): nothing needs its HTTP then. Otherwise
(`--no-throughput-optimized`, the proxy is the service) its own answers get the security
headers (`EdgeHeaders`).

Pinned to Ray 2.60.0 and uvicorn 0.54: the in-process tests run Ray's own server function with
these changes, and the live suite checks the running service's sockets and answers.
"""
from __future__ import annotations

import asyncio
import os
from http import HTTPStatus
from typing import Any

import uvicorn
from starlette.middleware import Middleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from serve.guard import NO_STORE_HEADERS, SECURITY_HEADERS, RequestIdFilter, _problem

ENV = "MODELSHIP_SHARED_PORT"
GRPC_HOST_ENV = "MODELSHIP_INTERNAL_GRPC_HOST"
FORWARDED_ENV = "MODELSHIP_FORWARDED_ALLOW_IPS"
# "closed": the proxy is not the service (direct ingress); anything else: Serve's default proxy.
PROXY_ROLE_ENV = "MODELSHIP_PROXY_ROLE"
PROXY_CALLBACK = "serve.shared_port:proxy_middlewares"
RAY_ANY_ADDRESS = "[::]:0"  # what Ray 2.60's replica binds its inter-deployment gRPC server to
MAX_HEAD_BYTES = 64 * 1024  # request line plus headers; the API's own are well under 8 KiB
MARK = "modelship_hardened"


def shared_port() -> int | None:
    value = os.environ.get(ENV, "").strip()
    return int(value) if value else None


def trusted_proxies() -> list[str]:
    """The addresses whose X-Forwarded-* headers uvicorn may believe (none unless configured)."""
    return [p.strip() for p in os.environ.get(FORWARDED_ENV, "").split(",") if p.strip()]


def _raw_problem(protocol: HttpToolsProtocol, status: int, kind: str, detail: str) -> None:
    """Answer from the protocol itself (no ASGI cycle exists yet) and close the connection."""
    headers, body = _problem(status, kind, HTTPStatus(status).phrase, detail, "")
    lines = [STATUS_LINE[status]]
    for name, value in [*protocol.server_state.default_headers, *headers, *SECURITY_HEADERS, *NO_STORE_HEADERS,
                        (b"connection", b"close")]:
        lines += [name, b": ", value, b"\r\n"]
    protocol.transport.write(b"".join([*lines, b"\r\n", body]))
    protocol.transport.close()


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on each request head, and
    problem+json for the errors it answers itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_deadline: asyncio.TimerHandle | None = None
        self.head_bytes = 0
        self.awaiting_head = False
        self.head_begun = False  # a byte of this request has arrived

    def _arm(self, begun: bool) -> None:
        self.awaiting_head, self.head_bytes, self.head_begun = True, 0, begun
        if self.head_deadline is None:
            self.head_deadline = self.loop.call_later(self.timeout_keep_alive, self._head_timed_out)

    def _disarm(self) -> None:
        self.awaiting_head = False
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        if not self.awaiting_head or self.transport.is_closing():
            return
        if not self.head_begun:  # nothing was asked: close as uvicorn closes an idle connection
            self.transport.close()
            return
        _raw_problem(self, 408, "request-timeout",
                     f"the request line and headers did not arrive within {self.timeout_keep_alive:g} s")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(begun=False)  # a connection that never sends a full head is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.awaiting_head or not self.head_begun:
            return
        # The head is still incomplete, so this read was head (but for the tail of a pipelined
        # body before it). Counted here, not in the parser's callbacks: httptools hands over a
        # header only once its value is complete, so one endless header would never be counted.
        self.head_bytes += len(data)
        if self.head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._disarm()
            _raw_problem(self, 431, "request-header-fields-too-large",
                         f"the request line and headers exceed {MAX_HEAD_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(begun=True)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        _raw_problem(self, 400, "bad-request", "the request is not valid HTTP/1.1; check the request line and headers")


class EdgeHeaders:
    """Adds the security headers to any answer that lacks them: Serve's own answers, which
    never reach the API's Guard."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in SECURITY_HEADERS if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ClosedDoor:
    """Serve's proxy when it is not the service: a 404 problem for every request, at once."""

    def __init__(self, app: Any) -> None:
        self.app = app  # kept for the middleware protocol; never called

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers, body = _problem(404, "not-found", "Not Found",
                                 "this port is internal to Ray Serve; the API is served on the service port",
                                 scope.get("path", ""))
        await send({"type": "http.response.start", "status": 404,
                    "headers": [*headers, *SECURITY_HEADERS, *NO_STORE_HEADERS, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def harden(server: Any) -> None:
    """The uvicorn settings every server of the service gets; before the server first runs."""
    harden_config(server.config)


def harden_config(config: Any) -> None:
    config.server_header = False
    config.http = HeadDeadlineProtocol
    trusted = trusted_proxies()
    config.proxy_headers = bool(trusted)
    config.forwarded_allow_ips = trusted


def _wrap_http_start(original: Any, port: int | None, app_wrapper: Any) -> Any:
    async def start(app: Any, http_options: Any, *, event_loop: Any, enable_so_reuseport: bool = False) -> Any:
        # Ray's RequestIdMiddleware echoes the client's X-Request-ID outside the app: the
        # filter goes among the server's middlewares, which Ray wraps around it.
        update: dict[str, Any] = {"middlewares": [*(http_options.middlewares or []), Middleware(RequestIdFilter)]}
        if port is not None:
            update["port"] = port
            enable_so_reuseport = True
        http_options = http_options.model_copy(update=update)
        task, server = await original(app_wrapper(app), http_options, event_loop=event_loop,
                                      enable_so_reuseport=enable_so_reuseport)
        harden(server)
        return task, server

    setattr(start, MARK, True)
    return start


def _wrap_grpc_bind(original: Any, host: str) -> Any:
    def add_port(server: Any, address: str) -> int:
        return original(server, f"{host}:0" if address == RAY_ANY_ADDRESS else address)

    setattr(add_port, MARK, True)
    return add_port


def install() -> int | None:
    """Adapt this replica's servers as the module docstring says; the shared port, or None."""
    from ray.serve._private import replica

    port = shared_port()
    if not hasattr(replica.start_asgi_http_server, MARK):
        replica.start_asgi_http_server = _wrap_http_start(replica.start_asgi_http_server, port, EdgeHeaders)
    host = os.environ.get(GRPC_HOST_ENV, "").strip()
    if host and not hasattr(replica.add_port_to_grpc_server, MARK):
        replica.add_port_to_grpc_server = _wrap_grpc_bind(replica.add_port_to_grpc_server, host)
    return port


def _in_proxy_actor() -> bool:
    import ray
    from ray.serve._private.constants import SERVE_PROXY_NAME

    if not ray.is_initialized():  # asking for the runtime context would start Ray here
        return False
    return (ray.get_runtime_context().get_actor_name() or "").startswith(SERVE_PROXY_NAME)


def proxy_middlewares() -> list[Any]:
    """Serve's HTTP callback: hardens the proxy's server and, when the proxy is not the
    service, closes it. Serve also calls it where a replica starts its server: nothing then
    (install() has done the replica's part)."""
    from starlette.middleware import Middleware

    if not _in_proxy_actor():
        return []
    from ray.serve._private import http_util

    # The proxy actor's class reaches Ray by value (it is decorated with @ray.remote), so its
    # code holds its own reference to start_asgi_http_server; what that function looks up at
    # call time is http_util's `uvicorn`, which builds the Config.
    http_util.uvicorn = HardenedUvicorn  # type: ignore[assignment]  # stands in for the module: its Config
    return [Middleware(ClosedDoor if os.environ.get(PROXY_ROLE_ENV) == "closed" else EdgeHeaders)]


class HardenedUvicorn:
    """uvicorn, as http_util uses it, with every Config it builds hardened."""

    Server = uvicorn.Server

    @staticmethod
    def Config(*args: Any, **kwargs: Any) -> uvicorn.Config:  # noqa: N802 - uvicorn's name
        config = uvicorn.Config(*args, **kwargs)
        harden_config(config)
        return config
