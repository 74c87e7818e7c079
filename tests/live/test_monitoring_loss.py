"""What a crash loses, measured on the real service (C11.2, C11.6): scored rows are sent without
pause while the collector actor's process is killed (SIGKILL), then one ingress replica's; every
row answered 200 is looked for in the window profiles on disk once every window has closed.

The bound (docs/monitoring.qmd, "What a crash loses"): a killed collector loses the rows of the
windows still open when it died, time stamped at most window_s + grace_s + its tick period before
the kill, and what the replicas handed it or held in that moment (handoff_s after); a killed
replica loses its buffer, at most handoff_s of its traffic. Rows a replica could not hand over
while the collector was restarting are dropped and counted (dropped_rows): they are loss the
service reports, and the bound adds them. The collector must come back by itself (detached,
restarted by Ray) and collect again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import httpx
import pytest
from api_support import sample_records

from modelship import profiling
from serve.monitoring import compaction
from tests.live.service import Served
from tests.live.test_monitoring import collector_pids, state_or_none, summary

pytestmark = [
    pytest.mark.requirement("C11.2", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring: what a crash of the collector or a replica loses (live service)",
        scope="system",
        strategy="fault injection",
        tool="pytest + httpx, Ray Serve via the launcher, whylogs",
    ),
]

# The session's service (tests/live/service.py): 2 s windows, hand-off every 0.25 s.
WINDOW_S, HANDOFF_S = 2.0, 0.25
GRACE_S = 2 * HANDOFF_S + 1.0  # serve/monitoring/collector.py
TICK_S = 1.0  # the collector's window-closing thread
ROWS_PER_REQUEST = 5
PAUSE_S = 0.05  # about 20 requests a second from one client: steady, not a load test


def stored_rows(served: Served) -> int:
    folder = served.db_path.parent / "monitoring"
    for _ in range(5):  # a file compacted away between the listing and the read: list again
        try:
            return sum(
                profiling.row_count(profiling.read_profile(s.path), "mean_radius")
                for s in compaction.stored_profiles(folder, WINDOW_S)
            )
        except FileNotFoundError:
            continue
    raise AssertionError("the monitoring folder kept changing under the reader")


def quiet(served: Served, timeout_s: float = 90.0) -> int:
    """Wait until no window is open and the rows on disk stop changing; return them."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        state = state_or_none(served)
        rows = stored_rows(served)
        if state is not None and not any(w["rows"] for w in state["open"]) and rows == last:
            return rows
        last = rows
        time.sleep(WINDOW_S + GRACE_S)
    raise AssertionError("monitoring did not settle")


class Sender(threading.Thread):
    """One client sending scored rows until stopped; keeps (answer time, rows) of every 200."""

    def __init__(self, served: Served) -> None:
        super().__init__(daemon=True)
        self.served = served
        self.stop = threading.Event()
        self.answered: list[tuple[float, int]] = []
        self.failed = 0

    def run(self) -> None:
        headers = self.served.headers("loader")
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                # A new connection each time: the kernel spreads them over both replicas.
                r = httpx.post(
                    self.served.base_url + "/v1/predict",
                    json={"records": sample_records(ROWS_PER_REQUEST, i)},
                    headers=headers,
                    timeout=30,
                )
            except httpx.TransportError:
                self.failed += 1  # the killed replica's connection: not answered, not counted
                continue
            if r.status_code == 200:
                self.answered.append((time.time(), ROWS_PER_REQUEST))
            else:
                self.failed += 1
            time.sleep(PAUSE_S)

    def rows_between(self, since: float, until: float) -> int:
        return sum(n for t, n in self.answered if since <= t <= until)

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.answered)


def dropped(state: dict[str, Any]) -> int:
    return int(state["counters"]["dropped_rows"])


def test_a_killed_collector_and_replica_lose_no_more_than_the_stated_bound(served: Served):
    before = quiet(served)
    first = summary(served)
    [collector] = collector_pids(served)
    replicas = served.replica_pids("Ingress")
    sender = Sender(served)
    sender.start()
    try:
        time.sleep(3 * WINDOW_S)  # windows closed before the kill: on disk
        collector_killed = time.time()
        os.kill(collector, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while (state := state_or_none(served)) is None or state["started_at"] == first["started_at"]:
            assert time.monotonic() < deadline, "the collector was not restarted"
            time.sleep(0.25)
        restart_s = time.time() - collector_killed
        time.sleep(3 * WINDOW_S)  # collection has resumed: these rows must be kept
        replica_killed = time.time()
        os.kill(replicas[0], signal.SIGKILL)
        time.sleep(3 * WINDOW_S)
    finally:
        sender.stop.set()
        sender.join(timeout=60)
    after = quiet(served)
    state = summary(served)
    lost = sender.rows - (after - before)
    # Drops counted by the replicas that lived on (the killed one's count died with it).
    counted_drops = dropped(state)
    collector_bound = sender.rows_between(
        collector_killed - (WINDOW_S + GRACE_S + TICK_S + HANDOFF_S), collector_killed + HANDOFF_S + 0.5
    )
    replica_bound = sender.rows_between(replica_killed - (HANDOFF_S + 0.5), replica_killed + 0.5)
    bound = collector_bound + replica_bound + counted_drops
    print(
        f"\ncrash loss: {sender.rows} rows answered 200 ({sender.failed} requests failed), {after - before} "
        f"stored, {lost} lost; bound {bound} = {collector_bound} (collector: open windows) + {replica_bound} "
        f"(replica: one hand-off) + {counted_drops} (counted as dropped); collector back after {restart_s:.1f} s"
    )
    assert sender.rows > 0 and lost >= 0, (sender.rows, after - before)  # nothing counted twice
    assert lost <= bound
    # Collection resumed: the new collector took every row sent after it was back, but the
    # killed replica's last hand-off.
    restarted_at = collector_killed + restart_s
    assert state["counters"]["rows"] >= sender.rows_between(restarted_at, time.time()) - replica_bound
    assert collector_pids(served) != [collector]
    # Serve has replaced the replica: both listen on the service port again (as later tests expect).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        len(now := served.replica_pids("Ingress")) < len(replicas) or replicas[0] in now
    ):
        time.sleep(0.5)
    while time.monotonic() < deadline and served.listening_pids() != set(served.replica_pids("Ingress")):
        time.sleep(0.5)
    assert len(served.replica_pids("Ingress")) == len(replicas)
