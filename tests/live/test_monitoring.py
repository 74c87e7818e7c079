"""Monitoring on the real service (C11.5, C11.6): rows scored by the Ray Serve replicas reach the
one collector actor and a window profile on disk, every replica answers with that collector's
figures, and a killed collector is restarted by Ray without failing a prediction.

The session's service runs with 2 s windows (tests/live/service.py); other live tests may send
traffic at the same time, so counts are compared as at least what this test sent.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import psutil
import pytest
from api_support import sample_records

from modelship import profiling
from serve.monitoring import compaction
from tests.live.service import Served

pytestmark = [
    pytest.mark.requirement("C11.5", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring: collection on the live service (Ray actor collector)",
        scope="system",
        strategy="example-based, fault injection",
        tool="pytest + httpx, Ray Serve via the launcher",
    ),
]

ROWS = 60


def state_or_none(served: Served) -> dict[str, Any] | None:
    # A new connection each time: the kernel may hand it to either replica.
    r = httpx.get(served.base_url + "/v1/monitoring/summary", headers=served.headers("monitor"), timeout=30)
    if r.status_code == 503:  # the collector is restarting: the API says so and keeps serving
        assert r.json()["type"].endswith("monitoring-unavailable")
        return None
    assert r.status_code == 200, r.text
    return r.json()


def summary(served: Served, timeout_s: float = 60.0) -> dict[str, Any]:
    """The collector's state; waits while it answers 503 (the actor starting or restarting)."""
    deadline = time.monotonic() + timeout_s
    while (state := state_or_none(served)) is None:
        assert time.monotonic() < deadline, "the collector did not answer"
        time.sleep(0.5)
    return state


def profiled_rows(served: Served) -> int:
    folder = served.db_path.parent / "monitoring"
    stored = compaction.stored_profiles(folder, 2.0)  # the session's windows (tests/live/service.py)
    return sum(profiling.row_count(profiling.read_profile(s.path), "mean_radius") for s in stored)


def test_predictions_reach_a_window_profile_through_the_collector_actor(served: Served, api: httpx.Client):
    before = profiled_rows(served)
    headers = served.headers("loader")
    sent_at = time.time()
    for i in range(ROWS // 10):
        r = api.post("/v1/predict", json={"records": sample_records(10, 10 * i)}, headers=headers)
        assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60
    while True:
        state = summary(served)
        closed_after = [w for w in state["windows"] if w["end_s"] > sent_at - 2]
        if sum(w["rows"] for w in closed_after) >= ROWS and profiled_rows(served) >= before + ROWS:
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    window = next(w for w in closed_after if w["rows"])
    assert window["model_version"].startswith("v000")
    assert window["operations"]["latency_s"]["p99"] > 0
    # Lag from a request to its row in a closed window: window, grace, hand-off.
    lag = time.time() - sent_at
    assert lag < 2.0 + 2 * 0.25 + 1.0 + 10


def test_every_replica_answers_with_the_one_collectors_figures(served: Served):
    starts = {summary(served)["started_at"] for _ in range(8)}
    assert len(starts) == 1
    r = httpx.get(served.base_url + "/v1/monitoring/metrics", headers=served.headers("monitor"), timeout=30)
    assert r.status_code == 200 and "modelship_requests_total" in r.text


def collector_pids(served: Served) -> list[int]:
    out = []
    for p in served.ray_processes():
        try:
            if "CollectorActor" in " ".join(p.cmdline()):
                out.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def send(api: httpx.Client, served: Served, rows: int) -> None:
    for i in range(rows // 10):
        r = api.post("/v1/predict", json={"records": sample_records(10, 10 * i)}, headers=served.headers("loader"))
        assert r.status_code == 200, r.text


def test_a_killed_collector_is_restarted_and_closed_windows_stay_on_disk(served: Served, api: httpx.Client):
    """Fault injection: the collector's process is killed. Predictions never fail; Ray restarts
    the actor; windows closed before the kill stay on disk; rows sent after the restart are
    collected again. What the restart lost is the open windows: their rows are not on disk."""
    first = summary(served)
    [pid] = collector_pids(served)
    send(api, served, 30)
    time.sleep(2.0 + 2 * 0.25 + 1.0 + 1.0)  # a window and its grace: these rows are on disk now
    on_disk = profiled_rows(served)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    send(api, served, 30)  # scored, answered 200; their rows may be lost with the open window
    deadline = time.monotonic() + 120
    while (state := state_or_none(served)) is None or state["started_at"] == first["started_at"]:
        assert time.monotonic() < deadline, "the collector was not restarted"
        time.sleep(0.5)
    restart_s = time.monotonic() - killed_at
    assert profiled_rows(served) >= on_disk
    rows_before = state["counters"]["rows"]
    send(api, served, 30)
    deadline = time.monotonic() + 60
    while (state := state_or_none(served)) is None or state["counters"]["rows"] < rows_before + 30:
        assert time.monotonic() < deadline, f"rows after the restart ({restart_s:.1f} s) were not collected"
        time.sleep(0.5)
    assert collector_pids(served) != [pid]
