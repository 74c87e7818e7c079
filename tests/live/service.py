"""One real Ray Serve instance for the whole test session (C9.5, C9.6).

The service is started the project's way (`python -m serve run`, under strace so that
tests/live/test_no_egress.py can read every connect() made while it started), against a
registry and a client database built in tmp dirs, and stopped at the end, checking that no Ray
process it started is left behind. The `served` fixture (tests/conftest.py) runs it once for
tests/live and for the live transport of tests/serve/routes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest
import yaml
from api_support import ALLOWED_ORIGIN, CLIENT_LIMITS, CLIENTS, CONTRACT, ROOT, build_registry

from modelship.contract import load_contract
from modelship.dataset import load_snapshot, split
from modelship.params import load_params
from modelship.registry import Registry
from serve.auth import AuthService
from serve.monitoring.webhook_receiver import WebhookReceiver
from serve.settings import MonitoringSection, Settings
from support import write_params

STRACE = "/usr/bin/strace"
START_TIMEOUT_S = 180
APP = "modelship"
# Clients that send many requests: no limit of theirs is reached in a session.
UNLIMITED = {"rate_limit": {"limit": 100000, "window_s": 60}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(size: int = 11) -> int:
    """A port whose next `size - 1` ports are free too: the launcher gives the ingress replica
    the configured port, keeps the next ones as its spares and puts Serve's proxy at port + 10."""
    for _ in range(200):
        start = free_port()
        if start + size > 65535:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for p in range(start, start + size):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", p))
            return start
        except OSError:
            continue
    raise RuntimeError("no block of free ports on 127.0.0.1")


@dataclass
class Served:
    """The running service and what the tests know about it."""

    base_url: str
    process: subprocess.Popen
    launcher_pid: int
    registry_root: Path
    state_dir: Path
    db_path: Path
    strace_log: Path | None
    ray_dir: Path
    secrets: dict[str, str]
    config_path: Path
    dashboard_port: int
    webhook: WebhookReceiver | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    seen_pids: dict[int, float] = field(default_factory=dict)

    def client(self, **kwargs) -> httpx.Client:
        kwargs.setdefault("timeout", 30)
        return httpx.Client(base_url=self.base_url, **kwargs)

    def token(self, client_id: str) -> str:
        """A cached access token for one of the session's clients (the person by the password grant)."""
        if client_id not in self.tokens:
            creds = (
                {"grant_type": "password", "username": client_id, "password": self.secrets[client_id]}
                if client_id == "pathologist"
                else {
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": self.secrets[client_id],
                }
            )
            r = httpx.post(self.base_url + "/v1/auth/token", timeout=30, data=creds)
            assert r.status_code == 200, r.text
            self.tokens[client_id] = r.json()["access_token"]
        return self.tokens[client_id]

    def headers(self, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id)}"}

    def ray_processes(self) -> list[psutil.Process]:
        """Every live process this session's launcher started (directly or not)."""
        try:
            root = psutil.Process(self.launcher_pid)
            procs = root.children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        for p in procs:
            try:
                self.seen_pids[p.pid] = p.create_time()
            except psutil.NoSuchProcess:
                pass
        return procs

    def replica_pids(self, deployment: str) -> list[int]:
        out = []
        for p in self.ray_processes():
            try:
                if p.name().startswith("ray::ServeRepli") or "ServeReplica" in " ".join(p.cmdline()):
                    if f"ServeReplica:{APP}:{deployment}" in " ".join(p.cmdline()):
                        out.append(p.pid)
            except psutil.NoSuchProcess:
                pass
        return out

    def listening_pids(self) -> set[int]:
        """The processes listening on the service port."""
        port = int(self.base_url.rsplit(":", 1)[1])
        return {
            c.pid
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
        }

    @property
    def model_deployment(self) -> str:
        """The deployment whose replicas hold the model."""
        return "Ingress"

    def wait_ready(self, timeout_s: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}; see {self.ray_dir}")
            try:
                if httpx.get(self.base_url + "/health/ready", timeout=5).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the service was not ready after {timeout_s} s; see logs in {self.ray_dir}")


def held_out_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): the split notebooks/01_data_checks makes from params.yaml (seed, test_size)."""
    params = load_params(ROOT / "params.yaml")
    contract = load_contract(CONTRACT)
    frame = load_snapshot(ROOT / params.snapshot, ROOT / params.manifest if params.manifest else None, contract)
    parts = split(frame, contract, params.test_size, params.seed)
    return parts.train, parts.test


def add_reference_profiles(registry: Registry) -> None:
    """Each version's drift reference: the training part's profile, as notebooks/02_train registers
    it, so that the held-out part (what the sandbox replays, tests/live/sandbox.py) is new to it."""
    # whylogs (through the collector too): imported only when a service is started
    from modelship import profiling
    from serve.monitoring.collector import REFERENCE_FILE

    train, _ = held_out_split()
    view = profiling.profile(train[load_contract(CONTRACT).feature_names])
    for version in registry.versions():
        profiling.write_profile(view, registry.version_dir(version) / REFERENCE_FILE)


def write_config(
    path: Path, *, port: int, params: Path, state_dir: Path, data_dir: Path, webhook_url: str | None = None
) -> None:
    """The project's serve/config.yaml with this session's paths, port and small limits."""
    config = yaml.safe_load((ROOT / "serve" / "config.yaml").read_text(encoding="utf-8"))
    config["http_options"]["port"] = port
    app = next(a for a in config["applications"] if a["name"] == APP)
    sections = app["args"]
    sections["paths"] = {"params": str(params), "state_dir": str(state_dir), "data_dir": str(data_dir)}
    sections["service"]["cors_origins"] = [ALLOWED_ORIGIN]
    sections["limits"]["clients"] = {**CLIENT_LIMITS, "fuzzer": UNLIMITED, "loader": UNLIMITED, "switcher": UNLIMITED}
    # The router suite asks for many tokens of the same clients within a minute, on both
    # transports; the token limits themselves are tested in process (tests/serve).
    for limit in ("token_rate_limit", "token_ip_rate_limit", "token_global_rate_limit"):
        sections["limits"][limit] = {"limit": 100000, "window_s": 60}
    for dep in app["deployments"]:
        dep["user_config"]["poll_interval_s"] = 0.5
    # Short monitoring windows, so that a test sees one close (tests/live/test_monitoring.py).
    sections.setdefault("monitoring", {}).update(window_s=2.0, handoff_s=0.25)
    if webhook_url is not None:  # alert notifications go to the session's receiver
        sections["monitoring"]["webhook_url"] = webhook_url
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


class ShortFolders:
    """What run_service needs of pytest's tmp_path_factory, below one folder the caller chose: a
    short one, for a service started outside the session's (Ray's Unix socket paths live below
    the Ray folder and must fit in 107 characters)."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = self.base / name
        path.mkdir()
        return path

    def getbasetemp(self) -> Path:
        return self.base


def run_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Start the service, yield it, stop it (the body of the session's `served` fixture)."""
    base = tmp_path_factory.mktemp("api")
    registry_root = base / "registry"
    registry = build_registry(registry_root, versions=3)
    add_reference_profiles(registry)
    # v0003 exists but its file is tampered with: promoting it must be refused (API10).
    model_file = registry.version_dir("v0003") / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"tampered")

    state_dir = base / "state"
    params = write_params(base / "params.yaml", registry=str(registry_root), contract=str(CONTRACT))
    port = free_port_block()
    dashboard_port = free_port()
    while port <= dashboard_port <= port + 10:
        dashboard_port = free_port()
    config_path = base / "serve.yaml"
    data_dir = base / "data"
    # A local receiver of the alert webhook, once the settings have one (serve/monitoring/notify.py).
    webhook = WebhookReceiver() if "webhook_url" in MonitoringSection.model_fields else None
    if webhook is not None:
        webhook.__enter__()
    write_config(
        config_path,
        port=port,
        params=params,
        state_dir=state_dir,
        data_dir=data_dir,
        webhook_url=webhook.url if webhook is not None else None,
    )
    # The clients are made as an operator would: with the service's own settings.
    auth = AuthService(Settings.from_config(config_path).auth_settings())
    secrets = {cid: auth.create_client(cid, scopes) for cid, scopes in CLIENTS.items()}
    secrets["pathologist"] = auth.create_client("pathologist", ["predict", "feedback"], kind="user")
    # A short path: Ray's Unix sockets live below it and must fit in 107 characters.
    ray_dir = Path(tmp_path_factory.getbasetemp()) / "ray"
    strace_log = base / "connect.strace" if os.path.exists(STRACE) else None
    cmd = [
        sys.executable,
        "-m",
        "serve",
        "run",
        "--config",
        str(config_path),
        "--ray-dir",
        str(ray_dir),
        "--dashboard-port",
        str(dashboard_port),
    ]
    if strace_log:
        # Only connect() stops the tracee (seccomp-bpf filter), so the service runs at full speed.
        cmd = [
            STRACE,
            "-f",
            "-qq",
            "--seccomp-bpf",
            "-e",
            "trace=connect",
            "-e",
            "signal=none",
            "-o",
            str(strace_log),
        ] + cmd
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_file = open(base / "serve.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    launcher_pid = proc.pid
    if strace_log:
        # strace forks a short-lived probe child first: wait for the launcher itself.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and launcher_pid == proc.pid:
            for kid in psutil.Process(proc.pid).children():
                try:
                    # A forked strace has strace's command line (which names serve run too).
                    argv = kid.cmdline()
                    if argv and argv[0] != STRACE and "serve" in argv and "run" in argv:
                        launcher_pid = kid.pid
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.05)
        assert launcher_pid != proc.pid, "the launcher did not start under strace"
    s = Served(
        base_url=f"http://127.0.0.1:{port}",
        process=proc,
        launcher_pid=launcher_pid,
        registry_root=registry_root,
        state_dir=state_dir,
        db_path=data_dir / "api.sqlite3",
        strace_log=strace_log,
        ray_dir=ray_dir,
        secrets=secrets,
        config_path=config_path,
        dashboard_port=dashboard_port,
        webhook=webhook,
    )
    try:
        s.startup_s = s.wait_ready(START_TIMEOUT_S)  # type: ignore[attr-defined]
        s.ray_processes()
        yield s
    finally:
        s.ray_processes()
        # SIGINT to the launcher (and only to it): it shuts Serve down, then Ray.
        try:
            launchers = (
                [launcher_pid]
                if psutil.pid_exists(launcher_pid)
                else [k.pid for k in psutil.Process(proc.pid).children() if k.cmdline()[:1] != [STRACE]]
            )
        except psutil.NoSuchProcess:
            launchers = []
        for pid in launchers:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log_file.close()
        if webhook is not None:
            webhook.__exit__(None, None, None)

        # Anything this session started and that outlived the launcher is ended here, by pid.
        # Zombies have exited already (their parent reaps them late): they do not count.
        def alive():
            out = []
            for pid, created in s.seen_pids.items():
                try:
                    p = psutil.Process(pid)
                    if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                        out.append(p)
                except psutil.NoSuchProcess:
                    pass
            return out

        deadline = time.monotonic() + 10
        while alive() and time.monotonic() < deadline:
            time.sleep(0.5)
        left = alive()
        for p in left:
            p.kill()
        assert not left, f"{len(left)} Ray processes outlived the launcher and had to be killed: {left}"
