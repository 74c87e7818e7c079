"""GET /v1/model (C9.2, C9.5): the served model's card, on both transports.

A model that is gone or too slow (faked: only Ray produces those failures for real) runs in
process only, with the backend replaced.
"""

from __future__ import annotations

import pytest
from api_support import CONTRACT, GoneModel, SlowModel, problem

from modelship.contract import load_contract

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.5"),
    pytest.mark.catalogue(
        part="API: GET /v1/model",
        scope="integration",
        strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


def test_the_card_shows_version_metrics_threshold_checksums_and_contract(http):
    r = http.client.get("/v1/model", headers=http.headers("clinic"))
    assert r.status_code == 200, r.text
    card = r.json()
    meta = http.registry.metadata(card["version"])
    assert card["version"] == "v0001" and card["threshold"] == meta["threshold"] == 0.3
    assert card["data_sha256"] == meta["data_sha256"] and card["model_sha256"] == meta["model_sha256"]
    assert len(card["model_sha256"]) == 64
    assert set(card["metrics"]) >= {"roc_auc", "recall", "precision", "f1", "brier"}
    assert card["features"] == load_contract(CONTRACT).feature_names and card["features"][0] == "mean_radius"
    assert card["contract"]["target"]["positive"] == "malignant"
    assert "pathologist" in card["notice"] and "does not replace" in card["notice"]


def test_the_card_is_the_production_version(http):
    card = http.client.get("/v1/model", headers=http.headers("monitor")).json()
    assert card["version"] == http.registry.production()


def test_the_card_reveals_no_file_paths(http):
    text = http.client.get("/v1/model", headers=http.headers("monitor")).text
    assert str(http.registry_root) not in text and "model.skops" not in text


def test_monitor_and_admin_tokens_may_read_the_card(http):
    assert http.client.get("/v1/model", headers=http.headers("monitor")).status_code == 200
    assert http.client.get("/v1/model", headers=http.headers("admin")).status_code == 200


def test_the_card_without_a_token_is_401(http):
    r = http.client.get("/v1/model")
    problem(r, 401)
    assert "www-authenticate" in r.headers


def test_the_card_with_an_invalid_token_is_401(http):
    problem(http.client.get("/v1/model", headers={"Authorization": "Bearer x.y.z"}), 401)


def test_the_card_without_a_reading_scope_is_403(http):
    problem(http.client.get("/v1/model", headers=http.headers("feedback-only")), 403)


def test_the_card_takes_no_body_and_refuses_post_with_405(http):
    problem(http.client.post("/v1/model", json={}, headers=http.headers("clinic")), 405)


def test_the_card_of_an_unreachable_model_gives_503(make_api):
    """In process only: the model backend is replaced by one that is gone."""
    api = make_api(backend=GoneModel())
    problem(api.client.get("/v1/model", headers=api.headers("clinic")), 503)


def test_the_card_of_a_slow_model_gives_503(make_api):
    """In process only: the model backend is replaced by one that does not answer in time."""
    api = make_api(backend=SlowModel(), predict_timeout_s=0.1)
    problem(api.client.get("/v1/model", headers=api.headers("clinic")), 503)
