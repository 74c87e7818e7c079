"""POST /v1/predict (C9.2, C9.5): scores, schema generated from the data contract, errors."""
import json

import numpy as np
import pytest

from modelship.contract import load_contract
from modelship.registry import Registry
from tests.api.builders import CONTRACT, sample_records
from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: POST /v1/predict",
        scope="system", strategy="example-based", tool="pytest + httpx, live Ray Serve",
    ),
]

CONTRACT_OBJ = load_contract(CONTRACT)


def test_one_record_gets_a_label_probability_threshold_id_and_version(api, served):
    r = api.post("/v1/predict", json={"records": sample_records(1)}, headers=served.headers("clinic"))
    assert r.status_code == 200, r.text
    body = r.json()
    (p,) = body["predictions"]
    assert 0.0 <= p["probability"] <= 1.0
    assert p["label"] == ("malignant" if p["probability"] >= p["threshold"] else "benign")
    assert len(p["prediction_id"]) == 32
    assert p["model_version"] == body["model_version"]
    assert body["positive_label"] == "malignant"
    assert "pathologist" in body["notice"] and "not replace" in body["notice"]
    assert r.headers["cache-control"] == "no-store"


def test_many_records_get_one_prediction_each_in_order(api, served):
    recs = sample_records(10, offset=20)
    r = api.post("/v1/predict", json={"records": recs}, headers=served.headers("clinic"))
    preds = r.json()["predictions"]
    assert len(preds) == 10
    assert len({p["prediction_id"] for p in preds}) == 10
    version = r.json()["model_version"]
    model = Registry(served.registry_root).load(version).model
    expected = model.predict_proba(np.array([[rec[f] for f in CONTRACT_OBJ.feature_names] for rec in recs]))[:, 1]
    assert np.allclose([p["probability"] for p in preds], expected)


def test_integers_are_accepted_as_numbers(api, served):
    rec = sample_records(1)[0]
    rec["mean_area"] = 1000
    assert api.post("/v1/predict", json={"records": [rec]}, headers=served.headers("clinic")).status_code == 200


def test_the_batch_cap_from_the_config_gives_422(api, served):
    r = api.post("/v1/predict", json={"records": sample_records(101)}, headers=served.headers("clinic"))
    body = problem_of(r, 422)
    assert body["invalid_params"][0]["name"] == "records"
    assert "100" in body["invalid_params"][0]["reason"]


def test_an_empty_batch_is_422(api, served):
    problem_of(api.post("/v1/predict", json={"records": []}, headers=served.headers("clinic")), 422)


@pytest.mark.parametrize("value,why", [(True, "a boolean"), ("1.5", "a string"), (None, "null"), ([1.0], "a list")])
def test_a_value_that_is_not_a_number_is_422_naming_the_field(api, served, value, why):
    rec = sample_records(1)[0]
    rec["mean_radius"] = value
    body = problem_of(api.post("/v1/predict", json={"records": [rec]}, headers=served.headers("clinic")), 422)
    assert [p["name"] for p in body["invalid_params"]] == ["records.0.mean_radius"], why


def test_a_value_out_of_the_contract_range_is_422_with_the_bound(api, served):
    rec = sample_records(1)[0]
    rec["mean_radius"] = 51.0
    body = problem_of(api.post("/v1/predict", json={"records": [rec]}, headers=served.headers("clinic")), 422)
    (param,) = body["invalid_params"]
    assert param["name"] == "records.0.mean_radius"
    assert "50" in param["reason"]


def test_not_a_number_is_refused(api, served):
    rec = json.dumps({"records": sample_records(1)}).replace('"mean_radius": 17.99', '"mean_radius": NaN')
    r = api.post("/v1/predict", content=rec, headers={**served.headers("clinic"), "Content-Type": "application/json"})
    problem_of(r, 422)


def test_a_missing_feature_is_422_naming_it(api, served):
    rec = sample_records(1)[0]
    del rec["worst_area"]
    body = problem_of(api.post("/v1/predict", json={"records": [rec]}, headers=served.headers("clinic")), 422)
    assert body["invalid_params"] == [{"name": "records.0.worst_area", "reason": "this field is required"}]


def test_an_unknown_field_is_422(api, served):
    rec = {**sample_records(1)[0], "patient_name": "x"}
    body = problem_of(api.post("/v1/predict", json={"records": [rec]}, headers=served.headers("clinic")), 422)
    assert body["invalid_params"][0]["name"] == "records.0.patient_name"


def test_a_body_that_is_not_json_is_a_422_problem(api, served):
    r = api.post("/v1/predict", content=b"{not json", headers={**served.headers("clinic"),
                                                               "Content-Type": "application/json"})
    problem_of(r, 422)


def test_predict_without_a_token_is_401_with_a_challenge(api):
    r = api.post("/v1/predict", json={"records": sample_records(1)})
    problem_of(r, 401)
    assert r.headers["www-authenticate"].startswith('Bearer realm="modelship"')


def test_predict_with_an_invalid_token_is_401(api):
    r = api.post("/v1/predict", json={"records": sample_records(1)}, headers={"Authorization": "Bearer abc.def.ghi"})
    assert problem_of(r, 401)["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_predict_without_the_predict_scope_is_403(api, served):
    r = api.post("/v1/predict", json={"records": sample_records(1)}, headers=served.headers("feedback-only"))
    assert problem_of(r, 403)["error"] == "insufficient_scope"


def test_the_schema_is_the_data_contract(api):
    spec = api.get("/openapi.json").json()
    record = spec["components"]["schemas"]["Record"]
    assert list(record["properties"]) == CONTRACT_OBJ.feature_names
    assert record["required"] == CONTRACT_OBJ.feature_names
    assert record["additionalProperties"] is False
    radius = record["properties"]["mean_radius"]
    feature = CONTRACT_OBJ.feature("mean_radius")
    assert (radius["minimum"], radius["maximum"]) == (feature.min, feature.max)
    assert radius["description"] == feature.description and radius["x-unit"] == feature.unit
