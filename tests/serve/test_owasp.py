"""OWASP API Security Top 10 (2023) over HTTP, on both transports (C9.1, C9.3).

docs/security.qmd maps API1-API10 to these tests and to the endpoint tests. The cases that need
the real server (limits shared by the replicas, the server banner, the listening addresses)
are in tests/live/test_owasp.py; the security headers and CORS in tests/serve/test_guard.py.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid

import jwt
import pytest
from api_support import ROOT, problem, sample_records

from serve.auth import AuthSettings
from serve.auth.keys import KeyRing
from serve.auth.tokens import ACCESS_TYP, TokenCodec

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="API security: OWASP API Security Top 10 (2023), API1-API10",
        scope="integration",
        strategy="attack",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


# -- API1 Broken object level authorisation ----------------------------------------------
def test_api1_a_client_cannot_read_or_annotate_another_clients_prediction(http):
    pid = http.predict("clinic").json()["predictions"][0]["prediction_id"]
    problem(http.client.get(f"/v1/predictions/{pid}", headers=http.headers("other-clinic")), 404)
    r = http.client.post(
        "/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=http.headers("other-clinic")
    )
    problem(r, 404)


# -- API2 Broken authentication: a representative JWT attack suite end to end -------------
def _codec(http, **overrides):
    settings = http.auth_settings
    if overrides:
        settings = AuthSettings(**{**settings.__dict__, **overrides})
    return TokenCodec(settings, KeyRing(settings))


def _forge(http, *, now=None, exp_in=900, **overrides):
    now = int(time.time()) if now is None else now
    return _codec(http, **overrides).encode(
        ACCESS_TYP, sub="clinic", kind="service", scopes=["predict"], jti=uuid.uuid4().hex, now=now, exp=now + exp_in
    )


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def _model_with(http, token):
    return http.client.get("/v1/model", headers={"Authorization": f"Bearer {token}"})


def test_api2_a_well_forged_token_is_accepted_so_the_attacks_below_are_meaningful(http):
    assert _model_with(http, _forge(http)).status_code == 200


def test_api2_alg_none_is_refused(http):
    good = jwt.decode(_forge(http), options={"verify_signature": False})
    header = jwt.get_unverified_header(_forge(http))
    token = f"{_b64({**header, 'alg': 'none'})}.{_b64(good)}."
    assert problem(_model_with(http, token), 401)["error"] == "invalid_token"


def test_api2_a_token_signed_with_another_key_is_refused(http):
    claims = jwt.decode(_forge(http), options={"verify_signature": False})
    header = jwt.get_unverified_header(_forge(http))
    token = jwt.encode(claims, "x" * 64, algorithm="HS256", headers={"kid": header["kid"], "typ": "at+jwt"})
    problem(_model_with(http, token), 401)


def test_api2_an_expired_token_is_refused(http):
    token = _forge(http, now=int(time.time()) - 4000, exp_in=900)
    assert "expired" in problem(_model_with(http, token), 401)["detail"]


def test_api2_a_token_for_another_audience_is_refused(http):
    problem(_model_with(http, _forge(http, audience="another-api")), 401)


def test_api2_a_refresh_token_is_not_an_access_token(http):
    problem(_model_with(http, http.token("clinic").json()["refresh_token"]), 401)


def test_api2_a_token_in_the_query_string_is_ignored(http):
    token = http.token("clinic").json()["access_token"]
    r = http.client.get("/v1/model", params={"access_token": token})
    problem(r, 401)
    assert r.headers["www-authenticate"] == 'Bearer realm="modelship"'


def test_api2_the_basic_scheme_is_not_accepted_on_resources(http):
    basic = base64.b64encode(f"clinic:{http.secrets['clinic']}".encode()).decode()
    r = http.client.get("/v1/model", headers={"Authorization": f"Basic {basic}"})
    problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


# -- API3 Broken object property level authorisation ---------------------------------------
def test_api3_responses_carry_only_their_documented_properties(http):
    spec = http.client.get("/openapi.json").json()["components"]["schemas"]
    pred = http.predict("clinic").json()
    assert set(pred) == set(spec["PredictResponse"]["properties"])
    assert set(pred["predictions"][0]) == set(spec["Prediction"]["properties"])
    card = http.client.get("/v1/model", headers=http.headers("clinic")).json()
    assert set(card) == set(spec["ModelCard"]["properties"])


def test_api3_a_body_with_an_unknown_property_is_refused(http):
    r = http.client.post(
        "/v1/admin/model", json={"action": "rollback", "actor": "someone-else"}, headers=http.headers("admin")
    )
    assert problem(r, 422)["invalid_params"][0]["name"] == "actor"


# -- API4 Unrestricted resource consumption (the limits across replicas: tests/live) -----
def test_api4_a_body_over_the_limit_is_413(http):
    big = {"records": sample_records(1) * 3000}
    problem(http.client.post("/v1/predict", json=big, headers=http.headers("clinic")), 413)


def test_api4_a_chunked_body_over_the_limit_is_413_too(http):
    chunks = (b"x" * 65536 for _ in range(8))  # no Content-Length: the limit is counted as it streams
    r = http.client.post(
        "/v1/predict", content=chunks, headers=http.headers("clinic", **{"Content-Type": "application/json"})
    )
    problem(r, 413)


# -- API5 Broken function level authorisation: tests/serve/routes/test_admin.py (403) ---


# -- API7 Server side request forgery ------------------------------------------------------
def test_api7_key_urls_in_a_token_header_are_never_fetched(http):
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(8)
        trap.setblocking(False)
        url = f"http://127.0.0.1:{trap.getsockname()[1]}/keys"
        claims = jwt.decode(_forge(http), options={"verify_signature": False})
        for header in ({"jku": url}, {"x5u": url}, {"jwk": {"kty": "oct", "k": "eA"}, "jku": url}):
            token = jwt.encode(claims, "y" * 64, algorithm="HS256", headers={"typ": "at+jwt", **header})
            problem(_model_with(http, token), 401)
        time.sleep(0.5)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody connected


# -- API8 Security misconfiguration (headers and CORS: tests/serve/test_guard.py) ---------
def test_api8_errors_are_problem_json_without_stack_traces(http):
    c = http.client
    for r in (
        c.get("/nope"),
        c.delete("/v1/predict"),
        c.get("/v1/model"),
        c.post("/v1/predict", content=b"{", headers=http.headers("clinic", **{"Content-Type": "application/json"})),
    ):
        body = problem(r, r.status_code)
        assert "Traceback" not in r.text and 'File "' not in r.text and str(ROOT) not in r.text
        assert body["instance"] == r.request.url.path


# -- API9 Improper inventory management: tests/serve/routes/test_openapi.py -----------------
# -- API10 Unsafe consumption of APIs: tests/serve/test_model.py (a tampered model file) ----
