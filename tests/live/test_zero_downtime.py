"""A model version switch under load fails no request (C9.2, C13.9).

Clients keep predicting while production moves v0001 -> v0002 through the admin endpoint and
back through the registry's own rollback (as `make rollback` does): every request answers 200
and the version field follows the switch.
"""

import threading
import time

import pytest
from api_support import sample_records

from modelship.registry import Registry

pytestmark = [
    pytest.mark.requirement("C9.2", "C13.9"),
    pytest.mark.catalogue(
        part="Service: model version switch under load",
        scope="system",
        strategy="load",
        tool="pytest + httpx, live Ray Serve",
    ),
]


def _wait_version(served, version, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    with served.client() as c:
        while time.monotonic() < deadline:
            if c.get("/v1/model", headers=served.headers("monitor")).json()["version"] == version:
                return
            time.sleep(0.1)
    raise AssertionError(f"replicas did not switch to {version} within {timeout_s} s")


@pytest.mark.slow
def test_switching_versions_under_load_fails_no_request(served):
    registry = Registry(served.registry_root)
    if registry.production() != "v0001":
        registry.promote("v0001", actor="tests", reason="zero-downtime test start")
        _wait_version(served, "v0001")
    headers = served.headers("switcher")
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def client_loop():
        with served.client() as c:
            while not stop.is_set():
                r = c.post("/v1/predict", json={"records": sample_records(2)}, headers=headers)
                results.append((r.status_code, r.json().get("model_version") if r.status_code == 200 else r.text))

    threads = [threading.Thread(target=client_loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        with served.client() as c:
            r = c.post(
                "/v1/admin/model",
                json={"action": "activate", "version": "v0002", "reason": "zero-downtime test"},
                headers=served.headers("admin"),
            )
        assert r.status_code == 200, r.text
        time.sleep(1.5)
        registry.rollback(actor="tests", reason="zero-downtime test: rollback outside the API")
        _wait_version(served, "v0001")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)

    failures = [r for r in results if r[0] != 200]
    assert failures == [], failures[:5]
    assert len(results) > 30
    versions = [v for _, v in results]
    # The version field follows the switch: v0001, then v0002, then v0001 again.
    first_v2 = versions.index("v0002")
    assert "v0001" in versions[:first_v2]
    assert "v0001" in versions[first_v2:]
    assert registry.production() == "v0001"
