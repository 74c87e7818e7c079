"""Start a local Ray cluster the project's way and run the Serve config on it.

`python -m serve run` (what `make serve` calls) does what `serve run serve/config.yaml` does,
plus the environment this project needs:

- Ray's processes get HOME = var/ray/home, which holds `ray_bootstrap_config.yaml`. Without
  that file, Ray 2.60's dashboard probes cloud metadata addresses (169.254.169.254,
  metadata.google.internal) when it starts, whatever RAY_USAGE_STATS_ENABLED says
  (ray/_common/usage/usage_lib.py, get_cluster_config_to_report). Its presence makes Ray
  read the file instead, so the machine sends nothing outside. Ray's own auth token is kept
  there too (var/ray/home/.ray/auth_token).
- RAY_USAGE_STATS_ENABLED=0; RAY_AUTH_MODE=token (Ray 2.60 turns its token auth on by
  default; we say so explicitly, and the Serve CLI needs it with --address).
- RAY_SERVE_THROUGHPUT_OPTIMIZED=1 unless set: Serve's direct ingress and gRPC between
  replicas. Direct ingress alone does not take Serve's proxy off `http_options.port`: the
  proxy keeps that port and forwards to the ingress replica, which listens on a port of its
  own (30000-31000 by default), the slower path (docs/performance.qmd). So the launcher gives
  the ingress replica the configured port itself (RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT =
  port, ..._MAX_HTTP_PORT = port + 9, the ports Serve's controller books for the replicas)
  and moves Serve's proxy to port + 10 on 127.0.0.1, where it answers every request with a
  404 problem (MODELSHIP_PROXY_ROLE=closed). MODELSHIP_SHARED_PORT = port makes every
  ingress replica listen on that same port (serve/shared_port.py).
- Every server Ray starts for Serve is adapted by serve/shared_port.py: the proxy through
  RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH, the ingress replicas from their constructor;
  MODELSHIP_INTERNAL_GRPC_HOST=127.0.0.1 keeps the replicas' inter-deployment gRPC server,
  which Ray binds to every interface, on loopback. docs/security.qmd lists what listens where.
- The dashboard, if enabled, binds 127.0.0.1; Ray's node address is 127.0.0.1, and Ray is
  kept from probing a public address to find its own (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0).

Ctrl-C (SIGINT) or SIGTERM shuts Serve down, then the Ray processes this command started.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from serve.shared_port import ENV as SHARED_PORT_ENV
from serve.shared_port import GRPC_HOST_ENV, PROXY_CALLBACK, PROXY_ROLE_ENV

BOOTSTRAP_NOTE = """\
# Written by serve/launcher.py. Ray reads this file at start instead of probing cloud
# metadata endpoints to guess where it runs (a local machine: nothing to report).
cluster_name: modelship-local
"""


# Serve's proxy moves this far above the configured port when the ingress replica takes it;
# the ports in between are spares for direct ingress (see the module docstring).
PROXY_PORT_OFFSET = 10


def prepare_environment(root: Path, ray_dir: Path, throughput_optimized: bool = True,
                        service_port: int | None = None) -> dict[str, str]:
    """The environment variables Ray's processes must start with; also applied to os.environ.

    With `service_port` (and throughput-optimized on), direct ingress hands the ingress
    replica that port (the lowest of its range) instead of one from 30000-31000."""
    home = ray_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    bootstrap = home / "ray_bootstrap_config.yaml"
    if not bootstrap.exists():
        bootstrap.write_text(BOOTSTRAP_NOTE, encoding="utf-8")
    env = {
        "HOME": str(home),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"),
        "MODELSHIP_ROOT": str(root),
        "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p),
    }
    # Direct ingress drains an ingress replica for 30 s by default before stopping it, so that
    # a load balancer stops sending it traffic; with none in front, Ctrl-C would hang that long.
    env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = os.environ.get(
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")
    # A one-machine cluster on loopback. Ray otherwise finds "its" address with a UDP
    # connect() to 8.8.8.8:53 (no packet leaves, but it names a public host) and then binds
    # and connects on the machine's external interface. This flag (named for Windows and
    # macOS, where it is the default) makes Ray use 127.0.0.1 throughout; multi-node
    # clusters are started with `ray start`, not with this launcher.
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    # Every caller of a replica's inter-deployment gRPC server is on this machine and dials the
    # node address, 127.0.0.1: Ray's own bind to every interface would only widen the surface.
    env[GRPC_HOST_ENV] = "127.0.0.1"
    # Serve calls this in its proxy actor before the proxy's server starts (serve/shared_port.py).
    env["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"] = os.environ.get(
        "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH", PROXY_CALLBACK)
    env[PROXY_ROLE_ENV] = "serve"
    if throughput_optimized:
        env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = os.environ.get("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
        if service_port is not None:
            env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] = str(service_port)
            env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] = str(service_port + PROXY_PORT_OFFSET - 1)
            # Every ingress replica binds the service port itself (serve/shared_port.py).
            env[SHARED_PORT_ENV] = str(service_port)
            if env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1":
                # The replicas serve the port; nothing needs the proxy's HTTP: it refuses all of it.
                env[PROXY_ROLE_ENV] = "closed"
            # Serve's controller still books a port of that range per replica, and keeps a
            # stopped replica's port out of use for 150 s (for a balancer that may still list
            # it; there is none). Without this, a few restarts in a row would use up the range
            # and the next replica could not start.
            env["RAY_SERVE_PORT_QUARANTINE_S"] = os.environ.get("RAY_SERVE_PORT_QUARANTINE_S", "0")
    os.environ.update(env)
    return env


def load_config(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def run(config_path: Path, ray_dir: Path, dashboard: bool, dashboard_port: int,
        throughput_optimized: bool = True) -> int:
    root = Path.cwd()
    ray_dir = ray_dir.resolve()
    raw = load_config(config_path)
    service_port = int((raw.get("http_options") or {}).get("port", 8000))
    prepare_environment(root, ray_dir, throughput_optimized, service_port)
    # Imported only now: Ray reads its environment variables at import time.
    import ray
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.config import gRPCOptions
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate(raw)
    if throughput_optimized:
        # The ingress replicas serve the configured port; Serve's proxy (Serve starts it
        # whatever the config says) moves aside, on loopback, and answers 404 to everything.
        config.http_options.port = service_port + PROXY_PORT_OFFSET
        config.http_options.host = "127.0.0.1"
    tmp = ray_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        ray.init(
            namespace="serve",
            _temp_dir=str(tmp),
            _node_ip_address="127.0.0.1",
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            dashboard_port=dashboard_port,
        )
        client = serve_api.serve_start(
            http_options=config.http_options.model_dump(),
            proxy_location=config.proxy_location,
            grpc_options=gRPCOptions(**config.grpc_options.model_dump()),
        )
        client.deploy_apps(config, _blocking=False)
        http = config.http_options
        where = f"http://127.0.0.1:{service_port}" if throughput_optimized else f"http://{http.host}:{http.port}"
        print(f"modelship: deploying {config_path} on {where} (Serve's proxy on :{http.port}; "
              f"Ray temp {tmp}); Ctrl-C stops it", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("modelship: shutting down Serve and Ray", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if ray.is_initialized():
                serve.shutdown()
        finally:
            ray.shutdown()


CHILD_ENV = "MODELSHIP_SERVE_CHILD"


def supervise(argv: list[str]) -> int:
    """Run the launcher in its own session and hand it Ctrl-C once.

    A terminal's Ctrl-C reaches every process of the foreground group; Ray's daemons would
    die before Serve could drain. In a session of its own, only the launcher gets the
    signal, shuts Serve down, then stops the Ray processes it started.
    """
    child = subprocess.Popen([sys.executable, "-m", "serve", *argv], env={**os.environ, CHILD_ENV: "1"},
                             start_new_session=True)
    forwarded = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal forwarded
        if not forwarded:
            forwarded = True
            child.send_signal(signal.SIGINT)
        else:
            print("modelship: still shutting down (Serve drains, then Ray stops)", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # pragma: no cover - the handler above replaces it
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="start Ray and the Serve application (Ctrl-C stops both)")
    p_run.add_argument("--config", type=Path, default=Path("serve/config.yaml"))
    p_run.add_argument("--ray-dir", type=Path, default=Path("var/ray"),
                       help="Ray's home and temp folder (git-ignored)")
    p_run.add_argument("--no-dashboard", action="store_true", help="do not start Ray's dashboard")
    p_run.add_argument("--dashboard-port", type=int, default=8265)
    p_run.add_argument("--no-throughput-optimized", action="store_true",
                       help="run Serve with its defaults (a proxy actor in front of the ingress)")
    p_api = sub.add_parser("openapi", help="write the OpenAPI document (no Ray needed)")
    p_api.add_argument("--config", type=Path, default=Path("serve/config.yaml"))
    p_api.add_argument("--out", type=Path, default=Path("docs/api/openapi.json"))
    args = parser.parse_args(argv)
    if args.command == "run" and os.environ.get(CHILD_ENV) != "1":
        # Prepared here too, so that the launcher process starts with Ray's environment.
        prepare_environment(Path.cwd(), args.ray_dir.resolve(), not args.no_throughput_optimized)
        return supervise(list(sys.argv[1:] if argv is None else argv))
    if args.command == "run":
        return run(args.config, args.ray_dir, not args.no_dashboard, args.dashboard_port,
                   not args.no_throughput_optimized)
    from serve.spec import write_openapi
    write_openapi(args.config, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
