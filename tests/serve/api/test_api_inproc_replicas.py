"""What lets several ingress replicas act as one service, without Ray (C9.2, C9.3).

Shared limits across processes, predictions found whichever replica made them, and every
replica following a production switch before its next answer. The live service runs two
replicas (tests/api/test_replicas.py); here the parts are checked one by one.
"""
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from modelship.registry import Registry
from serve.model import ModelHolder
from serve.ratelimit import SharedTokenBuckets, shared_buckets
from serve.store import new_prediction_ids, prediction_id_age_s
from tests.serve.api.test_api_inproc_units import ORDER

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="Serve: shared limits, prediction lookup and production pointer across replicas",
        scope="integration", strategy="example-based, load", tool="pytest, multiprocessing, SQLite",
    ),
]


def _spend(path: str, name: str, attempts: int, out) -> None:
    buckets = SharedTokenBuckets(Path(path), name)
    out.put(sum(buckets.take("client", 1, 12, 3600) == 0 for _ in range(attempts)))


def test_two_processes_share_one_limit(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_spend, args=(str(tmp_path / "limits.sqlite3"), "requests", 10, out)) for _ in range(2)]
    for p in procs:
        p.start()
    allowed = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(allowed) == 12  # 20 attempts, 12 allowed in all, however they interleaved


def test_shared_buckets_refill_and_say_how_long_to_wait(tmp_path):
    now = [100.0]
    buckets = SharedTokenBuckets(tmp_path / "l.sqlite3", "rows", clock=lambda: now[0])
    assert buckets.take("c", 8, 10, 60) == 0
    assert buckets.take("c", 4, 10, 60) == 12.0  # 2 left, 2 missing at 10 per 60 s
    now[0] += 12.0
    assert buckets.take("c", 4, 10, 60) == 0
    assert buckets.take("c", 11, 10, 60) == 60  # never fits: wait a whole window
    # Kinds of limit are apart in one file.
    other = SharedTokenBuckets(tmp_path / "l.sqlite3", "requests", clock=lambda: now[0])
    assert other.take("c", 10, 10, 60) == 0


def test_refilled_buckets_are_pruned_so_invented_keys_do_not_grow_the_file(tmp_path):
    now = [0.0]
    buckets = SharedTokenBuckets(tmp_path / "l.sqlite3", "token_attempts", clock=lambda: now[0])
    buckets.PRUNE_EVERY = 50
    for i in range(49):
        buckets.take(f"invented-{i}", 1, 5, 60)
    now[0] += 13.0  # one unit refills in 12 s: every bucket is full again
    buckets.take("last", 1, 5, 60)
    rows = buckets._db.execute("SELECT key FROM buckets").fetchall()
    assert rows == [("token_attempts:last",)]


def test_the_service_gets_its_three_limits_from_one_shared_file(tmp_path):
    limits = shared_buckets(tmp_path / "limits.sqlite3")
    assert sorted(limits) == ["requests", "rows", "token_attempts"]
    assert all(isinstance(b, SharedTokenBuckets) for b in limits.values())


def test_a_prediction_id_tells_its_age():
    assert 0 <= prediction_id_age_s(new_prediction_ids(1)[0]) < 1
    assert prediction_id_age_s("0" * 32) > 1e9
    assert prediction_id_age_s("zz" + "0" * 30) == float("inf")


def test_a_prediction_buffered_by_another_replica_is_found_once_flushed(make_api):
    made_here, elsewhere = make_api(), make_api()  # two replicas: one database, two buffers
    pid = made_here.predict().json()["predictions"][0]["prediction_id"]
    assert elsewhere.store.get_prediction(pid) is None  # still in the first replica's buffer
    threading.Timer(0.2, made_here.store.flush).start()
    r = elsewhere.client.get(f"/v1/predictions/{pid}", headers=elsewhere.headers("clinic"))
    assert r.status_code == 200, r.text
    f = elsewhere.client.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"},
                              headers=elsewhere.headers("clinic"))
    assert f.status_code == 201, f.text


def test_an_old_or_invented_id_is_not_waited_for(api):
    for pid in ("0" * 32, "f" * 32):  # issued at the epoch; a stamp far in the future
        start = time.monotonic()
        r = api.client.get(f"/v1/predictions/{pid}", headers=api.headers("clinic"))
        assert r.status_code == 404
        assert time.monotonic() - start < 1.0  # a fresh id's wait is over a second


def test_a_replica_sees_the_pointer_move_and_follows_it_before_scoring(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    registry = Registry(registry_root)
    assert not holder.pointer_moved()
    registry.promote("v0002", actor="tests", reason="pointer test")
    assert holder.pointer_moved()
    assert holder.sync() == "v0002" and not holder.pointer_moved()
    pinned = ModelHolder(registry_root, ORDER, pinned_version="v0001")
    registry.rollback(actor="tests", reason="pointer test")
    assert holder.pointer_moved() and not pinned.pointer_moved()  # a pinned replica ignores it


def test_the_launcher_gives_every_ingress_replica_the_service_port(tmp_path):
    from serve.launcher import prepare_environment
    from serve.shared_port import ENV, shared_port
    saved = dict(os.environ)
    try:
        env = prepare_environment(tmp_path, tmp_path / "ray", throughput_optimized=True, service_port=18123)
        assert env[ENV] == "18123" and shared_port() == 18123
        assert env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] == "18123"
        assert env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] == "18132"  # below Serve's proxy, port + 10
        assert env["RAY_SERVE_PORT_QUARANTINE_S"] == "0"
        assert (tmp_path / "ray" / "home" / "ray_bootstrap_config.yaml").exists()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert shared_port() is None or ENV in saved  # nothing leaks into the test process


def test_replica_servers_bind_the_shared_port_together(monkeypatch):
    """What serve/shared_port.py changes in Ray's replica, on Ray's own server function."""
    import asyncio
    import socket

    import httpx
    from ray.serve._private import replica
    from ray.serve.config import HTTPOptions
    from serve.shared_port import ENV, install

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(ENV, str(port))
    monkeypatch.setattr(replica, "start_asgi_http_server", replica.start_asgi_http_server)  # undone after
    assert install() == port and install() == port  # a second call does not wrap twice

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        loop = asyncio.get_running_loop()
        # Serve would hand each replica a port of its own (here 1 and 2): both end up on `port`.
        servers = [await replica.start_asgi_http_server(app, HTTPOptions(host="127.0.0.1", port=p), event_loop=loop)
                   for p in (1, 2)]
        while not all(server.started for _, server in servers):
            await asyncio.sleep(0.05)
        answers = [await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/", timeout=10) for _ in range(4)]
        for task, server in servers:
            server.should_exit = True
        await asyncio.gather(*(task for task, _ in servers))
        return answers

    answers = asyncio.run(main())
    assert [r.text for r in answers] == ["ok"] * 4
    assert not any("server" in r.headers for r in answers)  # no banner naming the HTTP server


def test_while_a_new_version_loads_the_pointer_still_reads_as_moved(registry_root, monkeypatch):
    """The poller may be loading the new version when a request checks: the request must wait
    for that load (pointer_moved stays true until it is done), not score with the old model."""
    holder = ModelHolder(registry_root, ORDER)
    Registry(registry_root).promote("v0002", actor="tests", reason="slow load")
    real_load, loading, release = holder.registry.load, threading.Event(), threading.Event()

    def slow_load(version):
        loading.set()
        release.wait(10)
        return real_load(version)

    monkeypatch.setattr(holder.registry, "load", slow_load)
    poller = threading.Thread(target=holder.sync)
    poller.start()
    assert loading.wait(10)
    assert holder.pointer_moved() and holder.current.version == "v0001"
    release.set()
    poller.join(10)
    assert not holder.pointer_moved() and holder.current.version == "v0002"
