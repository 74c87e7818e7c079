"""The collector under load, on the running service: its CPU share and its lag.

After the table's cells, one more c=32 run of single-row requests against the service with
monitoring on, while psutil reads the CPU time of the collector actor's process (and of the
whole Serve process tree, for scale). Then two lags, from the end of that run:

- counted: until the collector's counters hold every row the run was answered for (its rows
  plus those the replicas counted as dropped), i.e. hand-off plus any backlog;
- in a profile: until the window holding the run's last request has closed, its profile and
  summary written (at most window_s + the grace after the request, by design).

The collector's state is read through GET /v1/monitoring/summary with a monitor-scope token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import servers, wrk

COLLECTOR = "CollectorActor"
CONCURRENCY = 32
LAG_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class CollectorFigures:
    seconds: float
    requests: int
    collector_cpu_s: float
    serve_cpu_s: float
    counted_lag_s: float | None
    profile_lag_s: float | None
    dropped_rows: int
    window_s: float

    @property
    def collector_core_share(self) -> float:
        """Of one core, over the run."""
        return self.collector_cpu_s / self.seconds

    @property
    def collector_serve_share(self) -> float:
        """Of all the CPU the Serve process tree used over the run."""
        return self.collector_cpu_s / self.serve_cpu_s if self.serve_cpu_s else 0.0


def state(base_url: str, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(base_url + "/v1/monitoring/summary", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if r.status_code == 200:
            result: dict[str, Any] = r.json()
            return result
        if r.status_code != 503 or time.monotonic() > deadline:  # 503: the collector (re)starting
            raise RuntimeError(f"GET /v1/monitoring/summary answered {r.status_code}: {r.text[:200]}")
        time.sleep(0.5)


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def collector_process(server: servers.Server) -> psutil.Process:
    pids = server.pids_named(COLLECTOR)
    if len(pids) != 1:
        raise RuntimeError(f"expected one {COLLECTOR} process under {server.name}, found {pids}")
    return psutil.Process(pids[0])


def counted(s: dict[str, Any]) -> int:
    return int(s["counters"]["rows"]) + int(s["counters"]["dropped_rows"])


def settled(base_url: str, token: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The state once the rows of earlier traffic have all reached the collector."""
    last = state(base_url, token)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = state(base_url, token)
        if counted(now) == counted(last):
            return now
        last = now
    return last


def measure(
    server: servers.Server, body: Path, token_path: Path, monitor_token: str, seconds: float
) -> CollectorFigures:
    url = server.base_url
    collector = collector_process(server)
    before = settled(url, monitor_token)
    tree = server.track()
    cpu0, tree0 = cpu_seconds([collector]), cpu_seconds(tree)
    result = wrk.run(url + "/v1/predict", body, token_path, connections=CONCURRENCY, seconds=seconds)
    ended = time.time()
    cpu1, tree1 = cpu_seconds([collector]), cpu_seconds(tree)
    answered = result.requests - result.errors
    counted_lag = profile_lag = None
    deadline = time.monotonic() + LAG_TIMEOUT_S
    while time.monotonic() < deadline and (counted_lag is None or profile_lag is None):
        s = state(url, monitor_token)
        now = time.time()
        if counted_lag is None and counted(s) >= counted(before) + answered:
            counted_lag = now - ended
        if profile_lag is None and any(w["start_s"] <= ended < w["end_s"] for w in s["windows"]):
            profile_lag = now - ended
        time.sleep(0.1 if counted_lag is None else 0.5)
    after = state(url, monitor_token)
    return CollectorFigures(
        seconds=result.duration_s,
        requests=result.requests,
        collector_cpu_s=cpu1 - cpu0,
        serve_cpu_s=tree1 - tree0,
        counted_lag_s=counted_lag,
        profile_lag_s=profile_lag,
        dropped_rows=int(after["counters"]["dropped_rows"]) - int(before["counters"]["dropped_rows"]),
        window_s=float(after["window_s"]),
    )
