"""POST /v1/predict and GET /v1/predictions/{id} (C9.2, C9.3, C9.5).

The real model scores the records, the schema comes from the data contract, and a client reads
back only its own predictions; on both transports. The batch cap lowered for one test runs in
process only.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from api_support import CONTRACT, problem, sample_records, training_data

from modelship.contract import load_contract

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.5"),
    pytest.mark.catalogue(
        part="API: POST /v1/predict, GET /v1/predictions/{id}",
        scope="integration",
        strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]

CONTRACT_OBJ = load_contract(CONTRACT)


def _post(http, records, client_id="clinic"):
    return http.client.post("/v1/predict", json={"records": records}, headers=http.headers(client_id))


# -- POST /v1/predict ----------------------------------------------------------------------------


def test_one_record_is_scored_with_label_probability_threshold_id_and_version(http):
    r = http.predict("clinic")
    assert r.status_code == 200, r.text
    body = r.json()
    (p,) = body["predictions"]
    assert body["model_version"] == p["model_version"] == "v0001" and body["positive_label"] == "malignant"
    assert 0 <= p["probability"] <= 1 and p["threshold"] == 0.3
    assert p["label"] == ("malignant" if p["probability"] >= p["threshold"] else "benign")
    assert len(p["prediction_id"]) == 32
    assert "pathologist" in body["notice"] and "does not replace" in body["notice"]
    assert r.headers["cache-control"] == "no-store"


def test_many_records_get_one_prediction_each_in_order_with_the_models_own_probabilities(http):
    records = sample_records(10, offset=20)
    r = _post(http, records)
    preds = r.json()["predictions"]
    assert len(preds) == 10 and len({p["prediction_id"] for p in preds}) == 10
    model = http.registry.load(r.json()["model_version"]).model
    X = np.array([[rec[f] for f in CONTRACT_OBJ.feature_names] for rec in records])
    assert np.allclose([p["probability"] for p in preds], model.predict_proba(X)[:, 1])


def test_the_probabilities_are_the_models_own(api):
    """In process only: compared with the model object the service holds."""
    X, _, _ = training_data()
    expected = api.service.backend.holder.current.model.predict_proba(X[:3])[:, 1]
    got = [p["probability"] for p in api.predict("clinic", n=3).json()["predictions"]]
    assert np.allclose(got, expected)


def test_integers_are_accepted_as_numbers(http):
    record = {**sample_records(1)[0], "mean_area": 1000}
    assert _post(http, [record]).status_code == 200


def test_the_batch_cap_from_the_config_gives_422_naming_records(http):
    body = problem(http.predict("clinic", n=101), 422)
    assert body["invalid_params"][0]["name"] == "records"
    assert "100" in body["invalid_params"][0]["reason"]


def test_a_batch_over_a_lowered_cap_is_refused_with_422_naming_records(make_api):
    """In process only: the batch cap is lowered for this test."""
    api = make_api(max_batch_rows=3)
    body = problem(api.predict("clinic", n=4), 422)
    assert body["type"].endswith("/validation-error")
    assert [p["name"] for p in body["invalid_params"]] == ["records"]
    assert "3" in body["invalid_params"][0]["reason"]


def test_an_empty_batch_is_refused_with_422(http):
    assert problem(_post(http, []), 422)["invalid_params"][0]["name"] == "records"


@pytest.mark.parametrize("value,why", [(True, "a boolean"), ("1.5", "a string"), (None, "null"), ([1.0], "a list")])
def test_a_value_that_is_not_a_number_is_422_naming_the_field(http, value, why):
    record = {**sample_records(1)[0], "mean_radius": value}
    body = problem(_post(http, [record]), 422)
    assert [p["name"] for p in body["invalid_params"]] == ["records.0.mean_radius"], why


def test_a_boolean_is_not_a_number(http):
    record = {**sample_records(1)[0], "mean_texture": True}
    assert problem(_post(http, [record]), 422)["invalid_params"][0]["name"] == "records.0.mean_texture"


@pytest.mark.parametrize("value", [51.0, 1e6])
def test_a_value_out_of_its_contract_range_is_refused_naming_the_field_and_bound(http, value):
    record = {**sample_records(1)[0], "mean_radius": value}
    body = problem(_post(http, [record]), 422)
    (param,) = body["invalid_params"]
    assert param["name"] == "records.0.mean_radius" and "50" in param["reason"]
    assert "records.0.mean_radius" in body["detail"]


def test_not_a_number_is_refused(http):
    text = json.dumps({"records": sample_records(1)}).replace('"mean_radius": 17.99', '"mean_radius": NaN')
    r = http.client.post(
        "/v1/predict", content=text, headers=http.headers("clinic", **{"Content-Type": "application/json"})
    )
    problem(r, 422)


def test_a_missing_feature_is_named_as_required(http):
    record = sample_records(1)[0]
    del record["worst_area"]
    body = problem(_post(http, [record]), 422)
    assert body["invalid_params"] == [{"name": "records.0.worst_area", "reason": "this field is required"}]


def test_an_unknown_field_is_refused_without_echoing_its_value(http):
    record = {**sample_records(1)[0], "patient_name": "Jane Doe"}
    r = _post(http, [record])
    body = problem(r, 422)
    assert body["invalid_params"] == [
        {"name": "records.0.patient_name", "reason": "this field is not part of the schema; remove it"}
    ]
    assert "Jane Doe" not in r.text


def test_a_body_that_is_not_json_is_a_problem_not_a_crash(http):
    r = http.client.post(
        "/v1/predict", content=b"{oops", headers=http.headers("clinic", **{"Content-Type": "application/json"})
    )
    assert problem(r, 422)["type"].endswith("/validation-error")


def test_a_body_declared_as_another_media_type_is_415(http):
    body = json.dumps({"records": sample_records(1)}).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = http.client.post("/v1/predict", content=body, headers=http.headers("clinic", **{"Content-Type": ctype}))
        assert problem(r, 415)["type"].endswith("/unsupported-media-type"), ctype
    r = http.client.post(
        "/v1/feedback",
        content=b'{"prediction_id": "x", "label": "benign"}',
        headers=http.headers("clinic", **{"Content-Type": "text/plain"}),
    )
    problem(r, 415)


def test_json_without_a_content_type_or_with_a_charset_is_read(http):
    body = json.dumps({"records": sample_records(1)}).encode()
    for extra in ({}, {"Content-Type": "application/json; charset=utf-8"}):
        r = http.client.post("/v1/predict", content=body, headers=http.headers("clinic", **extra))
        assert r.status_code == 200, (extra, r.text)


def test_errors_found_while_parsing_name_the_field_as_before(http):
    bad = sample_records(2)
    bad[1]["mean_radius"] = True
    r = http.client.post(
        "/v1/predict",
        content=json.dumps({"records": bad}).encode(),
        headers=http.headers("clinic", **{"Content-Type": "application/json"}),
    )
    assert [p["name"] for p in problem(r, 422)["invalid_params"]] == ["records.1.mean_radius"]
    r = http.client.post("/v1/predict", content=b"", headers=http.headers("clinic"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "body"


def test_predict_without_a_token_is_401_with_a_challenge(http):
    r = http.client.post("/v1/predict", json={"records": sample_records(1)})
    problem(r, 401)
    assert r.headers["www-authenticate"].startswith('Bearer realm="modelship"')


def test_predict_with_an_invalid_token_is_401(http):
    r = http.client.post(
        "/v1/predict", json={"records": sample_records(1)}, headers={"Authorization": "Bearer abc.def.ghi"}
    )
    assert problem(r, 401)["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_predict_needs_the_predict_scope(http):
    assert problem(http.predict("feedback-only"), 403)["error"] == "insufficient_scope"


def test_the_schema_is_the_data_contract(http):
    record = http.client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert list(record["properties"]) == CONTRACT_OBJ.feature_names
    assert record["required"] == CONTRACT_OBJ.feature_names
    assert record["additionalProperties"] is False
    radius = record["properties"]["mean_radius"]
    feature = CONTRACT_OBJ.feature("mean_radius")
    assert (radius["minimum"], radius["maximum"]) == (feature.min, feature.max)
    assert radius["description"] == feature.description and radius["x-unit"] == feature.unit


# -- GET /v1/predictions/{id} --------------------------------------------------------------------


def test_the_owner_reads_a_prediction_back_with_its_features(http):
    sent = sample_records(1, offset=5)[0]
    made = _post(http, [sent]).json()["predictions"][0]
    r = http.client.get(f"/v1/predictions/{made['prediction_id']}", headers=http.headers("clinic"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prediction_id"] == made["prediction_id"] and body["features"] == sent
    assert body["probability"] == made["probability"] and body["label"] == made["label"]
    assert body["feedback_label"] is None and body["created_at"]
    assert "pathologist" in body["notice"]


def test_a_prediction_is_read_back_from_the_database_after_the_flush(api):
    """In process only: the test flushes the store itself."""
    pid = api.predict("clinic").json()["predictions"][0]["prediction_id"]
    assert api.store.flush() == 1
    r = api.client.get(f"/v1/predictions/{pid}", headers=api.headers("clinic"))
    assert r.status_code == 200 and r.json()["model_version"] == "v0001"


def test_another_client_gets_404_not_403_the_same_as_for_an_id_that_never_existed(http):
    pid = http.predict("clinic").json()["predictions"][0]["prediction_id"]
    body = problem(http.client.get(f"/v1/predictions/{pid}", headers=http.headers("other-clinic")), 404)
    assert body["type"].endswith("/not-found")
    unknown = problem(http.client.get(f"/v1/predictions/{uuid.uuid4().hex}", headers=http.headers("other-clinic")), 404)
    # Existence does not leak.
    assert body["detail"] == unknown["detail"]


def test_an_unknown_prediction_id_gets_404(http):
    problem(http.client.get("/v1/predictions/" + "0" * 32, headers=http.headers("clinic")), 404)
    problem(http.client.get(f"/v1/predictions/{uuid.uuid4().hex}", headers=http.headers("clinic")), 404)


def test_a_malformed_prediction_id_gets_422_naming_the_path_parameter(http):
    r = http.client.get("/v1/predictions/not-an-id", headers=http.headers("clinic"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "prediction_id"


def test_reading_a_prediction_without_a_token_is_401(http):
    pid = http.predict("clinic").json()["predictions"][0]["prediction_id"]
    r = http.client.get(f"/v1/predictions/{pid}")
    problem(r, 401)
    assert "www-authenticate" in r.headers


def test_reading_a_prediction_with_an_invalid_token_is_401(http):
    pid = http.predict("clinic").json()["predictions"][0]["prediction_id"]
    problem(http.client.get(f"/v1/predictions/{pid}", headers={"Authorization": "Bearer x.y.z"}), 401)


def test_reading_a_prediction_without_the_predict_scope_is_403(http):
    pid = http.predict("clinic").json()["predictions"][0]["prediction_id"]
    problem(http.client.get(f"/v1/predictions/{pid}", headers=http.headers("monitor")), 403)
