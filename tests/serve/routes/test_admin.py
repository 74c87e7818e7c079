"""POST /v1/admin/model (C9.2, C9.3 API5/API10, C9.5): admin-only, audited, checksum-guarded.

On both transports, against the transport's registry (a copy per test in process; the live
session's, where every test puts production back to v0001 when it ends). Tests that need a
fresh registry history, the model holder itself or a replaced backend run in process only.
"""

from __future__ import annotations

import pytest
from api_support import GoneModel, SlowModel, problem

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.5"),
    pytest.mark.catalogue(
        part="API: POST /v1/admin/model",
        scope="integration",
        strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


@pytest.fixture
def registry(http):
    """The transport's registry; production is put back to v0001 whatever the test did."""
    yield http.registry
    http.restore_production("v0001")


def _admin(http, body, client_id="admin"):
    return http.client.post("/v1/admin/model", json=body, headers=http.headers(client_id))


def test_an_admin_activates_a_registered_version_and_the_model_serves_it(http, registry):
    r = _admin(http, {"action": "activate", "version": "v0002", "reason": "better recall"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "action": "activate",
        "production_version": "v0002",
        "previous_version": "v0001",
        "actor": "admin",
        "served_version": "v0002",
    }
    assert registry.production() == "v0002"
    assert http.predict("clinic").json()["model_version"] == "v0002"


def test_an_activation_is_audited_with_the_token_subject_and_reason(http, registry):
    _admin(http, {"action": "activate", "version": "v0002", "reason": "audit me"})
    last = registry.history()[-1]
    assert (last["action"], last["version"], last["from"], last["actor"], last["reason"]) == (
        "promote",
        "v0002",
        "v0001",
        "admin",
        "audit me",
    )


def test_without_a_reason_the_audit_says_who_used_the_endpoint(http, registry):
    _admin(http, {"action": "activate", "version": "v0002"})
    assert registry.history()[-1]["reason"] == "via POST /v1/admin/model by admin"


def test_an_admin_rolls_back_to_the_previous_version_audited(http, registry):
    _admin(http, {"action": "activate", "version": "v0002"})
    r = _admin(http, {"action": "rollback", "reason": "regression"})
    assert r.status_code == 200, r.text
    assert (r.json()["production_version"], r.json()["previous_version"]) == ("v0001", "v0002")
    last = registry.history()[-1]
    assert (last["action"], last["actor"], last["reason"]) == ("rollback", "admin", "regression")
    assert http.predict("clinic").json()["model_version"] == "v0001"


def test_activating_a_tampered_model_is_refused_with_409_and_production_is_unchanged(http, registry):
    body = problem(_admin(http, {"action": "activate", "version": "v0003"}), 409)
    assert body["type"].endswith("/model-integrity") and "checksum" in body["detail"]
    assert registry.production() == "v0001"
    r = http.predict("clinic")
    assert r.status_code == 200 and r.json()["model_version"] == "v0001"


def test_activating_an_unregistered_version_gets_422_naming_version(http, registry):
    body = problem(_admin(http, {"action": "activate", "version": "v0099"}), 422)
    assert body["invalid_params"] == [{"name": "version", "reason": "not a registered version"}]


def test_activating_without_a_version_gets_422_naming_version(http, registry):
    assert problem(_admin(http, {"action": "activate"}), 422)["invalid_params"][0]["name"] == "version"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"action": "delete"}, "action"),
        ({"action": "activate", "version": "../../etc"}, "version"),
        ({"action": "rollback", "force": True}, "force"),
    ],
)
def test_an_invalid_admin_body_is_422_naming_the_field(http, registry, body, field):
    assert problem(_admin(http, body), 422)["invalid_params"][0]["name"] == field


@pytest.mark.parametrize("client_id", ["clinic", "monitor", "predict-only"])
def test_a_token_without_the_admin_scope_is_403_and_writes_nothing(http, registry, client_id):
    before = len(registry.history())
    r = _admin(http, {"action": "rollback"}, client_id)
    assert problem(r, 403)["error"] == "insufficient_scope"
    assert registry.production() == "v0001" and len(registry.history()) == before


def test_the_admin_route_without_a_token_is_401(http, registry):
    r = http.client.post("/v1/admin/model", json={"action": "rollback"})
    problem(r, 401)
    assert "www-authenticate" in r.headers


def test_the_admin_route_with_an_invalid_token_is_401(http, registry):
    r = http.client.post("/v1/admin/model", json={"action": "rollback"}, headers={"Authorization": "Bearer a.b.c"})
    problem(r, 401)


def test_a_rollback_with_no_earlier_version_is_refused_with_409(api):
    """In process only: needs a registry whose history has one production version."""
    r = api.client.post("/v1/admin/model", json={"action": "rollback"}, headers=api.headers("admin"))
    body = problem(r, 409)
    assert body["type"].endswith("/registry-conflict") and "no earlier production version" in body["detail"]


def test_only_an_admin_token_may_switch_the_model(api):
    """In process only: the registry's last entry is still the one the test registry was built with."""
    r = api.client.post("/v1/admin/model", json={"action": "rollback"}, headers=api.headers("monitor"))
    assert problem(r, 403)["error"] == "insufficient_scope"
    assert api.registry.history()[-1]["actor"] == "tests"  # nothing was written


def test_activating_again_after_restoring_a_model_file_makes_the_model_serve_it(api):
    """In process only: the test drives the model holder's sync itself."""
    # v0002 is promoted, then its file is damaged: the model refuses the switch and keeps v0001.
    api.registry.promote("v0002", actor="tests")
    model_file = api.registry.version_dir("v0002") / "model.skops"
    intact = model_file.read_bytes()
    model_file.write_bytes(intact + b"x")
    assert api.client.get("/v1/model", headers=api.headers("admin")).json()["version"] == "v0001"
    api.service.backend.holder.sync()
    model_file.write_bytes(intact)  # the operator restores it and activates it again
    r = api.client.post(
        "/v1/admin/model", json={"action": "activate", "version": "v0002"}, headers=api.headers("admin")
    )
    assert r.status_code == 200 and r.json()["served_version"] == "v0002"
    assert api.predict("clinic").json()["model_version"] == "v0002"


def test_the_switch_succeeds_even_when_the_model_cannot_confirm_it(make_api):
    """In process only: the model backend is replaced by one that is gone."""
    # The registry pointer is what replicas follow; an unreachable model only leaves served_version unknown.
    api = make_api(backend=GoneModel())
    r = api.client.post(
        "/v1/admin/model", json={"action": "activate", "version": "v0002"}, headers=api.headers("admin")
    )
    assert r.status_code == 200 and r.json()["served_version"] is None
    assert api.registry.production() == "v0002"


def test_a_model_too_slow_to_confirm_the_switch_leaves_served_version_unknown(make_api):
    """In process only: the model backend is replaced by one that does not answer in time."""
    api = make_api(backend=SlowModel(), predict_timeout_s=0.05)
    r = api.client.post(
        "/v1/admin/model", json={"action": "activate", "version": "v0002"}, headers=api.headers("admin")
    )
    assert r.status_code == 200 and r.json()["served_version"] is None
