"""POST /v1/auth/token, /v1/auth/refresh, /v1/auth/revoke and the Bearer check (C9.1, C9.3, C9.5, C9.9).

The token rules themselves are unit-tested with serve.auth (tests/serve/auth); here: the HTTP
contract (RFC 6749, RFC 7009, problem+json errors, no-store caching), on both transports. The
tests that change the token limit or need the app not to re-raise run in process only.
"""

from __future__ import annotations

import base64

import pytest
from api_support import problem

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3", "C9.5", "C9.9"),
    pytest.mark.catalogue(
        part="API: POST /v1/auth/token, /v1/auth/refresh, /v1/auth/revoke and the Bearer check",
        scope="integration",
        strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


# -- POST /v1/auth/token -------------------------------------------------------------------------


def test_client_credentials_as_a_form_return_a_bearer_pair_that_is_never_cached(http):
    r = http.token("clinic")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "predict feedback"
    assert body["access_token"] and body["refresh_token"] and body["expires_in"] == 900
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"


def test_the_cache_control_header_is_sent_once_not_added_again_by_the_guard(http):
    assert http.token("clinic").headers.get_list("cache-control") == ["no-store"]


def test_client_credentials_as_json_are_accepted(http):
    r = http.client.post(
        "/v1/auth/token",
        json={"grant_type": "client_credentials", "client_id": "clinic", "client_secret": http.secrets["clinic"]},
    )
    assert r.status_code == 200, r.text


def test_client_credentials_in_http_basic_are_accepted(http):
    r = http.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, headers=_basic("clinic", http.secrets["clinic"])
    )
    assert r.status_code == 200, r.text


def test_the_access_token_from_the_endpoint_opens_the_api(http):
    token = http.token("clinic").json()["access_token"]
    r = http.client.post("/v1/predict", json={"records": []}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422  # past the auth check, stopped by the schema


def test_basic_credentials_that_are_not_base64_are_refused_with_invalid_request(http):
    r = http.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!not-base64!!"}
    )
    assert problem(r, 400)["error"] == "invalid_request"


def test_basic_credentials_without_a_colon_are_refused_with_invalid_request(http):
    r = http.client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"clinic").decode()},
    )
    body = problem(r, 400)
    assert body["error"] == "invalid_request" and "client_id:client_secret" in body["detail"]


def test_the_password_grant_issues_tokens_to_a_person(http):
    r = http.client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": "pathologist", "password": http.secrets["pathologist"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "predict feedback"


def test_a_service_client_cannot_use_the_password_grant(http):
    r = http.client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": "clinic", "password": http.secrets["clinic"]}
    )
    assert problem(r, 401)["error"] == "invalid_client"


def test_a_narrower_scope_can_be_requested(http):
    r = http.token("clinic", scope="predict")
    assert r.status_code == 200 and r.json()["scope"] == "predict"


def test_a_scope_not_granted_is_refused_with_invalid_scope(http):
    body = problem(http.token("clinic", scope="admin"), 400)
    assert body["error"] == "invalid_scope" and body["type"].endswith("/oauth-invalid-scope")


def test_a_wrong_secret_is_refused_with_401_and_a_bearer_challenge(http):
    r = http.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "clinic", "client_secret": "wrong"}
    )
    body = problem(r, 401)
    assert body["error"] == "invalid_client" and r.headers["www-authenticate"].startswith("Bearer realm=")
    assert r.headers["cache-control"] == "no-store"


def test_an_unknown_client_gets_the_same_answer_as_a_wrong_secret(http):
    r = http.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
    )
    assert problem(r, 401)["detail"] == "client authentication failed"


def test_an_unknown_grant_type_is_refused_with_unsupported_grant_type(http):
    r = http.client.post("/v1/auth/token", data={"grant_type": "implicit", "client_id": "clinic"})
    assert problem(r, 400)["error"] == "unsupported_grant_type"


def test_a_missing_grant_type_is_refused_naming_the_parameter(http):
    body = problem(http.client.post("/v1/auth/token", data={"client_id": "clinic"}), 400)
    assert body["error"] == "invalid_request" and "grant_type" in body["detail"]
    assert {"name": "grant_type", "reason": "this field is required"} in body["invalid_params"]


def test_a_grant_without_its_credentials_is_refused_with_invalid_request(http):
    body = problem(http.client.post("/v1/auth/token", data={"grant_type": "client_credentials"}), 400)
    assert body["error"] == "invalid_request" and "client_id and client_secret" in body["detail"]


def test_a_repeated_form_parameter_is_refused(http):
    r = http.client.post(
        "/v1/auth/token",
        content=b"grant_type=client_credentials&client_id=a&client_id=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body = problem(r, 400)
    assert body["error"] == "invalid_request" and "client_id" in body["detail"]


def test_a_form_that_is_not_utf8_is_refused(http):
    r = http.client.post(
        "/v1/auth/token", content=b"grant_type=\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert problem(r, 400)["error"] == "invalid_request"


def test_a_form_with_too_many_fields_is_refused(http):
    form = "&".join(f"f{i}=x" for i in range(30)).encode()
    r = http.client.post("/v1/auth/token", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert problem(r, 400)["error"] == "invalid_request"


def test_a_body_that_is_not_json_is_refused_with_invalid_request(http):
    r = http.client.post("/v1/auth/token", content=b"{not json", headers={"Content-Type": "application/json"})
    assert problem(r, 400)["error"] == "invalid_request"


def test_deeply_nested_json_is_refused_with_400_not_a_server_error(make_api):
    """In process only: the app must not re-raise, to show that no server error escapes."""
    api = make_api(raise_server_exceptions=False)
    r = api.client.post("/v1/auth/token", content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert problem(r, 400)["error"] == "invalid_request"


def test_a_json_body_that_is_not_an_object_is_refused(http):
    r = http.client.post("/v1/auth/token", json=["grant_type", "client_credentials"])
    assert "object" in problem(r, 400)["detail"]


def test_a_json_parameter_of_the_wrong_type_is_refused_naming_it(http):
    r = http.client.post(
        "/v1/auth/token", json={"grant_type": "client_credentials", "client_id": 42, "client_secret": "x"}
    )
    assert [p["name"] for p in problem(r, 400)["invalid_params"]] == ["client_id"]


def test_another_content_type_is_refused_with_415(http):
    r = http.client.post(
        "/v1/auth/token", content=b"grant_type=client_credentials", headers={"Content-Type": "text/plain"}
    )
    assert problem(r, 415)["type"].endswith("/unsupported-media-type")


def test_too_many_token_requests_for_one_client_get_429_with_retry_after(make_api):
    """In process only: the token limit is lowered for this test."""
    api = make_api(token_rate_limit={"limit": 2, "window_s": 60})
    for _ in range(2):
        api.client.post(
            "/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "clinic", "client_secret": "wrong"}
        )
    r = api.token("clinic")
    body = problem(r, 429)
    assert body["type"].endswith("/rate-limited") and int(r.headers["retry-after"]) >= 1
    assert r.headers["cache-control"] == "no-store"
    assert api.token("other-clinic").status_code == 200  # another client has its own budget


def test_anonymous_refresh_grants_do_not_use_up_the_token_budget_of_others(make_api):
    """In process only: the token limit is lowered for this test."""
    # A refresh_token grant names no client: it must not share one bucket with every other such
    # request, or anyone could block everyone's renewals with a few garbage tokens.
    api = make_api(token_rate_limit={"limit": 2, "window_s": 60})
    refresh = api.token("clinic").json()["refresh_token"]
    for _ in range(3):
        api.client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": "garbage"})
    r = api.client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 200, r.text


def test_the_refresh_token_grant_at_the_token_endpoint_renews_the_pair(http):
    refresh = http.token("clinic").json()["refresh_token"]
    r = http.client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 200 and r.json()["refresh_token"] != refresh


# -- POST /v1/auth/refresh -----------------------------------------------------------------------


def test_refresh_exchanges_a_refresh_token_for_a_new_pair_whose_access_token_works(http):
    refresh = http.token("clinic").json()["refresh_token"]
    r = http.client.post("/v1/auth/refresh", json={"refresh_token": refresh})
    assert r.status_code == 200, r.text
    assert r.json()["refresh_token"] != refresh and r.headers["cache-control"] == "no-store"
    ok = http.client.get("/v1/model", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert ok.status_code == 200


def test_a_refresh_token_used_twice_is_refused_with_invalid_grant(http):
    refresh = http.token("clinic").json()["refresh_token"]
    http.client.post("/v1/auth/refresh", json={"refresh_token": refresh})
    body = problem(http.client.post("/v1/auth/refresh", json={"refresh_token": refresh}), 400)
    assert body["error"] == "invalid_grant" and body["type"].endswith("/oauth-invalid-grant")


def test_reusing_a_refresh_token_revokes_its_successor_too(http):
    refresh = http.token("clinic").json()["refresh_token"]
    successor = http.client.post("/v1/auth/refresh", json={"refresh_token": refresh}).json()["refresh_token"]
    reuse = http.client.post("/v1/auth/refresh", json={"refresh_token": refresh})  # the thief's replay
    assert problem(reuse, 400)["error"] == "invalid_grant"
    after = http.client.post("/v1/auth/refresh", json={"refresh_token": successor})
    assert problem(after, 400)["error"] == "invalid_grant"


def test_an_access_token_is_not_a_refresh_token(http):
    access = http.token("clinic").json()["access_token"]
    r = http.client.post("/v1/auth/refresh", json={"refresh_token": access})
    assert problem(r, 400)["error"] == "invalid_grant"


def test_refresh_accepts_a_form_too(http):
    refresh = http.token("clinic").json()["refresh_token"]
    assert http.client.post("/v1/auth/refresh", data={"refresh_token": refresh}).status_code == 200


def test_refresh_without_a_token_names_the_missing_parameter(http):
    body = problem(http.client.post("/v1/auth/refresh", json={}), 400)
    assert body["error"] == "invalid_request" and "refresh_token" in body["detail"]
    assert [p["name"] for p in body["invalid_params"]] == ["refresh_token"]


def test_refresh_rejects_unknown_fields(http):
    body = problem(http.client.post("/v1/auth/refresh", json={"refresh_token": "x", "admin": True}), 400)
    assert "admin" in body["detail"]


# -- POST /v1/auth/revoke ------------------------------------------------------------------------


def test_revoke_answers_200_and_the_refresh_token_stops_working(http):
    refresh = http.token("clinic").json()["refresh_token"]
    r = http.client.post("/v1/auth/revoke", data={"token": refresh, "token_type_hint": "refresh_token"})
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["cache-control"] == "no-store"
    after = http.client.post("/v1/auth/refresh", json={"refresh_token": refresh})
    assert problem(after, 400)["error"] == "invalid_grant"


def test_revoke_answers_200_for_a_token_that_is_not_valid_so_it_reveals_nothing(http):
    # RFC 7009, section 2.2: the answer must not reveal whether the token was valid.
    r = http.client.post("/v1/auth/revoke", json={"token": "not-a-token"})
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_revoke_without_a_token_is_refused_with_invalid_request_naming_it(http):
    body = problem(http.client.post("/v1/auth/revoke", json={}), 400)
    assert body["error"] == "invalid_request" and "token" in body["detail"]


@pytest.mark.parametrize("path", ["/v1/auth/token", "/v1/auth/refresh", "/v1/auth/revoke"])
def test_auth_endpoints_refuse_get_with_a_405_problem(http, path):
    problem(http.client.get(path), 405)


# -- the Bearer check on protected routes --------------------------------------------------------


def test_a_protected_route_without_a_token_answers_401_with_a_bearer_challenge(http):
    r = http.client.get("/v1/model")
    body = problem(r, 401)
    assert body["type"].endswith("/unauthorized") and r.headers["www-authenticate"] == 'Bearer realm="modelship"'


def test_a_malformed_bearer_token_answers_401_invalid_token(http):
    r = http.client.get("/v1/model", headers={"Authorization": "Bearer not a token"})
    assert problem(r, 401)["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_a_refresh_token_cannot_be_used_as_an_access_token(http):
    refresh = http.token("clinic").json()["refresh_token"]
    r = http.client.get("/v1/model", headers={"Authorization": f"Bearer {refresh}"})
    assert problem(r, 401)["error"] == "invalid_token"


def test_a_token_without_the_needed_scope_answers_403_insufficient_scope(http):
    r = http.client.get("/v1/model", headers=http.headers("feedback-only"))
    body = problem(r, 403)
    assert body["type"].endswith("/insufficient-scope") and 'scope="predict"' in r.headers["www-authenticate"]


def test_a_person_with_a_password_token_can_predict(http):
    assert http.predict("pathologist").status_code == 200
