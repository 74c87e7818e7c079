"""Assess with the model, the feedback outbox and the model page, through the served app and a
real HTTP server that answers as the model's API (tests/stub_api.py): stored assessments are
shown again without a call, a service that is down, slow or refusing gets a clear message
and loses nothing typed, and feedback is sent once, now or later."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pathlab.settings import PROJECT_DIR
from stub_api import CLIENT_ID, SECRET, Injected, Stub, stub_api
from support import LiveApp, add_user, csrf_token, init_db, serve, write_settings

pytestmark = [
    pytest.mark.requirement("C10.2", "C10.4", "C10.5"),
    pytest.mark.catalogue(
        part="Lab app: assessment by the model, feedback outbox, model page",
        scope="integration",
        strategy="fault injection",
        tool="pytest, httpx, uvicorn, http.server",
    ),
]

CASES = [c["accession"] for c in json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text())["cases"]]


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    with stub_api() as s:
        yield s


@pytest.fixture(scope="module")
def app(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    folder = tmp_path_factory.mktemp("assess")
    (folder / "secret").write_text(SECRET, encoding="utf-8")
    path = write_settings(
        folder,
        model_api={
            "enabled": True,
            "base_url": stub.url,
            "client_id": CLIENT_ID,
            "secret_file": str(folder / "secret"),
            "timeout_s": 1.0,
            "outbox_interval_s": 0.3,
        },
    )
    settings = init_db(path)
    add_user(settings, "paula", "Paula Rossi")
    with serve(path) as live:
        yield live


@pytest.fixture
def client(app: LiveApp) -> Iterator[httpx.Client]:
    c = app.sign_in("paula")
    yield c
    c.close()


def _assess(client: httpx.Client, accession: str, **typed: str) -> httpx.Response:
    token = csrf_token(client, f"/cases/{accession}")
    return client.post(f"/cases/{accession}/assess", data={"csrf_token": token, "based_on": "", **typed})


def _db(app: LiveApp) -> sqlite3.Connection:
    conn = sqlite3.connect(app.settings.database.path)
    conn.row_factory = sqlite3.Row
    return conn


def test_assessment_is_shown_and_kept(app: LiveApp, stub: Stub, client: httpx.Client) -> None:
    accession = CASES[0]
    before = stub.state.count("/v1/predict")
    response = _assess(client, accession)
    assert response.status_code == 303
    page = client.get(f"/cases/{accession}").text
    assert "Probability of malignancy" in page and "Model version</dt><dd>v0007" in page
    assert "supports, and does not replace, the pathologist's diagnosis" in page
    assert re.search(r"<code>[0-9a-f]{32}</code>", page)
    assert stub.state.count("/v1/predict") == before + 1
    # reload, and even pressing the button again: the stored assessment, no new call
    client.get(f"/cases/{accession}")
    assert _assess(client, accession).status_code == 303
    assert stub.state.count("/v1/predict") == before + 1
    with _db(app) as conn:
        row = conn.execute("SELECT prediction_id FROM assessments a JOIN cases c ON c.id = a.case_id").fetchone()
    assert row["prediction_id"] in stub.state.predictions


@pytest.mark.parametrize(
    ("inject", "status", "words"),
    [
        (Injected(503, {"Retry-After": "4"}), 503, "starting, restarting or overloaded"),
        (Injected(429, {"Retry-After": "9"}), 503, "Wait 9 seconds"),
        (Injected(403), 502, "not allowed to make it"),
        (Injected(422, body={"status": 422, "detail": "bad", "invalid_params": []}), 502, "refused this case"),
    ],
)
def test_refusals_keep_what_was_typed(
    stub: Stub, client: httpx.Client, inject: Injected, status: int, words: str
) -> None:
    accession = CASES[1]
    stub.state.inject["/v1/predict"] = [inject]
    response = _assess(client, accession, diagnosis="benign", comment="typed before pressing assess")
    assert response.status_code == status
    assert 'role="alert"' in response.text and words in response.text
    assert "typed before pressing assess</textarea>" in response.text
    assert 'value="benign" checked' in response.text
    assert 'href="#assess">Try again' in response.text and 'id="assess"' in response.text
    if inject.headers.get("Retry-After"):
        assert response.headers["retry-after"] == inject.headers["Retry-After"]
    assert "<title>Error: Case" in response.text


def test_slow_service(stub: Stub, client: httpx.Client) -> None:
    stub.state.delay_s = 2.0
    try:
        response = _assess(client, CASES[2], comment="kept")
    finally:
        stub.state.delay_s = 0
    assert response.status_code == 503 and "did not answer in time" in response.text
    assert "kept</textarea>" in response.text


def test_diagnosis_feedback_is_sent_once(app: LiveApp, stub: Stub, client: httpx.Client) -> None:
    accession = CASES[3]
    _assess(client, accession)
    token = csrf_token(client, f"/cases/{accession}")
    response = client.post(
        f"/cases/{accession}/diagnosis", data={"csrf_token": token, "based_on": "", "diagnosis": "malignant"}
    )
    assert response.status_code == 303
    page = client.get(f"/cases/{accession}").text
    assert "It was sent to the model&#39;s service." in page and "Sent (malignant)" in page
    with _db(app) as conn:
        pid = conn.execute(
            "SELECT o.prediction_id FROM feedback_outbox o JOIN cases c ON c.id = o.case_id WHERE c.accession = ?",
            (accession,),
        ).fetchone()[0]
    assert stub.state.feedback[pid] == "malignant"
    assert stub.state.count("/v1/feedback", prediction_id=pid) == 1


def test_feedback_waits_for_the_service_and_is_sent_later_once(app: LiveApp, stub: Stub, client: httpx.Client) -> None:
    accession = CASES[4]
    _assess(client, accession)
    stub.state.inject["/v1/feedback"] = [Injected(503, {"Retry-After": "1"})]
    token = csrf_token(client, f"/cases/{accession}")
    response = client.post(
        f"/cases/{accession}/diagnosis", data={"csrf_token": token, "based_on": "", "diagnosis": "benign"}
    )
    assert response.status_code == 303
    assert "sends it later" in client.get(f"/cases/{accession}").text
    with _db(app) as conn:
        pid, state = conn.execute(
            "SELECT o.prediction_id, o.state FROM feedback_outbox o JOIN cases c ON c.id = o.case_id "
            "WHERE c.accession = ?",
            (accession,),
        ).fetchone()
    assert state == "pending" and pid not in stub.state.feedback
    deadline = time.monotonic() + 20
    while pid not in stub.state.feedback and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stub.state.feedback.get(pid) == "benign"
    time.sleep(1.0)  # further flushes of the outbox must not send it again
    assert stub.state.count("/v1/feedback", prediction_id=pid) == 2  # the refused attempt and the one accepted
    assert "Sent (benign)" in client.get(f"/cases/{accession}").text


def test_model_page(stub: Stub, client: httpx.Client) -> None:
    page = client.get("/model")
    assert page.status_code == 200
    assert "<h1>The model</h1>" in page.text and "v0007" in page.text and "98.0%" in page.text
    stub.state.inject["/v1/model"] = [Injected(503, {"Retry-After": "5"})]
    down = client.get("/model")
    assert down.status_code == 503 and 'role="alert"' in down.text and "Try again" in down.text


def test_switched_off(tmp_path: Path) -> None:
    path = write_settings(tmp_path)
    settings = init_db(path)
    add_user(settings, "olga")
    with serve(path) as live:
        c = live.sign_in("olga")
        page = c.get(f"/cases/{CASES[0]}").text
        assert "not set up for this app" in page and "Assess with the model" not in page
        assert c.get("/model").status_code == 503
