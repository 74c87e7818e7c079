"""A model replica killed under load (C9.3 API4, C9.6): recovery, and no acknowledged feedback lost.

The answers to a slow, shedding or broken model are checked in process
(tests/serve/test_service.py); here a real replica of the live service is killed.
"""

import os
import signal
import sqlite3
import threading
import time

import httpx
import pytest
from api_support import problem_of, sample_records

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.6"),
    pytest.mark.catalogue(
        part="Service under faults: a replica killed under load",
        scope="system",
        strategy="fault injection",
        tool="pytest + httpx, live Ray Serve",
    ),
]


@pytest.mark.slow
def test_killing_a_model_replica_under_load_recovers_and_loses_no_acknowledged_feedback(served):
    headers = served.headers("loader")
    acknowledged: list[str] = []
    statuses: list[tuple[float, int]] = []
    lost: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker(offset):
        try:
            run(offset)
        except BaseException as exc:  # surfaced by the assertion below, not lost in a thread
            errors.append(exc)
            stop.set()

    def run(offset):
        with served.client(timeout=60) as c:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = c.post("/v1/predict", json={"records": sample_records(1, offset=offset + i)}, headers=headers)
                except httpx.TransportError as exc:
                    # A connection the killed replica held dies with it (the server end is
                    # gone). The client reconnects.
                    statuses.append((time.monotonic(), 0))
                    lost.append(type(exc).__name__)
                    continue
                statuses.append((time.monotonic(), r.status_code))
                if r.status_code != 200:
                    problem_of(r, 503)  # never a 500 or a hang: a problem the client can retry
                    time.sleep(0.2)
                    continue
                pid = r.json()["predictions"][0]["prediction_id"]
                try:
                    f = c.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=headers)
                except httpx.TransportError:
                    continue  # not acknowledged: the client does not count it as stored
                if 200 <= f.status_code < 300:
                    acknowledged.append(pid)

    replicas = sorted(served.replica_pids(served.model_deployment))
    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(2.0)
        victim = replicas[0]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        # Recovered: predictions succeed again after the kill (at once when other replicas live).
        deadline = killed_at + 60
        while time.monotonic() < deadline and not any(
            t > killed_at + 0.5 and code == 200 for t, code in statuses[-20:]
        ):
            time.sleep(0.1)
        recovery_s = time.monotonic() - killed_at
        # Serve replaces the replica; the service keeps its number of replicas.
        while time.monotonic() < deadline and (
            len(now := served.replica_pids(served.model_deployment)) < len(replicas) or victim in now
        ):
            time.sleep(0.5)
        replaced_s = time.monotonic() - killed_at
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=90)
    codes = [code for _, code in statuses]
    print(
        f"\nreplica killed ({len(replicas)} replicas); predictions succeeded again after "
        f"{recovery_s:.1f} s, replacement running after {replaced_s:.1f} s; {len(codes)} predictions "
        f"({codes.count(503)} answered 503, {codes.count(0)} connections lost: {sorted(set(lost))}), "
        f"{len(acknowledged)} feedback stored"
    )
    assert not errors, errors
    assert recovery_s < 60
    after = served.replica_pids(served.model_deployment)
    assert len(after) == len(replicas) and victim not in after
    # The replacement listens on the service port beside the survivor (serve/shared_port.py)
    # once Serve has started its server, after its constructor.
    while time.monotonic() < deadline and served.listening_pids() != set(after):
        time.sleep(0.5)
    assert served.listening_pids() == set(after)
    assert len(acknowledged) > 10
    with sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True) as db:
        stored = {row[0] for row in db.execute("SELECT prediction_id FROM feedback")}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged feedback rows are not in the store"
