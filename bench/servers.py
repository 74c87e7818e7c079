"""Start and stop the servers under test, and leave no process behind.

Every process a server starts (the launcher, Ray's GCS, raylet, workers and replicas;
uvicorn and its workers) is recorded by pid and start time while it runs. Stopping asks the
root process to shut down cleanly, then ends, by pid, whatever it left.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.workspace import ROOT

READY_PATH = "/health/ready"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(preferred: int) -> int:
    """`preferred` or the next free loopback port above it (other sessions may hold some)."""
    for port in range(preferred, preferred + 200):
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {preferred}-{preferred + 199} on 127.0.0.1")


@dataclass
class Server:
    """A server process tree: its URL, its root process and every descendant seen so far."""

    name: str
    base_url: str
    process: subprocess.Popen
    log_path: Path
    stop_signal: int = signal.SIGINT
    stop_timeout_s: float = 60.0
    cleanup_dirs: list[Path] = field(default_factory=list)
    seen: dict[int, float] = field(default_factory=dict)

    def track(self) -> list[psutil.Process]:
        """Record every live descendant; return them."""
        try:
            procs = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for p in procs:
            try:
                self.seen.setdefault(p.pid, p.create_time())
            except psutil.NoSuchProcess:
                pass
        return procs

    def pids_named(self, fragment: str) -> list[int]:
        """Descendants whose command line contains `fragment` (e.g. a Serve replica's name)."""
        out = []
        for p in self.track():
            try:
                if fragment in " ".join(p.cmdline()) or fragment in p.name():
                    out.append(p.pid)
            except psutil.NoSuchProcess:
                pass
        return out

    def wait_ready(self, timeout_s: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            self.track()
            try:
                if httpx.get(self.base_url + READY_PATH, timeout=5).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} was not ready after {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> list[int]:
        """Stop cleanly, then end leftovers by pid; return the pids that had to be killed."""
        self.track()
        if self.process.poll() is None:
            try:
                self.process.send_signal(self.stop_signal)
                self.process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        killed = []
        deadline = time.monotonic() + 5
        for pid, created in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() != created:
                    continue  # the pid was reused by someone else's process
                if time.monotonic() < deadline:
                    try:
                        p.wait(timeout=max(0.1, deadline - time.monotonic()))
                        continue
                    except psutil.TimeoutExpired:
                        pass
                p.kill()
                killed.append(pid)
            except psutil.NoSuchProcess:
                pass
        for d in self.cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)
        return killed


def _spawn(name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        # Own session: a Ctrl-C in the terminal reaches the driver only, which stops the
        # servers in order rather than leaving Ray half shut down.
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_SERVE_")}
    env.update(RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    return env


def start_serve(
    config: Path,
    port: int,
    log_path: Path,
    *,
    throughput_optimized: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """The service as `make serve` runs it: `python -m serve run` (the project's launcher)."""
    # Ray's Unix sockets live under its temp dir and must fit in 107 characters: keep it short.
    ray_dir = Path(tempfile.mkdtemp(prefix="msbench-"))
    cmd = [sys.executable, "-m", "serve", "run", "--config", str(config), "--ray-dir", str(ray_dir), "--no-dashboard"]
    if not throughput_optimized:
        cmd.append("--no-throughput-optimized")
    env = base_env()
    env.update(extra_env or {})
    proc = _spawn("serve", cmd, env, log_path)
    return Server("Ray Serve", f"http://127.0.0.1:{port}", proc, log_path, signal.SIGINT, 60.0, [ray_dir])


def start_serve_ready(
    config: Path, port: int, log_path: Path, *, attempts: int = 3, timeout_s: float = 240, **kwargs: Any
) -> tuple[Server, float]:
    """`start_serve`, then wait until ready; a start whose Ray node timed out (a busy machine)
    is stopped and tried again. Returns the server and the seconds it took."""
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        server = start_serve(config, port, log_path, **kwargs)
        try:
            server.wait_ready(timeout_s)
            return server, time.monotonic() - started
        except RuntimeError:  # the launcher exited: Ray did not come up
            server.stop()
            if attempt == attempts:
                raise
            print(f"bench: Ray Serve on :{port} did not start (attempt {attempt}); again", flush=True)
        except BaseException:  # Ctrl-C or a timeout: nothing of it may be left running
            server.stop()
            raise
    raise AssertionError("unreachable")


def start_baseline(config: Path, port: int, log_path: Path, workers: int = 2) -> Server:
    """The project's FastAPI app under bare uvicorn, `workers` processes, model in process."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.baseline:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = base_env()
    env["BENCH_SERVE_CONFIG"] = str(config)
    proc = _spawn("uvicorn", cmd, env, log_path)
    return Server(f"uvicorn x{workers}", f"http://127.0.0.1:{port}", proc, log_path, signal.SIGTERM, 20.0)


def direct_ingress_ports(server: Server, low: int = 30000, high: int = 31000) -> list[int]:
    """Loopback ports the Serve replicas listen on themselves (Ray 2.60's direct ingress range)."""
    ports = set()
    for p in server.track():
        try:
            if "ServeReplica" not in " ".join(p.cmdline()):
                continue
            for conn in p.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and low <= conn.laddr.port < high:
                    ports.add(conn.laddr.port)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return sorted(ports)
