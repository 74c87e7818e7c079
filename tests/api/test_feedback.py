"""POST /v1/feedback (C9.2, C9.5): once per prediction, by its owner, durable before the 201."""
import sqlite3

import pytest

from tests.api.builders import sample_records
from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: POST /v1/feedback",
        scope="system", strategy="example-based", tool="pytest + httpx, live Ray Serve",
    ),
]


def _predict(served, client_id="clinic", offset=0):
    with served.client() as c:
        r = c.post("/v1/predict", json={"records": sample_records(1, offset=offset)}, headers=served.headers(client_id))
    assert r.status_code == 200, r.text
    return r.json()["predictions"][0]["prediction_id"]


def _stored(served, pid):
    with sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True) as db:
        return db.execute("SELECT label, client_id FROM feedback WHERE prediction_id = ?", (pid,)).fetchone()


def test_the_owner_records_the_confirmed_label_and_it_is_stored_before_the_answer(api, served):
    pid = _predict(served)
    r = api.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=served.headers("clinic"))
    assert r.status_code == 201, r.text
    assert r.json()["prediction_id"] == pid and r.json()["label"] == "benign"
    assert _stored(served, pid) == ("benign", "clinic")


def test_the_feedback_shows_on_the_prediction(api, served):
    pid = _predict(served)
    api.post("/v1/feedback", json={"prediction_id": pid, "label": "malignant"}, headers=served.headers("clinic"))
    assert api.get(f"/v1/predictions/{pid}", headers=served.headers("clinic")).json()["feedback_label"] == "malignant"


def test_a_second_feedback_for_the_same_prediction_is_409_and_keeps_the_first(api, served):
    pid = _predict(served)
    api.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=served.headers("clinic"))
    r = api.post("/v1/feedback", json={"prediction_id": pid, "label": "malignant"}, headers=served.headers("clinic"))
    problem_of(r, 409)
    assert _stored(served, pid)[0] == "benign"


def test_feedback_on_another_clients_prediction_is_404(api, served):
    pid = _predict(served)
    r = api.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=served.headers("other-clinic"))
    problem_of(r, 404)
    assert _stored(served, pid) is None


def test_feedback_on_an_unknown_prediction_is_404(api, served):
    r = api.post("/v1/feedback", json={"prediction_id": "0" * 32, "label": "benign"}, headers=served.headers("clinic"))
    problem_of(r, 404)


@pytest.mark.parametrize("body,field", [
    ({"prediction_id": "0" * 32, "label": "unsure"}, "label"),
    ({"prediction_id": "short", "label": "benign"}, "prediction_id"),
    ({"label": "benign"}, "prediction_id"),
    ({"prediction_id": "0" * 32, "label": "benign", "note": "x"}, "note"),
])
def test_an_invalid_feedback_body_is_422_naming_the_field(api, served, body, field):
    r = api.post("/v1/feedback", json=body, headers=served.headers("clinic"))
    assert field in [p["name"] for p in problem_of(r, 422)["invalid_params"]]


def test_feedback_without_a_token_is_401(api):
    r = api.post("/v1/feedback", json={"prediction_id": "0" * 32, "label": "benign"})
    problem_of(r, 401)
    assert "www-authenticate" in r.headers


def test_feedback_with_an_invalid_token_is_401(api):
    r = api.post("/v1/feedback", json={"prediction_id": "0" * 32, "label": "benign"},
                 headers={"Authorization": "Bearer x.y.z"})
    problem_of(r, 401)


def test_feedback_without_the_feedback_scope_is_403(api, served):
    pid = _predict(served, "predict-only")
    r = api.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=served.headers("predict-only"))
    assert problem_of(r, 403)["error"] == "insufficient_scope"
