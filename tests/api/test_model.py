"""GET /v1/model (C9.2, C9.5): the served model's card."""
import pytest

from modelship.contract import load_contract
from modelship.registry import Registry
from tests.api.builders import CONTRACT
from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: GET /v1/model",
        scope="system", strategy="example-based", tool="pytest + httpx, live Ray Serve",
    ),
]


def test_the_card_shows_version_metrics_threshold_data_hash_and_contract(api, served):
    r = api.get("/v1/model", headers=served.headers("clinic"))
    assert r.status_code == 200
    card = r.json()
    meta = Registry(served.registry_root).metadata(card["version"])
    assert card["threshold"] == meta["threshold"]
    assert card["data_sha256"] == meta["data_sha256"] and card["model_sha256"] == meta["model_sha256"]
    assert set(card["metrics"]) >= {"roc_auc", "recall", "precision", "f1", "brier"}
    assert card["features"] == load_contract(CONTRACT).feature_names
    assert card["contract"]["target"]["positive"] == "malignant"
    assert "pathologist" in card["notice"]


def test_the_card_is_the_production_version(api, served):
    card = api.get("/v1/model", headers=served.headers("monitor")).json()
    assert card["version"] == Registry(served.registry_root).production()


def test_the_card_reveals_no_file_paths(api, served):
    text = api.get("/v1/model", headers=served.headers("monitor")).text
    assert str(served.registry_root) not in text and "model.skops" not in text


def test_the_card_without_a_token_is_401(api):
    r = api.get("/v1/model")
    problem_of(r, 401)
    assert "www-authenticate" in r.headers


def test_the_card_with_an_invalid_token_is_401(api):
    problem_of(api.get("/v1/model", headers={"Authorization": "Bearer x.y.z"}), 401)


def test_the_card_without_a_reading_scope_is_403(api, served):
    problem_of(api.get("/v1/model", headers=served.headers("feedback-only")), 403)


def test_the_card_takes_no_body_and_refuses_post_with_405(api, served):
    problem_of(api.post("/v1/model", json={}, headers=served.headers("clinic")), 405)
