"""serve/ratelimit.py and the limits through the API: shared token buckets, 429 with Retry-After (C9.3 API4/API6).

The buckets are one SQLite file shared by every replica, checked here with real processes. The
429 answers run in process only: the live service's limits last the whole session, and
tests/live/test_owasp.py checks them there, across the replicas.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from api_support import problem

from serve.ratelimit import SharedTokenBuckets, retry_after_header, shared_buckets

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="Limits: shared token buckets, request rate and row quota",
        scope="unit",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]
# The marks each test brought from the module it was in before the layout followed the code.
THROUGH_THE_API = pytest.mark.catalogue(
    scope="integration", strategy="example-based, attack", tool="pytest + Starlette TestClient, API app in-process"
)
FAULTS = pytest.mark.requirement("C9.6")
ACROSS_REPLICAS = pytest.mark.catalogue(
    scope="integration", strategy="example-based, load", tool="pytest, multiprocessing, SQLite"
)
EDGE_CASE = pytest.mark.requirement("C9.10")


def test_token_buckets_refill_over_time_and_say_how_long_to_wait(tmp_path):
    now = [0.0]
    buckets = SharedTokenBuckets(tmp_path / "l.sqlite3", "requests", clock=lambda: now[0])
    assert [buckets.take("c", 1, 2, 10) for _ in range(2)] == [0.0, 0.0]
    wait = buckets.take("c", 1, 2, 10)
    assert wait == pytest.approx(5.0)
    assert retry_after_header(wait) == {"Retry-After": "5"}
    now[0] = 5.0
    assert buckets.take("c", 1, 2, 10) == 0.0
    assert buckets.take("other", 1, 2, 10) == 0.0  # clients do not share a bucket


def test_a_cost_larger_than_the_limit_can_never_pass(tmp_path):
    assert SharedTokenBuckets(tmp_path / "l.sqlite3", "rows").take("c", 11, 10, 60) == 60


def _spend(path: str, name: str, attempts: int, out) -> None:
    buckets = SharedTokenBuckets(Path(path), name)
    out.put(sum(buckets.take("client", 1, 12, 3600) == 0 for _ in range(attempts)))


@ACROSS_REPLICAS
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


@ACROSS_REPLICAS
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


@ACROSS_REPLICAS
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


@ACROSS_REPLICAS
def test_the_service_gets_its_three_limits_from_one_shared_file(tmp_path):
    limits = shared_buckets(tmp_path / "limits.sqlite3")
    assert sorted(limits) == ["requests", "rows", "token_attempts"]
    assert all(isinstance(b, SharedTokenBuckets) for b in limits.values())


@EDGE_CASE
def test_a_full_bucket_is_forgotten_when_the_file_is_pruned(tmp_path):
    now = [0.0]
    buckets = SharedTokenBuckets(tmp_path / "l.sqlite3", "requests", clock=lambda: now[0])
    buckets.PRUNE_EVERY = 2
    buckets.take("a", 1, 1, 60)
    now[0] = 120.0  # "a" has refilled: a bucket as good as none
    buckets.take("b", 1, 1, 60)
    keys = {k for (k,) in buckets._db.execute("SELECT key FROM buckets")}
    assert keys == {"requests:b"}
    buckets.close()


@EDGE_CASE
def test_retry_after_is_at_least_one_second_and_rounded_up():
    assert retry_after_header(0.01) == {"Retry-After": "1"} and retry_after_header(2.1) == {"Retry-After": "3"}


@FAULTS
@THROUGH_THE_API
def test_a_client_over_its_request_rate_gets_429_with_retry_after(api):
    for _ in range(3):
        assert api.client.get("/v1/model", headers=api.headers("limited")).status_code == 200
    r = api.client.get("/v1/model", headers=api.headers("limited"))
    body = problem(r, 429)
    assert body["type"].endswith("/rate-limited") and int(r.headers["retry-after"]) >= 1
    assert api.client.get("/v1/model", headers=api.headers("clinic")).status_code == 200  # others unaffected


@FAULTS
@THROUGH_THE_API
def test_a_client_over_its_row_quota_gets_429_quota_exceeded(api):
    assert api.predict("quota", n=4).status_code == 200
    r = api.predict("quota", n=2)
    assert problem(r, 429)["type"].endswith("/quota-exceeded") and int(r.headers["retry-after"]) >= 1


@FAULTS
@THROUGH_THE_API
def test_a_batch_bigger_than_the_whole_row_quota_says_to_wait_a_full_window(api):
    r = api.predict("quota", n=6)
    problem(r, 429)
    assert r.headers["retry-after"] == "3600"
