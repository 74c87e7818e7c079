"""Every ingress replica on this machine listens on the service port itself (SO_REUSEPORT).

With direct ingress (RAY_SERVE_THROUGHPUT_OPTIMIZED=1) each ingress replica runs its own HTTP
server, on a port Serve's controller hands out from a range, one port per replica. Ray 2.60.0
binds that socket without SO_REUSEADDR or SO_REUSEPORT (replica.py passes
enable_so_reuseport=False to http_util.start_asgi_http_server), which has two costs here:

- two replicas cannot share the service port, so a second replica (one per core) is reachable
  only on another port and needs a balancer in front, one more hop per request;
- a replica restarted after its process died cannot bind its old port while the dead one's
  connections sit in TIME_WAIT, and moves to the next port: the service port goes dark.

`install()` runs in the replica's constructor, before Serve starts the replica's server (Serve
starts it only once the constructor has returned), and makes that server bind the service port
with SO_REUSEADDR and SO_REUSEPORT, Ray's own socket option helper. The kernel then spreads new
connections over the replicas listening there, and a replica that dies leaves the others
serving on the same port while Serve starts its successor, which binds it at once.

The same wrapper turns off the `server: uvicorn` banner of that server (clients need not know
what answers them; OWASP API8): Ray builds the server's uvicorn Config without
`server_header=False`, and the Config is only loaded once the server task first runs, after
the wrapper has returned.

The service port comes from MODELSHIP_SHARED_PORT, which the launcher exports; without it
(e.g. `serve deploy` on a cluster with a balancer of its own) nothing is changed. SO_REUSEPORT
lets only sockets of the same user join the group, so another account cannot take a share of
the connections. Pinned to Ray 2.60.0: a test starts the service with two replicas on one port.
"""
from __future__ import annotations

import os
from typing import Any

ENV = "MODELSHIP_SHARED_PORT"


def shared_port() -> int | None:
    value = os.environ.get(ENV, "").strip()
    return int(value) if value else None


def install() -> int | None:
    """Make this replica's direct-ingress HTTP server bind the shared port, without a server
    banner; the port, or None."""
    port = shared_port()
    if port is None:
        return None
    from ray.serve._private import replica

    original = replica.start_asgi_http_server
    if getattr(original, "shared_port", None) == port:
        return port

    async def start_on_shared_port(app: Any, http_options: Any, *, event_loop: Any,
                                   enable_so_reuseport: bool = False) -> Any:
        options = http_options.model_copy(update={"port": port})
        task, server = await original(app, options, event_loop=event_loop, enable_so_reuseport=True)
        server.config.server_header = False
        return task, server

    start_on_shared_port.shared_port = port  # type: ignore[attr-defined]
    replica.start_asgi_http_server = start_on_shared_port
    return port
