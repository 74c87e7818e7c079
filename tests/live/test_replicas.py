"""Several ingress replicas behave as one service (C9.1, C9.2).

serve/config.yaml runs two Ingress replicas that listen on the same port (serve/shared_port.py);
the kernel hands each new connection to one of them. Each test opens a new connection per
request, so its requests land on both replicas (eight connections all on one replica: 1 in 128).
"""

import pytest
from api_support import sample_records

from modelship.registry import Registry

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.2"),
    pytest.mark.catalogue(
        part="Service: two ingress replicas on one port",
        scope="system",
        strategy="example-based",
        tool="pytest + httpx, live Ray Serve",
    ),
]

CONNECTIONS = 8


def _fresh(served, method, path, client_id, **kwargs):
    """One request on a connection of its own."""
    with served.client() as c:
        return c.request(method, path, headers=served.headers(client_id), **kwargs)


def test_every_ingress_replica_listens_on_the_service_port(served):
    replicas = served.replica_pids("Ingress")
    assert len(replicas) == 2
    assert served.listening_pids() == set(replicas)


def test_a_prediction_is_readable_at_once_from_every_replica(served):
    r = _fresh(served, "POST", "/v1/predict", "clinic", json={"records": sample_records(1, offset=7100)})
    assert r.status_code == 200, r.text
    pid = r.json()["predictions"][0]["prediction_id"]
    for _ in range(CONNECTIONS):
        got = _fresh(served, "GET", f"/v1/predictions/{pid}", "clinic")
        assert got.status_code == 200, got.text
        assert got.json()["prediction_id"] == pid
    # And still invisible to another client, on whichever replica.
    for _ in range(CONNECTIONS // 2):
        assert _fresh(served, "GET", f"/v1/predictions/{pid}", "other-clinic").status_code == 404


def test_feedback_right_after_the_prediction_is_accepted_whichever_replica_takes_it(served):
    for k in range(CONNECTIONS // 2):
        r = _fresh(served, "POST", "/v1/predict", "clinic", json={"records": sample_records(1, offset=7200 + k)})
        pid = r.json()["predictions"][0]["prediction_id"]
        f = _fresh(served, "POST", "/v1/feedback", "clinic", json={"prediction_id": pid, "label": "benign"})
        assert f.status_code == 201, f.text


@pytest.mark.slow
def test_after_a_switch_no_replica_answers_with_the_old_version(served):
    registry = Registry(served.registry_root)
    start = registry.production()
    target = "v0002" if start != "v0002" else "v0001"
    try:
        r = _fresh(
            served,
            "POST",
            "/v1/admin/model",
            "admin",
            json={"action": "activate", "version": target, "reason": "replica consistency test"},
        )
        assert r.status_code == 200, r.text
        versions = {
            _fresh(served, "POST", "/v1/predict", "switcher", json={"records": sample_records(1)}).json()[
                "model_version"
            ]
            for _ in range(CONNECTIONS)
        }
        cards = {_fresh(served, "GET", "/v1/model", "monitor").json()["version"] for _ in range(CONNECTIONS)}
        assert versions == {target} and cards == {target}
    finally:
        registry.promote(start, actor="tests", reason="replica consistency test: restore")
    # A switch made outside the API (the CLI) reaches every replica before its next answer too.
    versions = {
        _fresh(served, "POST", "/v1/predict", "switcher", json={"records": sample_records(1)}).json()["model_version"]
        for _ in range(CONNECTIONS)
    }
    assert versions == {start}
