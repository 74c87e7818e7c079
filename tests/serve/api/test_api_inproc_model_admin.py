"""Model card, admin switch, health and the OpenAPI document in-process (C9.2, C9.3, C9.5, C9.10).

GET /v1/model, POST /v1/admin/model (audited in the real registry, checksum-guarded),
GET /health/live and /health/ready, GET /openapi.json.
"""
from __future__ import annotations

import pytest

from tests.serve.api.inproc_support import GoneModel, SlowModel, problem

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.5", "C9.10"),
    pytest.mark.catalogue(
        part="API in-process: GET /v1/model, POST /v1/admin/model, health, GET /openapi.json",
        scope="integration", strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


def test_the_model_card_shows_version_threshold_metrics_and_checksum(api):
    r = api.client.get("/v1/model", headers=api.headers("clinic"))
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["version"] == "v0001" and card["threshold"] == 0.3
    assert set(card["metrics"]) >= {"roc_auc", "recall"} and len(card["model_sha256"]) == 64
    assert card["features"][0] == "mean_radius" and "does not replace" in card["notice"]


def test_the_model_card_reveals_no_file_paths(api):
    text = api.client.get("/v1/model", headers=api.headers("clinic")).text
    assert str(api.registry.root) not in text and "model.skops" not in text


def test_monitor_and_admin_tokens_may_read_the_model_card(api):
    assert api.client.get("/v1/model", headers=api.headers("monitor")).status_code == 200
    assert api.client.get("/v1/model", headers=api.headers("admin")).status_code == 200


def test_an_admin_activates_a_registered_version_and_the_model_serves_it(api):
    r = api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0002", "reason": "better recall"},
                        headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    assert r.json() == {"action": "activate", "production_version": "v0002", "previous_version": "v0001",
                        "actor": "admin", "served_version": "v0002"}
    assert api.predict("clinic").json()["model_version"] == "v0002"


def test_an_activation_is_audited_with_the_token_subject_and_reason(api):
    api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0002", "reason": "audit me"},
                    headers=api.headers("admin"))
    last = api.registry.history()[-1]
    assert (last["action"], last["version"], last["from"], last["actor"], last["reason"]) == (
        "promote", "v0002", "v0001", "admin", "audit me")


def test_without_a_reason_the_audit_says_who_used_the_endpoint(api):
    api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0002"}, headers=api.headers("admin"))
    assert api.registry.history()[-1]["reason"] == "via POST /v1/admin/model by admin"


def test_an_admin_rolls_back_to_the_previous_version_audited(api):
    api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0002"}, headers=api.headers("admin"))
    r = api.client.post("/v1/admin/model", json={"action": "rollback", "reason": "regression"},
                        headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    assert (r.json()["production_version"], r.json()["previous_version"]) == ("v0001", "v0002")
    last = api.registry.history()[-1]
    assert (last["action"], last["actor"], last["reason"]) == ("rollback", "admin", "regression")
    assert api.predict("clinic").json()["model_version"] == "v0001"


def test_activating_again_after_restoring_a_model_file_makes_the_model_serve_it(api):
    # v0002 is promoted, then its file is damaged: the model refuses the switch and keeps v0001.
    api.registry.promote("v0002", actor="tests")
    model_file = api.registry.version_dir("v0002") / "model.skops"
    intact = model_file.read_bytes()
    model_file.write_bytes(intact + b"x")
    assert api.client.get("/v1/model", headers=api.headers("admin")).json()["version"] == "v0001"
    api.service.backend.holder.sync()
    model_file.write_bytes(intact)  # the operator restores it and activates it again
    r = api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0002"},
                        headers=api.headers("admin"))
    assert r.status_code == 200 and r.json()["served_version"] == "v0002"
    assert api.predict("clinic").json()["model_version"] == "v0002"


def test_a_rollback_with_no_earlier_version_is_refused_with_409(api):
    r = api.client.post("/v1/admin/model", json={"action": "rollback"}, headers=api.headers("admin"))
    body = problem(r, 409)
    assert body["type"].endswith("/registry-conflict") and "no earlier production version" in body["detail"]


def test_activating_a_tampered_model_is_refused_with_409_and_production_is_unchanged(api):
    r = api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0003"},
                        headers=api.headers("admin"))
    body = problem(r, 409)
    assert body["type"].endswith("/model-integrity") and "checksum" in body["detail"]
    assert api.registry.production() == "v0001"
    assert api.predict("clinic").json()["model_version"] == "v0001"


def test_activating_an_unregistered_version_gets_422_naming_version(api):
    r = api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0099"},
                        headers=api.headers("admin"))
    assert problem(r, 422)["invalid_params"] == [{"name": "version", "reason": "not a registered version"}]


def test_activating_without_a_version_gets_422_naming_version(api):
    r = api.client.post("/v1/admin/model", json={"action": "activate"}, headers=api.headers("admin"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "version"


def test_an_unknown_admin_action_gets_422_naming_action(api):
    r = api.client.post("/v1/admin/model", json={"action": "delete"}, headers=api.headers("admin"))
    assert problem(r, 422)["invalid_params"][0]["name"] == "action"


def test_only_an_admin_token_may_switch_the_model(api):
    r = api.client.post("/v1/admin/model", json={"action": "rollback"}, headers=api.headers("monitor"))
    assert problem(r, 403)["error"] == "insufficient_scope"
    assert api.registry.history()[-1]["actor"] == "tests"  # nothing was written


def test_the_switch_succeeds_even_when_the_model_cannot_confirm_it(make_api):
    # The registry pointer is what replicas follow; an unreachable model only leaves served_version unknown.
    api = make_api(backend=GoneModel())
    r = api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0002"},
                        headers=api.headers("admin"))
    assert r.status_code == 200 and r.json()["served_version"] is None
    assert api.registry.production() == "v0002"


def test_a_model_too_slow_to_confirm_the_switch_leaves_served_version_unknown(make_api):
    api = make_api(backend=SlowModel(), predict_timeout_s=0.05)
    r = api.client.post("/v1/admin/model", json={"action": "activate", "version": "v0002"},
                        headers=api.headers("admin"))
    assert r.status_code == 200 and r.json()["served_version"] is None


def test_live_answers_ok_without_a_token(api):
    r = api.client.get("/health/live")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_answers_ready_once_a_model_is_loaded(api):
    r = api.client.get("/health/ready")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_ready_answers_503_with_retry_after_before_the_service_is_built(make_api):
    api = make_api(service=False)
    r = api.client.get("/health/ready")
    assert problem(r, 503)["type"].endswith("/not-ready") and r.headers["retry-after"] == "2"


def test_live_answers_ok_before_the_service_is_built(make_api):
    assert make_api(service=False).client.get("/health/live").status_code == 200


def test_every_route_answers_503_not_ready_before_the_service_is_built(make_api):
    api = make_api(service=False)
    r = api.client.post("/v1/auth/token", data={"grant_type": "client_credentials"})
    assert problem(r, 503)["type"].endswith("/not-ready") and r.headers["retry-after"] == "2"
    problem(api.client.get("/v1/model"), 503)


def test_ready_answers_503_when_the_model_is_unreachable(make_api):
    api = make_api(backend=GoneModel())
    assert problem(api.client.get("/health/ready"), 503)["type"].endswith("/not-ready")


def test_the_openapi_document_is_3_1_with_the_oauth2_scheme_only(api):
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"] == "3.1.0" and spec["info"]["version"] == "1.0.0"
    schemes = spec["components"]["securitySchemes"]
    assert list(schemes) == ["oauth2"]
    assert set(schemes["oauth2"]["flows"]) == {"clientCredentials", "password"}


def test_the_openapi_document_links_a_prediction_to_its_read_back(api):
    spec = api.client.get("/openapi.json").json()
    link = spec["paths"]["/v1/predict"]["post"]["responses"]["200"]["links"]["ReadPrediction"]
    assert link["parameters"] == {"prediction_id": "$response.body#/predictions/0/prediction_id"}


def test_every_documented_error_is_problem_json(api):
    spec = api.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if code[0] in "45":
                    assert list(resp.get("content", {})) == ["application/problem+json"], (method, path, code)


def test_the_record_schema_comes_from_the_contract_with_its_bounds_and_cap(make_api):
    spec = make_api(max_batch_rows=9).client.get("/openapi.json").json()
    request = spec["components"]["schemas"]["PredictRequest"]
    assert request["properties"]["records"]["maxItems"] == 9
    radius = spec["components"]["schemas"]["Record"]["properties"]["mean_radius"]
    assert (radius["minimum"], radius["maximum"], radius["x-unit"]) == (0.5, 50, "px")


def test_the_openapi_document_is_built_once_and_reused(api):
    assert api.app.openapi() is api.app.openapi()


def test_no_interactive_docs_that_would_load_assets_from_a_cdn(api):
    for path in ("/docs", "/redoc"):
        problem(api.client.get(path), 404)
