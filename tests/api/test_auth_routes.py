"""POST /v1/auth/token, /v1/auth/refresh, /v1/auth/revoke over HTTP (C9.1, C9.5, C9.9).

helper-level token rules are unit-tested with serve.auth; here: the HTTP contract (RFC 6749,
RFC 7009, problem+json errors, no-store caching).
"""
import base64

import pytest

from tests.api.conftest import problem_of

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.5", "C9.9"),
    pytest.mark.catalogue(
        part="API: POST /v1/auth/token, /v1/auth/refresh, /v1/auth/revoke",
        scope="system", strategy="example-based", tool="pytest + httpx, live Ray Serve",
    ),
]


def _token(api, served, client_id="clinic", **extra):
    data = {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": served.secrets[client_id], **extra}
    return api.post("/v1/auth/token", data=data)


def test_client_credentials_as_a_form_returns_a_bearer_pair(api, served):
    r = _token(api, served)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]
    assert body["scope"] == "predict feedback"
    assert r.headers["cache-control"] == "no-store"


def test_client_credentials_as_json_are_accepted_too(api, served):
    r = api.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": "clinic",
                                         "client_secret": served.secrets["clinic"]})
    assert r.status_code == 200


def test_client_credentials_in_http_basic_are_accepted(api, served):
    basic = base64.b64encode(f"clinic:{served.secrets['clinic']}".encode()).decode()
    r = api.post("/v1/auth/token", data={"grant_type": "client_credentials"},
                 headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200


def test_password_grant_issues_tokens_to_a_human_user(api, served):
    r = api.post("/v1/auth/token", data={"grant_type": "password", "username": "pathologist",
                                         "password": served.secrets["pathologist"]})
    assert r.status_code == 200
    assert r.json()["scope"] == "predict feedback"


def test_a_narrower_scope_can_be_requested(api, served):
    r = _token(api, served, scope="predict")
    assert r.status_code == 200 and r.json()["scope"] == "predict"


def test_a_scope_not_granted_is_refused_with_invalid_scope(api, served):
    body = problem_of(_token(api, served, scope="admin"), 400)
    assert body["error"] == "invalid_scope"


def test_a_wrong_secret_is_refused_with_401_invalid_client(api, served):
    r = api.post("/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "clinic",
                                         "client_secret": "not-the-secret"})
    body = problem_of(r, 401)
    assert body["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_an_unknown_client_gets_the_same_answer_as_a_wrong_secret(api):
    r = api.post("/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "nobody",
                                         "client_secret": "x"})
    assert problem_of(r, 401)["detail"] == "client authentication failed"


def test_a_service_client_cannot_use_the_password_grant(api, served):
    r = api.post("/v1/auth/token", data={"grant_type": "password", "username": "clinic",
                                         "password": served.secrets["clinic"]})
    assert problem_of(r, 401)["error"] == "invalid_client"


def test_an_unknown_grant_type_is_unsupported_grant_type(api):
    body = problem_of(api.post("/v1/auth/token", data={"grant_type": "implicit"}), 400)
    assert body["error"] == "unsupported_grant_type"


def test_a_missing_grant_type_is_invalid_request_naming_the_field(api):
    body = problem_of(api.post("/v1/auth/token", data={"client_id": "clinic"}), 400)
    assert body["error"] == "invalid_request"
    assert "grant_type" in body["detail"]


def test_a_repeated_parameter_is_refused(api):
    r = api.post("/v1/auth/token", content="grant_type=client_credentials&client_id=a&client_id=b",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "client_id" in problem_of(r, 400)["detail"]


def test_a_body_that_is_neither_form_nor_json_is_415(api):
    r = api.post("/v1/auth/token", content="grant_type=client_credentials", headers={"Content-Type": "text/plain"})
    problem_of(r, 415)


def test_refresh_returns_a_new_pair_and_uses_up_the_old_refresh_token(api, served):
    first = _token(api, served).json()
    r = api.post("/v1/auth/refresh", data={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert r.headers["cache-control"] == "no-store"
    # The new access token works.
    ok = api.get("/v1/model", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert ok.status_code == 200


def test_reusing_a_refresh_token_revokes_its_whole_family(api, served):
    first = _token(api, served).json()
    second = api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
    reuse = api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert problem_of(reuse, 400)["error"] == "invalid_grant"
    # The thief's replay also killed the legitimate successor.
    after = api.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert problem_of(after, 400)["error"] == "invalid_grant"


def test_the_token_endpoint_accepts_the_refresh_token_grant(api, served):
    first = _token(api, served).json()
    r = api.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert r.status_code == 200


def test_an_access_token_cannot_be_used_as_a_refresh_token(api, served):
    access = _token(api, served).json()["access_token"]
    assert problem_of(api.post("/v1/auth/refresh", json={"refresh_token": access}), 400)["error"] == "invalid_grant"


def test_refresh_without_a_refresh_token_names_the_missing_field(api):
    body = problem_of(api.post("/v1/auth/refresh", json={}), 400)
    assert body["error"] == "invalid_request" and "refresh_token" in body["detail"]


def test_refresh_rejects_unknown_fields(api):
    body = problem_of(api.post("/v1/auth/refresh", json={"refresh_token": "x", "admin": True}), 400)
    assert "admin" in body["detail"]


def test_revoke_ends_a_refresh_token(api, served):
    pair = _token(api, served).json()
    r = api.post("/v1/auth/revoke", data={"token": pair["refresh_token"]})
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    after = api.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert problem_of(after, 400)["error"] == "invalid_grant"


def test_revoking_an_invalid_token_still_answers_200(api):
    # RFC 7009, section 2.2: the answer must not reveal whether the token was valid.
    assert api.post("/v1/auth/revoke", json={"token": "garbage"}).status_code == 200


def test_revoke_without_a_token_names_the_missing_field(api):
    assert "token" in problem_of(api.post("/v1/auth/revoke", json={}), 400)["detail"]


@pytest.mark.parametrize("path", ["/v1/auth/token", "/v1/auth/refresh", "/v1/auth/revoke"])
def test_auth_endpoints_refuse_get_with_a_405_problem(api, path):
    problem_of(api.get(path), 405)
