"""Faults and overload (C9.3 API4, C9.6): 503 instead of a hang, recovery, durable feedback.

The first tests run the API in-process with a model that is too slow or gone, to show the
answers; the last one kills the live model replica under load.
"""
import asyncio
import os
import signal
import sqlite3
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from modelship.contract import load_contract
from serve.api import create_api
from serve.auth import AuthService, AuthSettings
from serve.model import ModelUnavailable
from serve.service import build_service
from support import write_params
from tests.api.builders import CONTRACT, sample_records
from tests.api.conftest import problem_of
from tests.serve.api.inproc_support import settings_of

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.6"),
    pytest.mark.catalogue(
        part="API under faults: slow or missing model, unexpected error, replica killed under load",
        scope="integration", strategy="fault injection",
        tool="pytest + httpx; API app in-process, live Ray Serve for the replica kill",
    ),
]


class SlowModel:
    async def predict(self, rows):
        await asyncio.sleep(5)

    async def card(self):
        await asyncio.sleep(5)

    async def refresh(self):
        return "v0001"

    async def ready(self):
        await asyncio.sleep(5)
        return True


class GoneModel:
    """What the ingress sees when the model deployment sheds load (max_queued_requests) or died."""

    async def predict(self, rows):
        raise ModelUnavailable("BackPressureError")

    async def card(self):
        raise ModelUnavailable("ActorDiedError")

    async def refresh(self):
        raise ModelUnavailable("ActorDiedError")

    async def ready(self):
        raise ModelUnavailable("ActorDiedError")


@pytest.fixture(scope="module")
def local_auth(tmp_path_factory):
    state = tmp_path_factory.mktemp("fault-state")
    auth = AuthService(AuthSettings(state_dir=state))
    secret = auth.create_client("c", ["predict", "monitor"])
    token = auth.issue("client_credentials", client_id="c", client_secret=secret).access_token
    return state, auth, {"Authorization": f"Bearer {token}"}


def _app(tmp_path, local_auth, backend):
    state, auth, _ = local_auth
    params = write_params(tmp_path / "params.yaml", registry=str(tmp_path / "reg"), contract=str(CONTRACT))
    settings = settings_of(params=str(params), state_dir=str(state), data_dir=str(tmp_path), predict_timeout_s=0.3)
    contract = load_contract(CONTRACT)
    return TestClient(create_api(settings, contract, build_service(settings, backend, contract)))


def test_a_model_slower_than_the_timeout_gives_503_with_retry_after_not_a_hang(tmp_path, local_auth):
    client = _app(tmp_path, local_auth, SlowModel())
    start = time.monotonic()
    r = client.post("/v1/predict", json={"records": sample_records(1)}, headers=local_auth[2])
    assert time.monotonic() - start < 3
    problem_of(r, 503)
    assert r.headers["retry-after"] == "1"


def test_a_model_shedding_load_gives_503_problem(tmp_path, local_auth):
    client = _app(tmp_path, local_auth, GoneModel())
    r = client.post("/v1/predict", json={"records": sample_records(1)}, headers=local_auth[2])
    assert "retry" in problem_of(r, 503)["detail"]
    problem_of(client.get("/v1/model", headers=local_auth[2]), 503)


class BrokenModel(GoneModel):
    async def predict(self, rows):
        raise RuntimeError("an internal detail that must not reach the client")


def test_an_unexpected_error_is_a_500_problem_without_internals(tmp_path, local_auth):
    state, auth, headers = local_auth
    client = _app(tmp_path, local_auth, BrokenModel())
    client = TestClient(client.app, raise_server_exceptions=False)
    r = client.post("/v1/predict", json={"records": sample_records(1)}, headers=headers)
    body = problem_of(r, 500)
    assert "internal detail" not in r.text and "RuntimeError" not in r.text
    assert "retry later" in body["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_readiness_is_503_while_the_model_does_not_answer(tmp_path, local_auth):
    for backend in (SlowModel(), GoneModel()):
        client = _app(tmp_path, local_auth, backend)
        problem_of(client.get("/health/ready"), 503)
        assert client.get("/health/live").status_code == 200


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
                    r = c.post("/v1/predict", json={"records": sample_records(1, offset=offset + i)},
                               headers=headers)
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
                t > killed_at + 0.5 and code == 200 for t, code in statuses[-20:]):
            time.sleep(0.1)
        recovery_s = time.monotonic() - killed_at
        # Serve replaces the replica; the service keeps its number of replicas.
        while time.monotonic() < deadline and (
                len(now := served.replica_pids(served.model_deployment)) < len(replicas) or victim in now):
            time.sleep(0.5)
        replaced_s = time.monotonic() - killed_at
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=90)
    codes = [code for _, code in statuses]
    print(f"\nreplica killed ({len(replicas)} replicas); predictions succeeded again after "
          f"{recovery_s:.1f} s, replacement running after {replaced_s:.1f} s; {len(codes)} predictions "
          f"({codes.count(503)} answered 503, {codes.count(0)} connections lost: {sorted(set(lost))}), "
          f"{len(acknowledged)} feedback stored")
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
