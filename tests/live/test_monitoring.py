"""Monitoring on the real service (C11.5, C11.6): rows scored by the Ray Serve replicas reach the
one collector actor and a window profile on disk, and every replica answers with that
collector's figures.

The session's service runs with 2 s windows (tests/live/service.py); other live tests may send
traffic at the same time, so counts are compared as at least what this test sent.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from api_support import sample_records

from modelship import profiling
from tests.live.service import Served

pytestmark = [
    pytest.mark.requirement("C11.5", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring: collection on the live service (Ray actor collector)",
        scope="system",
        strategy="example-based",
        tool="pytest + httpx, Ray Serve via the launcher",
    ),
]

ROWS = 60


def summary(served: Served) -> dict[str, Any]:
    # A new connection each time: the kernel may hand it to either replica.
    r = httpx.get(served.base_url + "/v1/monitoring/summary", headers=served.headers("monitor"), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def profiled_rows(served: Served) -> int:
    folder = served.db_path.parent / "monitoring"
    return sum(profiling.row_count(profiling.read_profile(p), "mean_radius") for p in folder.glob("*.profile.bin"))


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
