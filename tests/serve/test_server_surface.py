"""What serve/shared_port.py changes in Ray's servers, on Ray's and uvicorn's own code, in process
(C9.3: OWASP API4 resource consumption, API8 misconfiguration). The live suite checks the running
service the same way (tests/live/test_sockets.py); these tests need no Ray cluster.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psutil
import pytest

from serve import shared_port
from serve.guard import SECURITY_HEADERS

pytestmark = [
    pytest.mark.requirement("C9.3"),
    pytest.mark.catalogue(
        part="Service: replica server hardening (serve/shared_port.py, launcher)",
        scope="unit",
        strategy="example-based, attack",
        tool="pytest, uvicorn, Ray's server functions",
    ),
]

SECURITY = {k.decode() for k, _ in SECURITY_HEADERS}


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def echo(scope, receive, send):
    """What the server hands the app: the scheme and client it believes."""
    body = json.dumps({"scheme": scope["scheme"], "client": scope["client"][0]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def replica_server(monkeypatch, *, keep_alive_s: float = 5, trusted: str = "") -> Iterator[int]:
    """Ray's replica server function with install() applied, serving `echo` on a free port."""
    import threading

    from ray.serve._private import replica
    from ray.serve.config import HTTPOptions

    port = free_port()
    monkeypatch.setenv(shared_port.ENV, str(port))
    monkeypatch.setenv(shared_port.FORWARDED_ENV, trusted)
    monkeypatch.setattr(replica, "start_asgi_http_server", replica.start_asgi_http_server)  # undone after
    shared_port.install()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    async def main():
        options = HTTPOptions(host="127.0.0.1", port=1, keep_alive_timeout_s=keep_alive_s)
        task, server = await replica.start_asgi_http_server(echo, options, event_loop=loop)
        holder["server"] = server
        while not server.started:
            await asyncio.sleep(0.02)
        started.set()
        await task

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(20), "the replica server did not start"
    try:
        yield port
    finally:
        holder["server"].should_exit = True
        thread.join(10)
        loop.close()


def read_all(sock: socket.socket, timeout_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    sock.settimeout(timeout_s)
    start, data = time.monotonic(), b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


def head_and_body(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def test_a_malformed_request_line_gets_a_problem_document_with_the_security_headers(monkeypatch):
    with replica_server(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"NOT A REQUEST\r\n\r\n")
        status, headers, body = head_and_body(read_all(s, 10)[0])
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert SECURITY <= set(headers) and "server" not in headers
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["type"].endswith("/bad-request")


def test_a_half_sent_request_line_is_closed_after_the_head_timeout(monkeypatch):
    with replica_server(monkeypatch, keep_alive_s=1) as port:
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        for s in socks:
            s.sendall(b"GET /v1/mod")
        sent = time.monotonic()
        answers = [read_all(s, 6)[0] for s in socks]
        closed_after = time.monotonic() - sent
        for s in socks:
            s.close()
    assert 0.8 < closed_after < 4  # the timeout is 1 s: not at once, and not much later
    for raw in answers:
        status, headers, _ = head_and_body(raw)
        assert status == 408 and headers["connection"] == "close" and SECURITY <= set(headers)


def test_headers_trickled_byte_by_byte_do_not_keep_a_connection_open(monkeypatch):
    with replica_server(monkeypatch, keep_alive_s=1) as port, socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        start, closed = time.monotonic(), False
        while time.monotonic() - start < 6:
            try:
                s.sendall(b"X")  # every byte would reset uvicorn's keep-alive timer
            except OSError:
                closed = True
                break
            time.sleep(0.2)
    assert closed and time.monotonic() - start < 4


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(monkeypatch):
    with replica_server(monkeypatch, keep_alive_s=1) as port, socket.create_connection(("127.0.0.1", port)) as s:
        raw, waited = read_all(s, 6)
    assert raw == b"" and 0.8 < waited < 4  # closed without an answer to a request never made


def test_a_complete_request_is_still_answered_and_kept_alive(monkeypatch):
    with replica_server(monkeypatch, keep_alive_s=1) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        first = c.get("/")
        second = c.get("/")  # the same connection, within the keep-alive timeout
    assert first.status_code == second.status_code == 200
    assert "server" not in first.headers


def test_a_request_head_over_the_cap_is_refused_with_431(monkeypatch):
    with replica_server(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        try:
            for _ in range(shared_port.MAX_HEAD_BYTES // len(filler) + 10):
                s.sendall(filler)
        except OSError:
            pass  # the server may close before the last ones are sent
        status, headers, _ = head_and_body(read_all(s, 10)[0])
    assert status == 431 and SECURITY <= set(headers)


def test_one_endless_header_value_is_refused_with_431_too(monkeypatch):
    with replica_server(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ")
        try:
            for _ in range(shared_port.MAX_HEAD_BYTES // 4096 + 10):
                s.sendall(b"a" * 4096)
                time.sleep(0.001)  # separate reads, as a client trickling it would cause
        except OSError:
            pass
        status, headers, _ = head_and_body(read_all(s, 10)[0])
    assert status == 431 and SECURITY <= set(headers)


def test_forwarded_headers_from_an_untrusted_peer_change_neither_scheme_nor_client(monkeypatch):
    spoof = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with replica_server(monkeypatch) as port:
        seen = httpx.get(f"http://127.0.0.1:{port}/", headers=spoof, timeout=10).json()
    assert seen == {"scheme": "http", "client": "127.0.0.1"}


def test_forwarded_headers_are_believed_from_a_configured_proxy(monkeypatch):
    spoof = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with replica_server(monkeypatch, trusted="127.0.0.1") as port:
        seen = httpx.get(f"http://127.0.0.1:{port}/", headers=spoof, timeout=10).json()
    assert seen == {"scheme": "https", "client": "203.0.113.9"}


def test_serves_own_answers_get_the_security_headers_from_the_edge_wrapper():
    async def plain(scope, receive, send):  # as Serve answers /-/healthz: no headers of ours
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"success"})

    transport = httpx.ASGITransport(app=shared_port.EdgeHeaders(plain))

    async def main():
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/-/healthz")

    r = asyncio.run(main())
    assert r.text == "success" and SECURITY <= set(r.headers)


def test_the_closed_proxy_answers_404_without_reading_the_body():
    transport = httpx.ASGITransport(app=shared_port.ClosedDoor(app=None))
    received = []

    async def body():
        for _ in range(3):
            received.append(1)
            yield b"x" * 1024

    async def main():
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/v1/predict", content=body())

    r = asyncio.run(main())
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert SECURITY <= set(r.headers) and r.json()["type"].endswith("/not-found")
    assert len(received) <= 1  # httpx may hand over the first chunk; the door never asks for more


def test_the_inter_deployment_grpc_server_binds_the_configured_host_not_every_interface(monkeypatch):
    import grpc
    from ray.serve._private import replica

    monkeypatch.setenv(shared_port.GRPC_HOST_ENV, "127.0.0.1")
    monkeypatch.delenv(shared_port.ENV, raising=False)
    monkeypatch.setattr(replica, "start_asgi_http_server", replica.start_asgi_http_server)
    monkeypatch.setattr(replica, "add_port_to_grpc_server", replica.add_port_to_grpc_server)
    shared_port.install()
    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(1))
    port = replica.add_port_to_grpc_server(server, shared_port.RAY_ANY_ADDRESS)  # what replica.py passes
    server.start()
    try:
        binds = {
            c.laddr.ip
            for c in psutil.Process().net_connections("inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
    finally:
        server.stop(None)
    assert binds and all(is_loopback(ip) for ip in binds), binds  # gRPC may report it IPv4-mapped


def test_without_a_configured_host_the_grpc_bind_is_left_to_ray(monkeypatch):
    from ray.serve._private import replica

    monkeypatch.delenv(shared_port.GRPC_HOST_ENV, raising=False)
    original = replica.add_port_to_grpc_server
    monkeypatch.setattr(replica, "start_asgi_http_server", replica.start_asgi_http_server)
    monkeypatch.setattr(replica, "add_port_to_grpc_server", original)
    shared_port.install()
    assert replica.add_port_to_grpc_server is original  # a cluster keeps Ray's bind (docs/security.qmd)


def test_the_proxy_callback_adds_nothing_outside_serves_proxy_actor():
    assert shared_port.proxy_middlewares() == []  # e.g. where a replica starts its server


@pytest.mark.parametrize("role", ["closed", "serve"])
def test_in_serves_proxy_actor_the_callback_hardens_the_server_ray_builds(monkeypatch, role):
    """Ray's own http_util.start_asgi_http_server, as the proxy actor calls it after the callback."""
    from ray.serve._private import http_util
    from ray.serve.config import HTTPOptions

    monkeypatch.setattr(shared_port, "_in_proxy_actor", lambda: True)  # what Ray's runtime context says there
    monkeypatch.setattr(http_util, "uvicorn", http_util.uvicorn)  # undone after
    monkeypatch.setenv(shared_port.PROXY_ROLE_ENV, role)
    middlewares = shared_port.proxy_middlewares()
    options = HTTPOptions(host="127.0.0.1", port=free_port())
    object.__setattr__(options, "middlewares", middlewares)  # as configure_http_middlewares leaves them

    async def main():
        loop = asyncio.get_running_loop()
        task, server = await http_util.start_asgi_http_server(echo, options, event_loop=loop)
        while not server.started:
            await asyncio.sleep(0.02)
        r = await asyncio.to_thread(
            httpx.get, f"http://127.0.0.1:{options.port}/-/routes", headers={"X-Forwarded-Proto": "https"}, timeout=10
        )
        server.should_exit = True
        await task
        return r

    r = asyncio.run(main())
    assert "server" not in r.headers and SECURITY <= set(r.headers)
    if role == "closed":
        assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
    else:  # Serve's own proxy: it forwards (here, to echo), without believing the forwarded scheme
        assert r.status_code == 200 and r.json()["scheme"] == "http"


@pytest.mark.parametrize("throughput_optimized, role", [(True, "closed"), (False, "serve")])
def test_the_launcher_closes_serves_proxy_only_when_the_replicas_serve_the_port(
    tmp_path, monkeypatch, throughput_optimized, role
):
    import os

    from serve.launcher import prepare_environment

    for name in ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"):
        monkeypatch.delenv(name, raising=False)
    saved = dict(os.environ)
    try:
        env = prepare_environment(
            tmp_path, tmp_path / "ray", throughput_optimized=throughput_optimized, service_port=18123
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert env[shared_port.PROXY_ROLE_ENV] == role
    assert env["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"] == shared_port.PROXY_CALLBACK
    assert env[shared_port.GRPC_HOST_ENV] == "127.0.0.1"
