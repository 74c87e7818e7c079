"""serve/shared_port.py: the replicas' HTTP servers bind one port together (C9.2, C9.3).

What the module changes in Ray's replica, run on Ray's own server function in this process;
the live suite checks two real replicas on one port (tests/live/test_replicas.py).
"""

from __future__ import annotations

import pytest

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="Shared port: replica servers bind the service port together, no server banner",
        scope="integration",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]


def test_replica_servers_bind_the_shared_port_together(monkeypatch):
    """What serve/shared_port.py changes in Ray's replica, on Ray's own server function."""
    import asyncio
    import socket

    import httpx
    from ray.serve._private import replica
    from ray.serve.config import HTTPOptions

    from serve.shared_port import ENV, install

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(ENV, str(port))
    monkeypatch.setattr(replica, "start_asgi_http_server", replica.start_asgi_http_server)  # undone after
    assert install() == port and install() == port  # a second call does not wrap twice

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        loop = asyncio.get_running_loop()
        # Serve would hand each replica a port of its own (here 1 and 2): both end up on `port`.
        servers = [
            await replica.start_asgi_http_server(app, HTTPOptions(host="127.0.0.1", port=p), event_loop=loop)
            for p in (1, 2)
        ]
        while not all(server.started for _, server in servers):
            await asyncio.sleep(0.05)
        answers = [await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/", timeout=10) for _ in range(4)]
        for _, server in servers:
            server.should_exit = True
        await asyncio.gather(*(task for task, _ in servers))
        return answers

    answers = asyncio.run(main())
    assert [r.text for r in answers] == ["ok"] * 4
    assert not any("server" in r.headers for r in answers)  # no banner naming the HTTP server
