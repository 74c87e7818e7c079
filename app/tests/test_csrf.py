"""CSRF: every form the app accepts is refused without the session's token or from another origin."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.routing import Route

from pathlab.routes import ROUTES
from pathlab.settings import PROJECT_DIR
from support import LiveApp, add_user, csrf_token

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(
        part="Lab app: CSRF protection of every form", scope="system", strategy="attack", tool="pytest + httpx, uvicorn"
    ),
]

CASE = json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text(encoding="utf-8"))["cases"][0]["accession"]
POST_PATHS = sorted(
    {
        route.path.replace("{accession}", CASE).replace("{job}", "1")
        for route in ROUTES
        if isinstance(route, Route) and "POST" in (route.methods or set())
    }
)


def test_the_app_has_forms_to_protect() -> None:
    assert {"/login", "/logout", f"/cases/{CASE}/diagnosis"} <= set(POST_PATHS)


@pytest.fixture(scope="module")
def signed_in(live: LiveApp) -> httpx.Client:
    add_user(live.settings, "csrf-tester")
    return live.sign_in("csrf-tester")


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_form_without_the_right_token_is_refused(
    live: LiveApp, signed_in: httpx.Client, path: str, token: str | None
) -> None:
    fields = {} if token is None else {"csrf_token": token}
    response = signed_in.post(path, data={**fields, "username": "csrf-tester", "password": "a long test passphrase"})
    assert response.status_code == 403
    assert "This form was not accepted" in response.text
    assert signed_in.get("/cases").status_code == 200  # the refusal changed nothing: still signed in
    assert "Awaiting diagnosis" in signed_in.get(f"/cases/{CASE}").text


@pytest.mark.parametrize("path", POST_PATHS)
def test_a_form_posted_from_another_site_is_refused(live: LiveApp, signed_in: httpx.Client, path: str) -> None:
    token = csrf_token(signed_in, "/cases")
    response = signed_in.post(path, data={"csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_a_token_from_another_session_is_refused(live: LiveApp, signed_in: httpx.Client) -> None:
    other = live.client()
    foreign = csrf_token(other, "/login")
    response = signed_in.post("/logout", data={"csrf_token": foreign})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"csrf_token": "x"}', {"content-type": "application/json"}, 415),
        (b"a=" + b"x" * 20000, {"content-type": "application/x-www-form-urlencoded"}, 413),
        (b"a=%ff", {"content-type": "application/x-www-form-urlencoded"}, 400),
        (b"a=1&a=2", {"content-type": "application/x-www-form-urlencoded"}, 400),
    ],
)
def test_a_body_that_is_not_a_small_form_is_refused(live: LiveApp, content: bytes, headers: dict, status: int) -> None:
    response = live.client().post("/login", content=content, headers={**headers, "accept": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
