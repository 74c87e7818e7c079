"""POST /v1/admin/model (C9.2, C9.3 API5/API10, C9.5): admin-only, audited, checksum-guarded."""
import time

import pytest

from modelship.registry import Registry
from tests.api.builders import sample_records
from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.5"),
    pytest.mark.catalogue(
        part="API: POST /v1/admin/model",
        scope="system", strategy="example-based", tool="pytest + httpx, live Ray Serve",
    ),
]


@pytest.fixture
def registry(served):
    reg = Registry(served.registry_root)
    yield reg
    # Leave production as the session started, whatever a test did.
    if reg.production() != "v0001":
        reg.promote("v0001", actor="tests", reason="restore after test")
        _wait_served(served, "v0001")


def _wait_served(served, version, timeout_s=15):
    deadline = time.monotonic() + timeout_s
    with served.client() as c:
        while time.monotonic() < deadline:
            if c.get("/v1/model", headers=served.headers("monitor")).json()["version"] == version:
                return
            time.sleep(0.2)
    raise AssertionError(f"the service did not switch to {version}")


def _admin(api, served, body, client_id="admin"):
    return api.post("/v1/admin/model", json=body, headers=served.headers(client_id))


def test_an_admin_activates_a_version_and_the_service_serves_it(api, served, registry):
    r = _admin(api, served, {"action": "activate", "version": "v0002", "reason": "better recall"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["production_version"] == "v0002" and body["previous_version"] == "v0001"
    assert body["served_version"] == "v0002" and body["actor"] == "admin"
    assert registry.production() == "v0002"
    pred = api.post("/v1/predict", json={"records": sample_records(1)}, headers=served.headers("clinic")).json()
    assert pred["model_version"] == "v0002"


def test_the_switch_is_audited_with_the_token_subject_as_actor(api, served, registry):
    _admin(api, served, {"action": "activate", "version": "v0002", "reason": "audit me"})
    last = registry.history()[-1]
    assert (last["action"], last["version"], last["actor"], last["reason"]) == ("promote", "v0002", "admin", "audit me")


def test_an_admin_rolls_back_to_the_previous_version(api, served, registry):
    _admin(api, served, {"action": "activate", "version": "v0002"})
    r = _admin(api, served, {"action": "rollback", "reason": "regression"})
    assert r.status_code == 200
    assert r.json()["production_version"] == "v0001"
    last = registry.history()[-1]
    assert (last["action"], last["actor"]) == ("rollback", "admin")


def test_a_tampered_model_file_is_refused_and_production_is_unchanged(api, served, registry):
    before = registry.production()
    body = problem_of(_admin(api, served, {"action": "activate", "version": "v0003"}), 409)
    assert "checksum" in body["detail"]
    assert registry.production() == before
    assert api.post("/v1/predict", json={"records": sample_records(1)}, headers=served.headers("clinic")).status_code == 200


def test_activating_an_unregistered_version_is_422(api, served, registry):
    body = problem_of(_admin(api, served, {"action": "activate", "version": "v0099"}), 422)
    assert body["invalid_params"][0]["name"] == "version"


def test_activate_without_a_version_is_422(api, served, registry):
    problem_of(_admin(api, served, {"action": "activate"}), 422)


@pytest.mark.parametrize("body,field", [({"action": "delete"}, "action"),
                                        ({"action": "activate", "version": "../../etc"}, "version"),
                                        ({"action": "rollback", "force": True}, "force")])
def test_an_invalid_admin_body_is_422_naming_the_field(api, served, registry, body, field):
    assert field in [p["name"] for p in problem_of(_admin(api, served, body), 422)["invalid_params"]]


@pytest.mark.parametrize("client_id", ["clinic", "monitor", "predict-only"])
def test_a_token_without_the_admin_scope_is_403(api, served, registry, client_id):
    r = _admin(api, served, {"action": "rollback"}, client_id)
    assert problem_of(r, 403)["error"] == "insufficient_scope"
    assert registry.production() == "v0001"


def test_the_admin_route_without_a_token_is_401(api, registry):
    r = api.post("/v1/admin/model", json={"action": "rollback"})
    problem_of(r, 401)
    assert "www-authenticate" in r.headers


def test_the_admin_route_with_an_invalid_token_is_401(api, registry):
    problem_of(api.post("/v1/admin/model", json={"action": "rollback"}, headers={"Authorization": "Bearer a.b.c"}), 401)
