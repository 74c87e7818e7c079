"""Sessions against the running app: cookie flags, rotation at sign-in, sign-out, expiry."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from pathlab import db, sessions, throttle
from pathlab.settings import Settings
from support import LiveApp, add_user, post_form

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(
        part="Lab app: sign-in and sessions", scope="system", strategy="example-based", tool="pytest + httpx, uvicorn"
    ),
]


def _cookie(response: httpx.Response, name: str) -> str:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(name + "="))
    return header


def test_the_session_cookie_is_httponly_and_samesite(live: LiveApp) -> None:
    response = live.client().get("/login")
    header = _cookie(response, live.settings.session.cookie_name).lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header


def test_pages_need_a_signed_in_session(live: LiveApp) -> None:
    response = live.client().get("/cases?page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcases%3Fpage%3D2"


def test_sign_in_replaces_the_session_and_stores_only_a_hash(live: LiveApp) -> None:
    add_user(live.settings, "dora", "Dora Keller")
    client = live.client()
    name = live.settings.session.cookie_name
    client.get("/login")
    before = client.cookies[name]
    response = post_form(client, "/login", {"username": "dora", "password": "a long test passphrase"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    after = client.cookies[name]
    assert after != before
    home = client.get("/cases")
    assert home.status_code == 200 and "Signed in as Dora Keller" in home.text
    stale = live.client()
    stale.cookies.set(name, before)
    assert stale.get("/cases").headers.get("location", "").startswith("/login")  # the pre-sign-in token opens nothing
    conn = db.open_database(live.settings.database.path)
    stored = {row[0] for row in conn.execute("SELECT token_hash FROM sessions")}
    assert after not in stored and hashlib.sha256(after.encode()).hexdigest() in stored


def test_sign_out_ends_the_session_on_the_server(live: LiveApp) -> None:
    add_user(live.settings, "ezra")
    client = live.sign_in("ezra")
    token = client.cookies[live.settings.session.cookie_name]
    response = post_form(client, "/logout", {}, token_from="/cases")
    assert response.status_code == 303 and response.headers["location"] == "/login?signed_out=1"
    assert "You are signed out." in client.get("/login?signed_out=1").text
    replay = live.client()
    replay.cookies.set(live.settings.session.cookie_name, token)
    assert replay.get("/cases").headers.get("location", "").startswith("/login")


def test_an_idle_session_expires(live: LiveApp) -> None:
    add_user(live.settings, "fay")
    client = live.sign_in("fay")
    token = client.cookies[live.settings.session.cookie_name]
    idle = live.settings.session.idle_minutes * 60
    conn = db.open_database(live.settings.database.path)
    conn.execute(
        "UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
        (time.time() - idle - 1, hashlib.sha256(token.encode()).hexdigest()),
    )
    assert client.get("/cases").headers.get("location", "").startswith("/login")


def test_sign_in_returns_to_the_page_asked_for_and_never_to_another_site(live: LiveApp) -> None:
    add_user(live.settings, "gus")
    for asked, landed in (("/cases?page=2", "/cases?page=2"), ("//evil.example/", "/"), ("https://evil.example/", "/")):
        client = live.client()
        token = client.get("/login", params={"next": asked})
        assert token.status_code == 200
        response = post_form(client, "/login", {"username": "gus", "password": "a long test passphrase", "next": asked})
        assert response.headers["location"] == landed


def test_wrong_credentials_say_so_without_telling_which(live: LiveApp) -> None:
    add_user(live.settings, "hal")
    client = live.client()
    wrong_password = post_form(client, "/login", {"username": "hal", "password": "not the passphrase"})
    unknown_user = post_form(client, "/login", {"username": "nobody", "password": "not the passphrase"})
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert "The username or password is not right" in response.text
    empty = post_form(client, "/login", {"username": "", "password": ""})
    assert empty.status_code == 400
    assert 'aria-describedby="username-error"' in empty.text and 'aria-describedby="password-error"' in empty.text


def test_expired_sessions_and_old_failures_are_purged(settings: Settings) -> None:
    conn = db.open_database(settings.database.path)
    fresh = sessions.create(conn)
    stale = sessions.create(conn)
    long_ago = time.time() - settings.session.absolute_hours * 3600 - 1
    digest = hashlib.sha256(stale.token.encode()).hexdigest()
    conn.execute("UPDATE sessions SET created_at = ?, last_seen = ? WHERE token_hash = ?", (long_ago, long_ago, digest))
    throttle.record_failure(conn, "someone", "127.0.0.1")
    conn.execute("UPDATE login_failures SET at = ?", (time.time() - settings.login.window_minutes * 60 - 1,))
    assert sessions.purge_expired(conn, settings.session) == 1
    throttle.purge(conn, settings.login)
    assert sessions.load(conn, fresh.token, settings.session) is not None
    assert conn.execute("SELECT COUNT(*) FROM login_failures").fetchone()[0] == 0
