"""OWASP API Security Top 10 (2023) cases that need the real server (C9.1, C9.3).

The limits hold across the ingress replicas (a new connection per request), no answer names the
HTTP server, and the service and Ray's dashboard listen on loopback only. The other cases run on
both transports in tests/serve/test_owasp.py; docs/security.qmd maps API1-API10 to them.
"""

import httpx
import psutil
import pytest
from api_support import problem_of, sample_records

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="API security: OWASP API Security Top 10 (2023), API4, API6, API8",
        scope="system",
        strategy="attack",
        tool="pytest + httpx, live Ray Serve",
    ),
]


# -- API4 Unrestricted resource consumption ----------------------------------------------
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


# -- API6 Unrestricted access to sensitive business flows: the row quota -------------------
def test_api6_a_client_over_its_row_quota_gets_429_with_retry_after(api, served):
    headers = served.headers("quota")  # 5 rows per hour in the test config

    def predict(n):  # on a new connection each time: the quota holds across ingress replicas
        return httpx.post(
            served.base_url + "/v1/predict", json={"records": sample_records(n)}, headers=headers, timeout=30
        )

    assert predict(3).status_code == 200
    r = predict(3)
    body = problem_of(r, 429)
    assert "quota" in body["detail"] and int(r.headers["retry-after"]) >= 1
    # What is left of the quota can still be used, and no more.
    assert predict(2).status_code == 200
    problem_of(predict(1), 429)


# -- API8 Security misconfiguration -------------------------------------------------------
@pytest.mark.parametrize(
    "path,auth", [("/v1/model", True), ("/v1/model", False), ("/health/live", False), ("/nope", False)]
)
def test_api8_no_answer_names_the_http_server(api, served, path, auth):
    r = api.get(path, headers=served.headers("clinic") if auth else {})
    assert r.headers["x-content-type-options"] == "nosniff"  # the guard answered, not a bare server
    assert "server" not in r.headers  # no banner naming the HTTP server (serve/shared_port.py)


def _listeners(port):
    return [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port]


def test_api8_the_ray_dashboard_and_the_api_listen_on_loopback_only(served):
    port = int(served.base_url.rsplit(":", 1)[1])
    for p in (served.dashboard_port, port):
        found = _listeners(p)
        assert found, f"nothing listens on {p}"
        assert {c.laddr.ip for c in found} <= {"127.0.0.1"}, found
