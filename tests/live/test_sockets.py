"""The service's network surface, on the running service (C9.3: OWASP API4, API8).

Every socket the service's processes listen on is in the table of docs/security.qmd ("What
listens where"), the one list of what may listen, and where; Serve's proxy refuses everything;
Serve's own answers, uvicorn's own errors and slow clients are handled as the API handles
everything else (serve/shared_port.py).
"""

from __future__ import annotations

import json
import re
import socket
import time

import httpx
import psutil
import pytest
import yaml
from api_support import ROOT, problem_of

from serve.guard import SECURITY_HEADERS
from serve.launcher import PROXY_PORT_OFFSET
from tests.serve.test_server_surface import head_and_body, is_loopback, read_all

pytestmark = [
    pytest.mark.requirement("C9.3"),
    pytest.mark.catalogue(
        part="Service: listening sockets, Serve's proxy, slow clients (live)",
        scope="system",
        strategy="inspection, attack",
        tool="pytest, psutil, raw sockets, live Ray Serve",
    ),
]

SECURITY = {k.decode() for k, _ in SECURITY_HEADERS}
LISTENERS_DOC = ROOT / "docs" / "security.qmd"
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|[^|]*\|\s*(loopback|all interfaces)\s*\|")


def documented_listeners() -> list[tuple[str, str]]:
    """(command-line fragment, bind) for each row of the table between the listeners markers."""
    text = LISTENERS_DOC.read_text(encoding="utf-8")
    block = text.split("<!-- listeners -->", 1)[1].split("<!-- /listeners -->", 1)[0]
    rows = [m.groups() for m in map(ROW.match, block.splitlines()) if m]
    assert rows, f"no listener rows found in {LISTENERS_DOC}"
    return rows


def port_of(served) -> int:
    return int(served.base_url.rsplit(":", 1)[1])


def raw_exchange(port: int, data: bytes, timeout_s: float = 15) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        s.sendall(data)
        return read_all(s, timeout_s)


def test_every_listening_socket_is_documented_and_none_but_the_documented_leave_loopback(served):
    rows = documented_listeners()
    undocumented, exposed = [], []
    for proc in served.ray_processes():
        try:
            listening = [c.laddr for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
            cmdline = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            continue
        if not listening:
            continue
        row = next((r for r in rows if r[0] in cmdline), None)
        if row is None:
            undocumented.append((cmdline[:120], listening))
            continue
        exposed += [(row[0], a) for a in listening if not is_loopback(a.ip) and row[1] != "all interfaces"]
    assert undocumented == [], f"listening processes missing from {LISTENERS_DOC.name}: {undocumented}"
    assert exposed == [], f"non-loopback listeners not documented as required: {exposed}"


def listening_of(pid: int) -> list:
    return [c.laddr for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]


def test_the_replicas_inter_deployment_grpc_server_is_on_loopback(served):
    # Ray 2.60 binds it to [::]:0; a started replica listens on the service port, Ray's core
    # worker port and this one: all three on loopback (serve/shared_port.py). The service is
    # ready once one replica answers; the other may still be loading its model.
    port, deadline = port_of(served), time.monotonic() + 120
    while True:
        replicas = {pid: listening_of(pid) for pid in served.replica_pids("Ingress")}
        started = {pid: ls for pid, ls in replicas.items() if any(a.port == port for a in ls)}
        if replicas and len(started) == len(replicas) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert started and len(started) == len(replicas), replicas
    for listening in started.values():
        assert len(listening) >= 3 and all(is_loopback(a.ip) for a in listening), listening


def test_serves_proxy_answers_every_request_with_a_404_problem_and_the_security_headers(served):
    proxy = f"http://127.0.0.1:{port_of(served) + PROXY_PORT_OFFSET}"
    for method, path in [("GET", "/-/routes"), ("GET", "/-/healthz"), ("GET", "/v1/model"), ("POST", "/v1/predict")]:
        r = httpx.request(method, proxy + path, timeout=15)
        problem_of(r, 404)
        assert SECURITY <= set(r.headers) and "server" not in r.headers, (path, r.headers)


def test_serves_proxy_answers_a_chunked_upload_before_reading_its_body(served):
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port_of(served) + PROXY_PORT_OFFSET), timeout=15) as s:
        s.sendall(head)  # not one byte of body: the answer must not wait for it
        raw, _ = read_all(s, 15)
    status, headers, _ = head_and_body(raw)
    assert status == 404 and headers.get("connection") == "close" and SECURITY <= set(headers)


@pytest.mark.parametrize("path", ["/-/routes", "/-/healthz"])
def test_serves_built_in_routes_on_the_service_port_carry_the_security_headers(served, path):
    r = httpx.get(served.base_url + path, timeout=15)
    assert r.status_code == 200
    assert SECURITY <= set(r.headers) and "server" not in r.headers, r.headers


def test_a_malformed_request_line_on_the_service_port_is_a_400_problem_with_the_security_headers(served):
    raw, _ = raw_exchange(port_of(served), b"BROKEN\x01 / HTTP/1.1\r\n\r\n")
    status, headers, body = head_and_body(raw)
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert SECURITY <= set(headers) and "server" not in headers
    assert json.loads(body)["type"].endswith("/bad-request")


def test_clients_that_stall_mid_request_line_are_closed_within_the_head_timeout(served):
    config = yaml.safe_load(served.config_path.read_text(encoding="utf-8"))
    timeout_s = config["http_options"]["keep_alive_timeout_s"]
    socks = [socket.create_connection(("127.0.0.1", port_of(served)), timeout=timeout_s + 10) for _ in range(4)]
    try:
        for s in socks:
            s.sendall(b"GET /v1/mo")
        sent = time.monotonic()
        answers = [read_all(s, timeout_s + 10)[0] for s in socks]
        waited = time.monotonic() - sent
    finally:
        for s in socks:
            s.close()
    assert timeout_s - 1 < waited < timeout_s + 5
    assert all(head_and_body(raw)[0] == 408 for raw in answers)


def test_forwarded_headers_from_a_local_client_do_not_make_the_service_believe_https(served):
    spoof = {"Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    r = httpx.get(served.base_url + "/v1/model/", headers=spoof, timeout=15)
    if r.is_redirect:  # the app may redirect a trailing slash; it must not be told the scheme is https
        assert not r.headers["location"].startswith("https://"), r.headers["location"]
    else:
        problem_of(r, 404)


def test_an_unsafe_request_id_is_not_echoed_and_a_safe_one_is(served):
    """Ray echoes X-Request-ID outside the app; the filter in the replica's server drops unsafe ids."""
    unsafe = httpx.get(served.base_url + "/health/live", headers={"X-Request-ID": "<script>alert(1)</script>"})
    echoed = unsafe.headers.get("x-request-id", "")
    assert "<" not in echoed and "script" not in echoed
    safe = httpx.get(served.base_url + "/health/live", headers={"X-Request-ID": "trace-42.a_b"})
    assert safe.headers.get("x-request-id") == "trace-42.a_b"
