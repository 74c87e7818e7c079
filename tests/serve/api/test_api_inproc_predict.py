"""Predict, read back and feedback in-process: POST /v1/predict, GET /v1/predictions/{id}, POST /v1/feedback (C9.2, C9.3, C9.5).

The real model scores the records; the real SQLite store keeps predictions and feedback.
"""
from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from tests.api.builders import sample_records, training_data
from tests.serve.api.inproc_support import problem

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.5"),
    pytest.mark.catalogue(
        part="API in-process: POST /v1/predict, GET /v1/predictions/{id}, POST /v1/feedback",
        scope="integration", strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


def test_one_record_is_scored_with_label_probability_threshold_and_version(api):
    r = api.predict("clinic")
    assert r.status_code == 200, r.text
    body = r.json()
    (p,) = body["predictions"]
    assert body["model_version"] == p["model_version"] == "v0001" and body["positive_label"] == "malignant"
    assert 0 <= p["probability"] <= 1 and p["threshold"] == 0.3
    assert p["label"] == ("malignant" if p["probability"] >= p["threshold"] else "benign")
    assert "does not replace" in body["notice"]


def test_the_probabilities_are_the_models_own(api):
    X, _, _ = training_data()
    expected = api.service.backend.holder.current.model.predict_proba(X[:3])[:, 1]
    got = [p["probability"] for p in api.predict("clinic", n=3).json()["predictions"]]
    assert np.allclose(got, expected)


def test_many_records_get_one_prediction_each_with_distinct_ids(api):
    preds = api.predict("clinic", n=7).json()["predictions"]
    assert len(preds) == 7 and len({p["prediction_id"] for p in preds}) == 7


def test_a_batch_over_the_cap_is_refused_with_422_naming_records(make_api):
    api = make_api(max_batch_rows=3)
    body = problem(api.predict("clinic", n=4), 422)
    assert body["type"].endswith("/validation-error")
    assert [p["name"] for p in body["invalid_params"]] == ["records"]
    assert "3" in body["invalid_params"][0]["reason"]


def test_an_empty_batch_is_refused_with_422(api):
    r = api.client.post("/v1/predict", json={"records": []}, headers=api.headers("clinic"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "records"


def test_a_value_out_of_its_contract_range_is_refused_naming_the_field_and_bound(api):
    record = {**sample_records(1)[0], "mean_radius": 1e6}
    r = api.client.post("/v1/predict", json={"records": [record]}, headers=api.headers("clinic"))
    body = problem(r, 422)
    (param,) = body["invalid_params"]
    assert param["name"] == "records.0.mean_radius" and "50" in param["reason"]
    assert "records.0.mean_radius" in body["detail"]


def test_a_number_sent_as_a_string_is_refused_strict_types(api):
    record = {**sample_records(1)[0], "mean_radius": "12.5"}
    r = api.client.post("/v1/predict", json={"records": [record]}, headers=api.headers("clinic"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "records.0.mean_radius"


def test_a_boolean_is_not_a_number(api):
    record = {**sample_records(1)[0], "mean_texture": True}
    r = api.client.post("/v1/predict", json={"records": [record]}, headers=api.headers("clinic"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "records.0.mean_texture"


def test_a_missing_feature_is_named_as_required(api):
    record = sample_records(1)[0]
    del record["mean_area"]
    r = api.client.post("/v1/predict", json={"records": [record]}, headers=api.headers("clinic"))
    assert {"name": "records.0.mean_area", "reason": "this field is required"} in problem(r, 422)["invalid_params"]


def test_an_unknown_field_is_refused_without_echoing_its_value(api):
    record = {**sample_records(1)[0], "patient_name": "Jane Doe"}
    r = api.client.post("/v1/predict", json={"records": [record]}, headers=api.headers("clinic"))
    body = problem(r, 422)
    assert body["invalid_params"] == [{"name": "records.0.patient_name",
                                       "reason": "this field is not part of the schema; remove it"}]
    assert "Jane Doe" not in r.text


def test_a_body_that_is_not_json_is_a_problem_not_a_crash(api):
    r = api.client.post("/v1/predict", content=b"{oops", headers=api.headers("clinic", **{
        "Content-Type": "application/json"}))
    assert problem(r, 422)["type"].endswith("/validation-error")


def test_a_body_declared_as_another_media_type_is_415(api):
    body = json.dumps({"records": sample_records(1)}).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = api.client.post("/v1/predict", content=body, headers=api.headers("clinic", **{"Content-Type": ctype}))
        assert problem(r, 415)["type"].endswith("/unsupported-media-type"), ctype
    r = api.client.post("/v1/feedback", content=b'{"prediction_id": "x", "label": "benign"}',
                        headers=api.headers("clinic", **{"Content-Type": "text/plain"}))
    problem(r, 415)


def test_json_without_a_content_type_or_with_a_charset_is_read(api):
    body = json.dumps({"records": sample_records(1)}).encode()
    for extra in ({}, {"Content-Type": "application/json; charset=utf-8"}):
        r = api.client.post("/v1/predict", content=body, headers=api.headers("clinic", **extra))
        assert r.status_code == 200, (extra, r.text)


def test_errors_found_while_parsing_name_the_field_as_before(api):
    bad = sample_records(2)
    bad[1]["mean_radius"] = True
    r = api.client.post("/v1/predict", content=json.dumps({"records": bad}).encode(),
                        headers=api.headers("clinic", **{"Content-Type": "application/json"}))
    assert [p["name"] for p in problem(r, 422)["invalid_params"]] == ["records.1.mean_radius"]
    r = api.client.post("/v1/predict", content=b"", headers=api.headers("clinic"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "body"


def test_predict_needs_the_predict_scope(api):
    assert problem(api.predict("feedback-only"), 403)["error"] == "insufficient_scope"


def test_the_owner_reads_a_prediction_back_with_its_features(api):
    sent = sample_records(1, offset=5)[0]
    made = api.client.post("/v1/predict", json={"records": [sent]}, headers=api.headers("clinic")).json()
    pid = made["predictions"][0]["prediction_id"]
    r = api.client.get(f"/v1/predictions/{pid}", headers=api.headers("clinic"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prediction_id"] == pid and body["features"] == sent and body["feedback_label"] is None
    assert body["probability"] == made["predictions"][0]["probability"] and body["created_at"]


def test_a_prediction_is_read_back_from_the_database_after_the_flush(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    assert api.store.flush() == 1
    r = api.client.get(f"/v1/predictions/{pid}", headers=api.headers("clinic"))
    assert r.status_code == 200 and r.json()["model_version"] == "v0001"


def test_another_client_gets_404_for_a_prediction_it_did_not_make(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    r = api.client.get(f"/v1/predictions/{pid}", headers=api.headers("other-clinic"))
    assert problem(r, 404)["type"].endswith("/not-found")


def test_an_unknown_prediction_id_gets_404(api):
    assert problem(api.client.get("/v1/predictions/" + "0" * 32, headers=api.headers("clinic")), 404)


def test_a_malformed_prediction_id_gets_422_naming_the_path_parameter(api):
    r = api.client.get("/v1/predictions/not-an-id", headers=api.headers("clinic"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "prediction_id"


def _feedback(api, pid, label="malignant", client_id="clinic"):
    return api.client.post("/v1/feedback", json={"prediction_id": pid, "label": label},
                           headers=api.headers(client_id))


def test_feedback_is_recorded_once_and_answered_201(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    r = _feedback(api, pid)
    assert r.status_code == 201, r.text
    assert r.json()["prediction_id"] == pid and r.json()["label"] == "malignant" and r.json()["recorded_at"]


def test_feedback_is_on_disk_before_the_201(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    _feedback(api, pid, "benign")
    # Another connection, as another process would: the row is committed, not buffered.
    with sqlite3.connect(api.settings.paths.store) as db:
        assert db.execute("SELECT label, client_id FROM feedback WHERE prediction_id = ?",
                          (pid,)).fetchone() == ("benign", "clinic")


def test_feedback_shows_on_the_prediction_read_back(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    _feedback(api, pid, "benign")
    assert api.client.get(f"/v1/predictions/{pid}", headers=api.headers("clinic")).json()["feedback_label"] == "benign"


def test_a_second_feedback_is_refused_with_409_and_the_first_is_kept(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    _feedback(api, pid, "malignant")
    assert problem(_feedback(api, pid, "benign"), 409)["type"].endswith("/feedback-exists")
    assert api.store.get_prediction(pid)[1] == "malignant"


def test_feedback_on_another_clients_prediction_gets_404(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    problem(_feedback(api, pid, client_id="other-clinic"), 404)
    assert api.store.get_prediction(pid)[1] is None


def test_feedback_with_a_label_outside_the_contract_gets_422_naming_label(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    assert problem(_feedback(api, pid, "unsure"), 422)["invalid_params"][0]["name"] == "label"


def test_feedback_needs_the_feedback_scope(api):
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    problem(_feedback(api, pid, client_id="predict-only"), 403)
