"""GET /v1/predictions/{id} (C9.2, C9.5): a client reads back only its own predictions."""
import uuid

import pytest

from tests.api.builders import sample_records
from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: GET /v1/predictions/{id}",
        scope="system", strategy="example-based", tool="pytest + httpx, live Ray Serve",
    ),
]


@pytest.fixture(scope="module")
def made(served):
    """A prediction made by `clinic`."""
    with served.client() as c:
        r = c.post("/v1/predict", json={"records": sample_records(1, offset=5)}, headers=served.headers("clinic"))
    return r.json()["predictions"][0]


def test_the_client_that_made_a_prediction_reads_it_back(api, served, made):
    r = api.get(f"/v1/predictions/{made['prediction_id']}", headers=served.headers("clinic"))
    assert r.status_code == 200
    body = r.json()
    assert body["probability"] == made["probability"] and body["label"] == made["label"]
    assert body["features"] == sample_records(1, offset=5)[0]
    assert body["feedback_label"] is None
    assert "pathologist" in body["notice"]


def test_another_client_gets_404_not_403(api, served, made):
    r = api.get(f"/v1/predictions/{made['prediction_id']}", headers=served.headers("other-clinic"))
    body = problem_of(r, 404)
    unknown = problem_of(api.get(f"/v1/predictions/{uuid.uuid4().hex}", headers=served.headers("other-clinic")), 404)
    # Same answer as for an id that never existed: existence does not leak.
    assert body["detail"] == unknown["detail"]


def test_an_unknown_id_is_404(api, served):
    problem_of(api.get(f"/v1/predictions/{uuid.uuid4().hex}", headers=served.headers("clinic")), 404)


def test_a_malformed_id_is_422_naming_the_parameter(api, served):
    body = problem_of(api.get("/v1/predictions/not-an-id", headers=served.headers("clinic")), 422)
    assert body["invalid_params"][0]["name"] == "prediction_id"


def test_reading_a_prediction_without_a_token_is_401(api, made):
    r = api.get(f"/v1/predictions/{made['prediction_id']}")
    problem_of(r, 401)
    assert "www-authenticate" in r.headers


def test_reading_a_prediction_with_an_invalid_token_is_401(api, made):
    problem_of(api.get(f"/v1/predictions/{made['prediction_id']}", headers={"Authorization": "Bearer x.y.z"}), 401)


def test_reading_a_prediction_without_the_predict_scope_is_403(api, served, made):
    problem_of(api.get(f"/v1/predictions/{made['prediction_id']}", headers=served.headers("monitor")), 403)
