"""The feedback outbox: queued with the diagnosis, sent once, retried later with a back-off,
kept off by a second sender while claimed; through the real API client and a real HTTP server
(tests/stub_api.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from pathlab import assessments, cases, db, diagnoses, outbox
from pathlab.model_api import ModelApi
from pathlab.settings import ModelApiSettings, Settings
from stub_api import CLIENT_ID, SECRET, Injected, Stub, stub_api

pytestmark = [
    pytest.mark.requirement("C10.4"),
    pytest.mark.catalogue(
        part="Lab app: the feedback outbox (never lost, never sent twice)",
        scope="unit",
        strategy="fault injection",
        tool="pytest, SQLite, http.server, httpx",
    ),
]


@pytest.fixture
def stub() -> Iterator[Stub]:
    with stub_api() as s:
        yield s


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


@pytest.fixture
def api(stub: Stub, portal: BlockingPortal) -> Iterator[ModelApi]:
    settings = ModelApiSettings(enabled=True, base_url=stub.url, client_id=CLIENT_ID)
    client = portal.call(_make, settings)
    yield client
    portal.call(client.aclose)


async def _make(settings: ModelApiSettings) -> ModelApi:
    return ModelApi(settings, SECRET)  # created on the portal's loop, where it is used


def _diagnosed(
    settings: Settings, portal: BlockingPortal, api: ModelApi, accession: str
) -> tuple[sqlite3.Connection, str]:
    conn = db.open_database(settings.database.path)
    case = cases.get_case(conn, accession)
    assert case is not None
    prediction = portal.call(api.predict, {m.name: m.value for m in case.measurements})
    assessments.store(conn, case.id, accession, prediction, "tester")
    diagnoses.record(
        conn,
        case_id=case.id,
        accession=accession,
        diagnosis="benign",
        comment="",
        reason="",
        username="tester",
        based_on=None,
        prediction_id=prediction.prediction_id,
    )
    return conn, prediction.prediction_id


def _accession(settings: Settings, index: int) -> str:
    conn = db.open_database(settings.database.path)
    try:
        return str(conn.execute("SELECT accession FROM cases ORDER BY id LIMIT 1 OFFSET ?", (index,)).fetchone()[0])
    finally:
        conn.close()


def test_waits_while_the_service_is_down_then_is_sent_once(
    settings: Settings, stub: Stub, portal: BlockingPortal, api: ModelApi
) -> None:
    conn, pid = _diagnosed(settings, portal, api, _accession(settings, 0))

    def send(p: str, label: str) -> object:
        return portal.call(api.feedback, p, label)

    stub.state.inject["/v1/feedback"] = [Injected(503, {"Retry-After": "30"})]
    assert outbox.flush(conn, send, clock=lambda: 1000.0) == 0
    entry = outbox.for_case(conn, conn.execute("SELECT case_id FROM feedback_outbox").fetchone()[0])
    assert entry is not None and entry.state == "pending" and entry.attempts == 1
    # not due before Retry-After: nothing is sent
    assert outbox.flush(conn, send, clock=lambda: 1020.0) == 0
    assert stub.state.count("/v1/feedback") == 1
    assert outbox.flush(conn, send, clock=lambda: 1031.0) == 1
    assert stub.state.feedback[pid] == "benign"
    assert outbox.flush(conn, send, clock=lambda: 5000.0) == 0
    assert stub.state.count("/v1/feedback") == 2  # the refused attempt, the accepted one; no third
    assert outbox.pending_count(conn) == 0


def test_an_answer_lost_on_the_way_back_is_not_sent_twice(
    settings: Settings, stub: Stub, portal: BlockingPortal, api: ModelApi
) -> None:
    conn, pid = _diagnosed(settings, portal, api, _accession(settings, 1))
    stub.state.feedback[pid] = "benign"  # the service recorded it; the app never heard the 201
    assert outbox.flush(conn, lambda p, label: portal.call(api.feedback, p, label)) == 1
    assert conn.execute("SELECT state FROM feedback_outbox WHERE prediction_id = ?", (pid,)).fetchone()[0] == "sent"


def test_an_unknown_prediction_is_refused_and_kept_with_the_reason(
    settings: Settings, stub: Stub, portal: BlockingPortal, api: ModelApi
) -> None:
    conn, pid = _diagnosed(settings, portal, api, _accession(settings, 2))
    stub.state.predictions.pop(pid)
    outbox.flush(conn, lambda p, label: portal.call(api.feedback, p, label))
    state, error = conn.execute(
        "SELECT state, last_error FROM feedback_outbox WHERE prediction_id = ?", (pid,)
    ).fetchone()
    assert state == "refused" and "does not know this prediction" in error


def test_a_claimed_row_is_left_to_its_sender(
    settings: Settings, stub: Stub, portal: BlockingPortal, api: ModelApi
) -> None:
    conn, pid = _diagnosed(settings, portal, api, _accession(settings, 3))
    other = db.open_database(settings.database.path)  # a second process's connection
    try:
        assert outbox._claim(other, 1000.0, None) == [(pid, "benign")]
        assert outbox.flush(conn, lambda p, label: portal.call(api.feedback, p, label), clock=lambda: 1001.0) == 0
        assert stub.state.count("/v1/feedback") == 0
    finally:
        other.close()


def test_a_change_before_sending_replaces_the_label(
    settings: Settings, stub: Stub, portal: BlockingPortal, api: ModelApi
) -> None:
    conn, pid = _diagnosed(settings, portal, api, _accession(settings, 4))
    with db.transaction(conn):
        outbox.enqueue(conn, prediction_id=pid, case_id=0, label="malignant")
    assert tuple(conn.execute("SELECT COUNT(*), MAX(label) FROM feedback_outbox").fetchone()) == (1, "malignant")
