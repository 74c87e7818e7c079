"""OWASP API Security Top 10 (2023) over HTTP against the live service (C9.3).

docs/security.qmd maps API1-API10 to these tests and to the endpoint tests.
"""
import base64
import json
import shutil
import socket
import time
import uuid

import httpx
import jwt
import psutil
import pytest
import yaml

from modelship.contract import load_contract
from modelship.registry import IntegrityError
from serve.auth import AuthSettings
from serve.auth.keys import KeyRing
from serve.auth.tokens import ACCESS_TYP, TokenCodec
from serve.model import ModelHolder
from serve.settings import Settings
from tests.api.builders import CONTRACT, ROOT, sample_records
from tests.api.conftest import ALLOWED_ORIGIN, problem_of

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="API security: OWASP API Security Top 10 (2023), API1-API10",
        scope="system", strategy="attack", tool="pytest + httpx, live Ray Serve",
    ),
]


# -- API1 Broken object level authorisation ----------------------------------------------
def test_api1_a_client_cannot_read_or_annotate_another_clients_prediction(api, served):
    pid = api.post("/v1/predict", json={"records": sample_records(1)},
                   headers=served.headers("clinic")).json()["predictions"][0]["prediction_id"]
    problem_of(api.get(f"/v1/predictions/{pid}", headers=served.headers("other-clinic")), 404)
    r = api.post("/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=served.headers("other-clinic"))
    problem_of(r, 404)


# -- API2 Broken authentication: a representative JWT attack suite end to end -------------
def _codec(served, **overrides):
    settings = Settings.from_config(served.config_path).auth_settings()
    if overrides:
        settings = AuthSettings(**{**settings.__dict__, **overrides})
    return TokenCodec(settings, KeyRing(settings))


def _forge(served, *, now=None, exp_in=900, **overrides):
    now = int(time.time()) if now is None else now
    return _codec(served, **overrides).encode(ACCESS_TYP, sub="clinic", kind="service", scopes=["predict"],
                                               jti=uuid.uuid4().hex, now=now, exp=now + exp_in)


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def _model_with(api, token):
    return api.get("/v1/model", headers={"Authorization": f"Bearer {token}"})


def test_api2_a_well_forged_token_is_accepted_so_the_attacks_below_are_meaningful(api, served):
    assert _model_with(api, _forge(served)).status_code == 200


def test_api2_alg_none_is_refused(api, served):
    good = jwt.decode(_forge(served), options={"verify_signature": False})
    header = jwt.get_unverified_header(_forge(served))
    token = f"{_b64({**header, 'alg': 'none'})}.{_b64(good)}."
    assert problem_of(_model_with(api, token), 401)["error"] == "invalid_token"


def test_api2_a_token_signed_with_another_key_is_refused(api, served):
    claims = jwt.decode(_forge(served), options={"verify_signature": False})
    header = jwt.get_unverified_header(_forge(served))
    token = jwt.encode(claims, "x" * 64, algorithm="HS256", headers={"kid": header["kid"], "typ": "at+jwt"})
    problem_of(_model_with(api, token), 401)


def test_api2_an_expired_token_is_refused(api, served):
    token = _forge(served, now=int(time.time()) - 4000, exp_in=900)
    body = problem_of(_model_with(api, token), 401)
    assert "expired" in body["detail"]


def test_api2_a_token_for_another_audience_is_refused(api, served):
    problem_of(_model_with(api, _forge(served, audience="another-api")), 401)


def test_api2_a_refresh_token_is_not_an_access_token(api, served):
    refresh = api.post("/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "clinic",
                                               "client_secret": served.secrets["clinic"]}).json()["refresh_token"]
    problem_of(_model_with(api, refresh), 401)


def test_api2_a_token_in_the_query_string_is_ignored(api, served):
    r = api.get("/v1/model", params={"access_token": served.token("clinic")})
    problem_of(r, 401)
    assert r.headers["www-authenticate"] == 'Bearer realm="modelship"'


def test_api2_the_basic_scheme_is_not_accepted_on_resources(api, served):
    basic = base64.b64encode(f"clinic:{served.secrets['clinic']}".encode()).decode()
    r = api.get("/v1/model", headers={"Authorization": f"Basic {basic}"})
    problem_of(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


# -- API3 Broken object property level authorisation ---------------------------------------
def test_api3_responses_carry_only_their_documented_properties(api, served):
    spec = api.get("/openapi.json").json()["components"]["schemas"]
    pred = api.post("/v1/predict", json={"records": sample_records(1)}, headers=served.headers("clinic")).json()
    assert set(pred) == set(spec["PredictResponse"]["properties"])
    assert set(pred["predictions"][0]) == set(spec["Prediction"]["properties"])
    card = api.get("/v1/model", headers=served.headers("clinic")).json()
    assert set(card) == set(spec["ModelCard"]["properties"])


def test_api3_a_body_with_an_unknown_property_is_refused(api, served):
    r = api.post("/v1/admin/model", json={"action": "rollback", "actor": "someone-else"},
                 headers=served.headers("admin"))
    assert problem_of(r, 422)["invalid_params"][0]["name"] == "actor"


# -- API4 Unrestricted resource consumption ----------------------------------------------
def test_api4_a_body_over_the_limit_is_413(api, served):
    big = {"records": sample_records(1) * 3000}
    problem_of(api.post("/v1/predict", json=big, headers=served.headers("clinic")), 413)


def test_api4_a_chunked_body_over_the_limit_is_413_too(api, served):
    chunks = (b"x" * 65536 for _ in range(8))  # no Content-Length: the limit is counted as it streams
    r = api.post("/v1/predict", content=chunks, headers={**served.headers("clinic"), "Content-Type": "application/json"})
    problem_of(r, 413)


def test_api4_more_records_than_the_batch_cap_is_422(api, served):
    problem_of(api.post("/v1/predict", json={"records": sample_records(101)}, headers=served.headers("clinic")), 422)


def test_api4_a_client_over_its_request_rate_gets_429_with_retry_after(api, served):
    headers = served.headers("limited")  # 3 requests per hour in the test config
    # A new connection per request: the kernel spreads them over the ingress replicas, and
    # the limit holds across them (serve/ratelimit.py, SharedTokenBuckets).
    codes = [httpx.get(served.base_url + "/v1/model", headers=headers, timeout=30).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    for _ in range(4):
        r = httpx.get(served.base_url + "/v1/model", headers=headers, timeout=30)
        problem_of(r, 429)
        assert int(r.headers["retry-after"]) >= 1


def test_api4_overload_settings_are_in_the_serve_config():
    config = yaml.safe_load((ROOT / "serve" / "config.yaml").read_text())
    assert config["http_options"]["request_timeout_s"] > 0
    for dep in config["applications"][0]["deployments"]:
        assert dep["max_queued_requests"] > 0 and dep["max_ongoing_requests"] > 0, dep["name"]
    # The 503 answers themselves are tested in test_fault.py.


# -- API5 Broken function level authorisation: see test_admin.py (403 for non-admin tokens) -
def test_api5_a_predict_token_cannot_switch_the_model(api, served):
    problem_of(api.post("/v1/admin/model", json={"action": "rollback"}, headers=served.headers("clinic")), 403)


# -- API6 Unrestricted access to sensitive business flows: the row quota -------------------
def test_api6_a_client_over_its_row_quota_gets_429_with_retry_after(api, served):
    headers = served.headers("quota")  # 5 rows per hour in the test config

    def predict(n):  # on a new connection each time: the quota holds across ingress replicas
        return httpx.post(served.base_url + "/v1/predict", json={"records": sample_records(n)}, headers=headers,
                          timeout=30)

    assert predict(3).status_code == 200
    r = predict(3)
    body = problem_of(r, 429)
    assert "quota" in body["detail"] and int(r.headers["retry-after"]) >= 1
    # What is left of the quota can still be used, and no more.
    assert predict(2).status_code == 200
    problem_of(predict(1), 429)


# -- API7 Server side request forgery ------------------------------------------------------
def test_api7_key_urls_in_a_token_header_are_never_fetched(api, served):
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(8)
        trap.setblocking(False)
        url = f"http://127.0.0.1:{trap.getsockname()[1]}/keys"
        claims = jwt.decode(_forge(served), options={"verify_signature": False})
        for header in ({"jku": url}, {"x5u": url}, {"jwk": {"kty": "oct", "k": "eA"}, "jku": url}):
            token = jwt.encode(claims, "y" * 64, algorithm="HS256", headers={"typ": "at+jwt", **header})
            problem_of(_model_with(api, token), 401)
        time.sleep(0.5)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody connected


# -- API8 Security misconfiguration -------------------------------------------------------
def test_api8_errors_are_problem_json_without_stack_traces(api, served):
    for r in (api.get("/nope"), api.delete("/v1/predict"), api.get("/v1/model"),
              api.post("/v1/predict", content=b"{", headers={**served.headers("clinic"),
                                                              "Content-Type": "application/json"})):
        body = problem_of(r, r.status_code)
        assert "Traceback" not in r.text and "File \"" not in r.text and str(ROOT) not in r.text
        assert body["instance"] == r.request.url.path


@pytest.mark.parametrize("path,auth", [("/v1/model", True), ("/v1/model", False), ("/health/live", False), ("/nope", False)])
def test_api8_every_response_carries_the_security_headers(api, served, path, auth):
    r = api.get(path, headers=served.headers("clinic") if auth else {})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "server" not in r.headers  # no banner naming the HTTP server (serve/shared_port.py)


def test_api8_api_answers_are_never_cached(api, served):
    assert api.get("/v1/model", headers=served.headers("clinic")).headers["cache-control"] == "no-store"
    r = api.post("/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "clinic",
                                         "client_secret": served.secrets["clinic"]})
    assert r.headers["cache-control"] == "no-store"


def test_api8_an_allowed_origin_gets_cors_headers(api, served):
    r = api.get("/v1/model", headers={**served.headers("clinic"), "Origin": ALLOWED_ORIGIN})
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    pre = api.options("/v1/predict", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204 and "authorization" in pre.headers["access-control-allow-headers"]


def test_api8_a_disallowed_origin_gets_no_cors_headers(api, served):
    r = api.get("/v1/model", headers={**served.headers("clinic"), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = api.options("/v1/predict", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    problem_of(pre, 403)
    assert "access-control-allow-origin" not in pre.headers


def _listeners(port):
    return [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port]


def test_api8_the_ray_dashboard_and_the_api_listen_on_loopback_only(served):
    port = int(served.base_url.rsplit(":", 1)[1])
    for p in (served.dashboard_port, port):
        found = _listeners(p)
        assert found, f"nothing listens on {p}"
        assert {c.laddr.ip for c in found} <= {"127.0.0.1"}, found


# -- API9 Improper inventory management: see test_openapi.py (served routes == snapshot) ---

# -- API10 Unsafe consumption of APIs: the model file is verified before it is loaded ------
def test_api10_a_tampered_production_model_refuses_to_load_with_a_clear_error(served, tmp_path):
    copy = tmp_path / "registry"
    shutil.copytree(served.registry_root, copy)
    from modelship.registry import Registry
    reg = Registry(copy)
    model_file = reg.version_dir(reg.production()) / "model.skops"
    model_file.write_bytes(model_file.read_bytes()[:-10])
    with pytest.raises(IntegrityError, match="checksum mismatch.*restore it or re-run `make train`"):
        ModelHolder(copy, [f.name for f in load_contract(CONTRACT).features])
