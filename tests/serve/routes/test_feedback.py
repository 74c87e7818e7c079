"""POST /v1/feedback (C9.2, C9.5): once per prediction, by its owner, on disk before the 201.

On both transports; the database is read over a connection of its own, as another process would.
"""

from __future__ import annotations

import sqlite3

import pytest
from api_support import problem

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: POST /v1/feedback",
        scope="integration",
        strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


def _made(http, client_id="clinic"):
    r = http.predict(client_id)
    assert r.status_code == 200, r.text
    return r.json()["predictions"][0]["prediction_id"]


def _feedback(http, pid, label="malignant", client_id="clinic"):
    return http.client.post(
        "/v1/feedback", json={"prediction_id": pid, "label": label}, headers=http.headers(client_id)
    )


def _stored(http, pid):
    """The stored feedback row, read over a read-only connection of its own."""
    with sqlite3.connect(f"file:{http.db_path}?mode=ro", uri=True) as db:
        return db.execute("SELECT label, client_id FROM feedback WHERE prediction_id = ?", (pid,)).fetchone()


def test_feedback_is_recorded_once_and_answered_201(http):
    pid = _made(http)
    r = _feedback(http, pid)
    assert r.status_code == 201, r.text
    assert r.json()["prediction_id"] == pid and r.json()["label"] == "malignant" and r.json()["recorded_at"]


def test_feedback_is_on_disk_before_the_201(http):
    pid = _made(http)
    assert _feedback(http, pid, "benign").status_code == 201
    # The row is committed, not buffered.
    assert _stored(http, pid) == ("benign", "clinic")


def test_feedback_shows_on_the_prediction_read_back(http):
    pid = _made(http)
    _feedback(http, pid, "benign")
    r = http.client.get(f"/v1/predictions/{pid}", headers=http.headers("clinic"))
    assert r.json()["feedback_label"] == "benign"


def test_a_second_feedback_is_refused_with_409_and_the_first_is_kept(http):
    pid = _made(http)
    _feedback(http, pid, "malignant")
    assert problem(_feedback(http, pid, "benign"), 409)["type"].endswith("/feedback-exists")
    assert _stored(http, pid)[0] == "malignant"


def test_the_store_keeps_the_first_feedback(api):
    """In process only: read through the service's own store."""
    pid = _made(api)
    _feedback(api, pid, "malignant")
    problem(_feedback(api, pid, "benign"), 409)
    assert api.store.get_prediction(pid)[1] == "malignant"
    other = _made(api)
    problem(_feedback(api, other, client_id="other-clinic"), 404)
    assert api.store.get_prediction(other)[1] is None


def test_feedback_on_another_clients_prediction_gets_404_and_stores_nothing(http):
    pid = _made(http)
    problem(_feedback(http, pid, client_id="other-clinic"), 404)
    assert _stored(http, pid) is None


def test_feedback_on_an_unknown_prediction_gets_404(http):
    problem(_feedback(http, "0" * 32, "benign"), 404)


def test_feedback_with_a_label_outside_the_contract_gets_422_naming_label(http):
    pid = _made(http)
    assert problem(_feedback(http, pid, "unsure"), 422)["invalid_params"][0]["name"] == "label"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"prediction_id": "0" * 32, "label": "unsure"}, "label"),
        ({"prediction_id": "short", "label": "benign"}, "prediction_id"),
        ({"label": "benign"}, "prediction_id"),
        ({"prediction_id": "0" * 32, "label": "benign", "note": "x"}, "note"),
    ],
)
def test_an_invalid_feedback_body_is_422_naming_the_field(http, body, field):
    r = http.client.post("/v1/feedback", json=body, headers=http.headers("clinic"))
    assert field in [p["name"] for p in problem(r, 422)["invalid_params"]]


def test_feedback_without_a_token_is_401(http):
    r = http.client.post("/v1/feedback", json={"prediction_id": "0" * 32, "label": "benign"})
    problem(r, 401)
    assert "www-authenticate" in r.headers


def test_feedback_with_an_invalid_token_is_401(http):
    r = http.client.post(
        "/v1/feedback", json={"prediction_id": "0" * 32, "label": "benign"}, headers={"Authorization": "Bearer x.y.z"}
    )
    problem(r, 401)


def test_feedback_needs_the_feedback_scope(http):
    pid = _made(http, "predict-only")
    assert problem(_feedback(http, pid, "benign", client_id="predict-only"), 403)["error"] == "insufficient_scope"
    assert _stored(http, pid) is None
