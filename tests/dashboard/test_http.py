"""The dashboard over HTTP, against the real API (both under uvicorn on 127.0.0.1): sign-in with a
monitor-scope account of either kind, CSRF, the session cookie's flags, tokens kept on the server
and renewed there, sign-out revoking them, and the service's failures as messages (C11.3, C9.1)."""

from __future__ import annotations

import time

import httpx
import pytest
from asgi_server import ServerThread
from starlette.testclient import TestClient

from dashboard.settings import DashboardSettings
from dashboard.web import create_app
from tests.dashboard.conftest import ACCESS_TTL_S, CSRF, api_app, sign_in, sign_in_page

pytestmark = [
    pytest.mark.requirement("C11.3", "C9.1"),
    pytest.mark.catalogue(
        part="Monitoring dashboard: sign-in, session and the service's failures over HTTP",
        scope="integration",
        strategy="example-based, attack, fault injection",
        tool="pytest, httpx, uvicorn (dashboard and API app in threads)",
    ),
]


def session_of(stack, principal: str):
    return next(s for s in reversed(stack.dashboard.sessions.all()) if s.principal == principal and s.signed_in)


@pytest.fixture
def browser_like(stack):
    with httpx.Client(base_url=stack.dashboard_url, timeout=30) as client:
        yield client


def test_the_page_needs_a_session_and_the_form_needs_its_csrf_token(stack, browser_like):
    r = browser_like.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    sign_in_page(browser_like)
    fields = {"kind": "service", "identifier": "dash-monitor", "secret": stack.secrets["dash-monitor"]}
    assert browser_like.post("/signin", data=fields).status_code == 403
    assert browser_like.post("/signin", data={**fields, "csrf_token": "forged"}).status_code == 403
    csrf = sign_in_page(browser_like)
    other_site = browser_like.post(
        "/signin", data={**fields, "csrf_token": csrf}, headers={"origin": "http://evil.example"}
    )
    assert other_site.status_code == 403 and "Form refused" in other_site.text
    assert browser_like.get("/").status_code == 303  # none of these signed in


def test_a_monitor_client_signs_in_and_its_tokens_stay_on_the_server(stack, browser_like):
    r = sign_in(browser_like, "dash-monitor", stack.secrets["dash-monitor"])
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http on loopback; https below
    page = browser_like.get("/")
    assert page.status_code == 200 and "<h1>Monitoring dashboard</h1>" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    session = session_of(stack, "dash-monitor")
    assert session.tokens is not None and session.tokens.scope == "monitor"
    fragment = browser_like.get("/live")
    for body in (r.text, page.text, fragment.text, str(page.headers), str(r.headers)):
        assert session.tokens.access not in body and session.tokens.refresh not in body
    assert fragment.status_code == 200 and 'id="live-content"' in fragment.text


def test_a_person_signs_in_with_a_username_and_password(stack, browser_like):
    r = sign_in(browser_like, "dash-person", stack.secrets["dash-person"], kind="user")
    assert r.status_code == 303
    assert browser_like.get("/").status_code == 200
    # the same secret as a client's is refused: the kinds use different grants
    with httpx.Client(base_url=stack.dashboard_url) as other:
        assert sign_in(other, "dash-person", stack.secrets["dash-person"], kind="service").status_code == 401


def test_wrong_credentials_a_missing_scope_and_empty_fields_are_told_apart(stack, browser_like):
    wrong = sign_in(browser_like, "dash-monitor", "not the secret")
    assert wrong.status_code == 401 and "Sign-in refused" in wrong.text
    no_scope = sign_in(browser_like, "dash-clinic", stack.secrets["dash-clinic"])
    assert no_scope.status_code == 403 and "monitor scope" in no_scope.text
    empty = sign_in(browser_like, "", "")
    assert empty.status_code == 422 and "Enter the client id or the username." in empty.text
    for r in (wrong, no_scope, empty):
        assert 'aria-invalid="true"' in r.text or "error-summary" in r.text
        assert "Traceback" not in r.text


def test_the_cookie_is_secure_over_https(stack):
    app = create_app(DashboardSettings(api_url=stack.api_url, site_dir="no-site"))
    with TestClient(app, base_url="https://dashboard.test") as client:
        r = client.get("/signin")
        assert "secure" in r.headers["set-cookie"].lower()


def test_tokens_renew_on_the_server_and_a_failed_renewal_ends_the_session_with_a_message(stack):
    stack.account("dash-doomed", ["monitor"])
    with (
        httpx.Client(base_url=stack.dashboard_url, timeout=30) as kept,
        httpx.Client(base_url=stack.dashboard_url, timeout=30) as doomed,
    ):
        assert sign_in(kept, "dash-monitor", stack.secrets["dash-monitor"]).status_code == 303
        assert sign_in(doomed, "dash-doomed", stack.secrets["dash-doomed"]).status_code == 303
        before = session_of(stack, "dash-monitor").tokens
        stack.auth.disable_client("dash-doomed")  # its refresh tokens end now, its access token later
        time.sleep(ACCESS_TTL_S * 0.8)  # past the renewal point of both access tokens
        assert kept.get("/").status_code == 200
        after = session_of(stack, "dash-monitor").tokens
        assert after.access != before.access and after.refresh != before.refresh  # renewed, rotated
        r = doomed.get("/live")
        assert r.status_code == 401 and 'data-state="signed-out"' in r.text
        assert "Your session with the service ended" in r.text and "Sign in again" in r.text
        r = doomed.get("/", follow_redirects=True)
        assert r.url.path == "/signin" and "Your session with the service ended" in r.text


def test_signing_out_revokes_the_refresh_token(stack, browser_like):
    assert sign_in(browser_like, "dash-monitor", stack.secrets["dash-monitor"]).status_code == 303
    tokens = session_of(stack, "dash-monitor").tokens
    page = browser_like.get("/")
    csrf = CSRF.search(page.text).group(1)
    r = browser_like.post("/signout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert "signed out" in browser_like.get("/signin").text
    refused = httpx.post(
        f"{stack.api_url}/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens.refresh}
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert browser_like.get("/").status_code == 303


def test_the_service_going_down_is_a_clear_message(stack, spare_api):
    app = create_app(DashboardSettings(api_url=spare_api.url, site_dir="no-site"))
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        assert sign_in(client, "dash-monitor", stack.secrets["dash-monitor"]).status_code == 303
        assert client.get("/").status_code == 200
        spare_api.stop()
        down = client.get("/")
        assert down.status_code == 503
        assert "The monitoring service cannot be reached" in down.text and spare_api.url in down.text
        assert "Traceback" not in down.text and 'File "' not in down.text
        with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as fresh:
            r = sign_in(fresh, "dash-monitor", stack.secrets["dash-monitor"])
            assert r.status_code == 503 and "cannot be reached" in r.text


def test_monitoring_turned_off_in_the_service_is_said_so(stack, tmp_path, registry_root, auth_dir, contract):
    folder, _, _ = auth_dir
    with ServerThread(api_app(tmp_path, registry_root, folder, contract, enabled=False)) as url:
        app = create_app(DashboardSettings(api_url=url, site_dir="no-site"))
        with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
            assert sign_in(client, "dash-monitor", stack.secrets["dash-monitor"]).status_code == 303
            page = client.get("/")
            assert page.status_code == 404 and "Monitoring is turned off in the service" in page.text
            fragment = client.get("/live")
            assert fragment.status_code == 404 and 'data-state="problem"' in fragment.text


def test_a_form_that_is_not_a_form_and_a_missing_docs_site_get_pages_in_words(stack, browser_like):
    csrf = sign_in_page(browser_like)
    r = browser_like.post(
        "/signin", content=f'{{"csrf_token": "{csrf}"}}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 403 and "Form refused" in r.text
    r = browser_like.post("/signout", data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = browser_like.get("/site/docs/monitoring.html")
    assert r.status_code == 404 and "make docs" in r.text
