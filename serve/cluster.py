"""A standing local Ray cluster to deploy to: `ray start --head` the project's way, and its stop.

    python -m serve cluster start [--config serve/config.yaml] [--ray-dir var/ray] [--dashboard-port 8265]
    python -m serve cluster stop [--ray-dir var/ray]

`make serve` runs Ray and the application in one process that stops both on Ctrl-C. A deployment
(`make deploy`, serve/deploy.py) needs a cluster that outlives it instead: this starts one on
127.0.0.1 with the environment serve/launcher.py gives Ray (no telemetry, no cloud-metadata
probes, token auth, direct ingress on the configured service port), and writes
<ray-dir>/cluster.json with its addresses. Its token is <ray-dir>/home/.ray/auth_token.

`ray stop` would end every Ray process of the machine, another person's cluster included; `stop`
here ends only the processes of this cluster: those started with this Ray home in their environment.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from serve.launcher import load_config, prepare_environment

CLUSTER_FILE = "cluster.json"
# the ports `ray start` would otherwise take at fixed numbers, so that two clusters can coexist
AGENT_PORTS = ("port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_path(ray_dir: Path) -> Path:
    return ray_dir / "home" / ".ray" / "auth_token"


def ray_executable() -> str:
    """The `ray` script beside this interpreter (the project's .venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else shutil.which("ray") or "ray"


def start(
    config_path: Path, ray_dir: Path, dashboard_port: int, timeout_s: float = 180, attempts: int = 3
) -> dict[str, Any]:
    """Start the head node; return (and write to cluster.json) its addresses.

    On a loaded machine the raylet can give up waiting for its agents (a fixed wait in Ray);
    what that attempt left running is ended and `ray start` tried again."""
    for attempt in range(1, attempts + 1):
        try:
            return _start(config_path, ray_dir, dashboard_port, timeout_s)
        except RuntimeError as exc:
            stop(ray_dir)
            if attempt == attempts:
                raise
            print(f"cluster: attempt {attempt} failed, retrying: {str(exc).splitlines()[-1]}", file=sys.stderr)
    raise AssertionError("unreachable")


def _start(config_path: Path, ray_dir: Path, dashboard_port: int, timeout_s: float) -> dict[str, Any]:
    ray_dir = ray_dir.resolve()
    raw = load_config(config_path)
    service_port = int((raw.get("http_options") or {}).get("port", 8000))
    saved = dict(os.environ)
    try:
        env = {**os.environ, **prepare_environment(Path.cwd(), ray_dir, True, service_port)}
    finally:  # prepare_environment also sets them here: this process keeps its own
        os.environ.clear()
        os.environ.update(saved)
    tmp = ray_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    token = token_path(ray_dir)
    if not token.is_file():
        # `ray start` with token auth wants the token already there; clients of this cluster read it
        token.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    # The raylet waits this long for its agents to start; on a loaded machine the default (30 s)
    # is not enough, and the raylet then aborts.
    env.setdefault("RAY_agent_register_timeout_ms", "120000")
    ports = {name: free_port() for name in AGENT_PORTS}
    cmd = [
        ray_executable(),
        "start",
        "--head",
        "--node-ip-address",
        "127.0.0.1",
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(dashboard_port),
        "--include-dashboard",
        "true",
        "--temp-dir",
        str(tmp),
        "--disable-usage-stats",
        *(arg for name, port in ports.items() for arg in (f"--{name}", str(port))),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ray start failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    info = {
        "address": f"http://127.0.0.1:{dashboard_port}",  # what RAY_ADDRESS names for `serve deploy`
        "gcs_address": f"127.0.0.1:{ports['port']}",
        "service_url": f"http://127.0.0.1:{service_port}",
        "ray_home": str(ray_dir / "home"),
        "token_path": str(token_path(ray_dir)),
    }
    (ray_dir / CLUSTER_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    _wait_dashboard(dashboard_port, timeout_s)
    return info


def _wait_dashboard(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"Ray's dashboard did not open port {port} within {timeout_s:g} s")


def processes(ray_dir: Path) -> list[psutil.Process]:
    """The live processes of the cluster whose Ray home is ray_dir/home (read from their environment)."""
    home = str((ray_dir.resolve()) / "home")
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get("HOME") == home and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def stop(ray_dir: Path, grace_s: float = 15) -> int:
    """SIGTERM this cluster's processes, SIGKILL what is left after grace_s; return how many there were."""
    procs = processes(ray_dir)
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    (ray_dir / CLUSTER_FILE).unlink(missing_ok=True)
    return len(procs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p_start = sub.add_parser("start", help="start a head node on 127.0.0.1 and print its address")
    p_start.add_argument("--config", type=Path, default=Path("serve/config.yaml"))
    p_start.add_argument("--ray-dir", type=Path, default=Path("var/ray-cluster"))
    p_start.add_argument("--dashboard-port", type=int, default=8265)
    p_stop = sub.add_parser("stop", help="end this cluster's processes (and only them)")
    p_stop.add_argument("--ray-dir", type=Path, default=Path("var/ray-cluster"))
    args = parser.parse_args(argv)
    if args.action == "start":
        if processes(args.ray_dir):
            print(f"cluster: already running with Ray home {args.ray_dir}/home", file=sys.stderr)
            return 1
        info = start(args.config, args.ray_dir, args.dashboard_port)
        print(f"cluster: started; RAY_ADDRESS={info['address']} (token in {info['token_path']})")
        return 0
    count = stop(args.ray_dir)
    print(f"cluster: stopped {count} process(es)")
    return 0
