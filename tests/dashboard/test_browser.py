"""The dashboard in a real Chromium (Debian's, through Playwright, axe-core injected), against the
real API: each state at 1280 and 320 px with zero axe violations (WCAG 2.2 AA tags), a
keyboard-only walk, the pause control, the polite announcement of an update, no request leaving
127.0.0.1, no token in the page or its URLs, the cookie's flags (C11.3, C11.4, C11.6).

The alerting state is the service's own: drifted traffic in every window until the drift alert
of monitoring/alerts.yaml fires.

Set MODELSHIP_SCREENSHOTS to a folder to keep a full-page PNG of each state."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from asgi_server import ServerThread
from browser_support import (
    WIDTHS,
    Visit,
    axe_violations,
    describe_violations,
    heading_problems,
    horizontal_overflow,
    images_without_alt,
    open_page,
    tab_walk,
)

from dashboard.settings import DashboardSettings
from dashboard.web import create_app
from tests.dashboard.conftest import ROWS

pytestmark = [
    pytest.mark.requirement("C11.3", "C11.4", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring dashboard in a real browser: states, accessibility, keyboard, live updates",
        scope="integration",
        strategy="example-based, behavioural, fault injection",
        tool="pytest, Playwright (Chromium), axe-core, uvicorn",
    ),
]

SHOTS = os.environ.get("MODELSHIP_SCREENSHOTS")


def check(visit: Visit, state: str) -> None:
    """What every page of the dashboard must pass, in every state and width."""
    page = visit.page
    if page.locator("#pause-updates").is_visible():
        page.click("#pause-updates")  # the figures stay still while axe reads them
    violations = axe_violations(page)
    assert not violations, f"{state} at {visit.width} px:\n" + describe_violations(violations)
    assert page.title().strip() and page.get_attribute("html", "lang") == "en"
    assert horizontal_overflow(page) == 0, f"{state} at {visit.width} px scrolls sideways"
    assert not heading_problems(page), heading_problems(page)
    assert not images_without_alt(page)
    assert page.locator("a.skip-link").get_attribute("href") == "#main"
    assert not visit.blocked, visit.blocked
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{state}-{visit.width}.png"), full_page=True)


def sign_in(page: Any, identifier: str, secret: str) -> None:
    page.fill("#identifier", identifier)
    page.fill("#secret", secret)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


@contextmanager
def signed_in(browser: Any, base_url: str, secret: str, width: int, **context: Any) -> Iterator[Visit]:
    with open_page(browser, base_url + "/signin", width) as visit:
        sign_in(visit.page, "dash-monitor", secret)
        assert visit.page.url == base_url + "/", visit.page.content()[:2000]
        yield visit


def wait_text(page: Any, selector: str, needle: str, timeout_s: float = 20) -> str:
    """The element's text once it holds `needle` (polled from here: the page's CSP forbids the
    string evaluation wait_for_function would use)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = page.inner_text(selector)
        if needle in text:
            return text
        assert time.monotonic() < deadline, f"{selector}: {text!r} never held {needle!r}"
        page.wait_for_timeout(200)


def tokens_of(stack) -> list[str]:
    return [t for s in stack.dashboard.sessions.all() if s.tokens for t in (s.tokens.access, s.tokens.refresh)]


def test_the_sign_in_page_and_its_errors(browser, stack):
    for width in WIDTHS:
        with open_page(browser, stack.dashboard_url + "/signin", width) as visit:
            check(visit, "sign-in")
            sign_in(visit.page, "dash-monitor", "not the secret")
            assert visit.page.locator("#error-summary h2").inner_text() == "Sign-in refused"
            assert visit.page.evaluate("document.activeElement.id") == "error-summary"
            check(visit, "sign-in-refused")
            sign_in(visit.page, "", "")
            assert visit.page.get_attribute("#identifier", "aria-invalid") == "true"
            check(visit, "sign-in-empty")


def test_normal_traffic_is_an_ok_page_without_token_in_it(browser, stack):
    stack.predict()
    stack.wait_for_window(lambda w: w["rows"] == ROWS and w["drift"]["verdict"] == "no drift")
    requests: list[str] = []
    for width in WIDTHS:
        with signed_in(browser, stack.dashboard_url, stack.secrets["dash-monitor"], width) as visit:
            page = visit.page
            page.on("request", lambda r: requests.append(r.url))
            assert "Status: OK." in page.locator(".status").inner_text()
            assert page.locator("#drift-caption").is_visible() and page.locator("#drift-table tbody tr").count() == 30
            assert "Not enough labels yet" in page.locator("#performance").inner_text()
            assert page.locator("#ops-table").inner_text().count(" ms") == 3
            check(visit, "normal")
            cookie = next(c for c in page.context.cookies() if c["name"] == "modelship_dashboard")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
            html = page.content()
            urls = [*requests, page.url]
            for token in tokens_of(stack):
                assert token not in html and not any(token in u for u in urls)
            assert page.evaluate("document.cookie") == ""  # HttpOnly: the script cannot read it


def test_drifted_traffic_is_a_warning_with_the_drifted_features_first(browser, stack):
    stack.predict(drifted=True)
    stack.wait_for_window(lambda w: w["rows"] == ROWS and w["drift"]["verdict"] == "drift")
    for width in WIDTHS:
        with signed_in(browser, stack.dashboard_url, stack.secrets["dash-monitor"], width) as visit:
            status = visit.page.locator(".status").inner_text()
            assert "Status: Warning." in status
            first = visit.page.locator("#drift-table tbody tr").first.inner_text()
            assert "drifted" in first
            check(visit, "drift-warning")


def test_drift_in_every_window_fires_the_alert_and_the_page_links_its_runbook(browser, stack):
    with stack.drifting():
        stack.wait_for_alert("drift", "firing")
        for width in WIDTHS:
            with signed_in(browser, stack.dashboard_url, stack.secrets["dash-monitor"], width) as visit:
                page = visit.page
                status = wait_text(page, ".status", "Status: Alerting.")
                assert "firing" in status
                link = page.locator("#runbook-drift")
                assert link.get_attribute("href") == "/site/docs/monitoring.html#runbook-drift"
                assert "drift" in page.locator("#alerts-table").inner_text()
                check(visit, "alerting")
                stops = [s.element for s in tab_walk(page)]
                assert any("runbook-drift" in s for s in stops), stops


def test_no_data_yet_then_the_service_down(browser, stack, spare_api):
    app = create_app(DashboardSettings(api_url=spare_api.url, poll_s=1, site_dir="no-site"))
    with ServerThread(app) as url:
        for width in WIDTHS:
            with signed_in(browser, url, stack.secrets["dash-monitor"], width) as visit:
                assert "Status: No data yet." in visit.page.locator(".status").inner_text()
                check(visit, "no-data")
        spare_api.stop()
        for width in WIDTHS:
            with open_page(browser, url + "/signin", width) as visit:
                sign_in(visit.page, "dash-monitor", stack.secrets["dash-monitor"])
                assert "cannot be reached" in visit.page.locator("#error-summary").inner_text()
                check(visit, "sign-in-service-down")


def test_the_service_stopping_under_an_open_page_is_announced(browser, stack, spare_api):
    app = create_app(DashboardSettings(api_url=spare_api.url, poll_s=1, site_dir="no-site"))
    with ServerThread(app) as url:
        with signed_in(browser, url, stack.secrets["dash-monitor"], 1280) as visit:
            page = visit.page
            spare_api.stop()
            wait_text(page, "#announcer", "cannot be reached")
            assert "cannot be reached" in page.locator("#problem").inner_text()
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                visit.width = width
                check(visit, "service-down")


def test_keyboard_only_sign_in_walk_pause_and_polite_update(browser, stack):
    with open_page(browser, stack.dashboard_url + "/signin", 1280) as visit:
        page = visit.page
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        while page.evaluate("document.activeElement.id") != "identifier":
            page.keyboard.press("Tab")
        page.keyboard.type("dash-monitor")
        page.keyboard.press("Tab")
        page.keyboard.type(stack.secrets["dash-monitor"])
        page.keyboard.press("Enter")
        page.wait_for_url(stack.dashboard_url + "/")
        stops = tab_walk(page)
        names = [s.element for s in stops]
        assert names[0].startswith("a.skip-link"), names
        order = [
            next(i for i, n in enumerate(names) if key in n) for key in ("Sign out", "#pause-updates", "#refresh-now")
        ]
        assert order == sorted(order), names
        assert all(s.indicator_visible for s in stops), [s.element for s in stops if not s.indicator_visible]
        # a polite sentence after an update; focus stays where it was, even inside the replaced content
        page.focus("#toc-drift")
        stack.predict()
        assert wait_text(page, "#announcer", "Updated: status").startswith("Updated: status")
        assert page.get_attribute("#announcer", "aria-live") == "polite"
        assert page.evaluate("document.activeElement.id") == "toc-drift"
        # Pause by keyboard: no more requests for the figures until Resume
        polls: list[float] = []
        page.on("request", lambda r: polls.append(time.monotonic()) if r.url.endswith("/live") else None)
        page.focus("#pause-updates")
        page.keyboard.press("Enter")
        assert page.inner_text("#pause-updates") == "Resume updates"
        assert "paused" in page.inner_text("#update-state")
        paused_at = time.monotonic()
        page.wait_for_timeout(3500)
        assert not [t for t in polls if t > paused_at + 0.2], polls
        page.keyboard.press("Enter")
        page.wait_for_timeout(2500)
        assert [t for t in polls if t > paused_at + 3.5]


def test_without_javascript_the_page_is_complete_with_refresh_now(browser, stack):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 320, "height": 900})
    try:
        page = context.new_page()
        page.goto(stack.dashboard_url + "/signin")
        sign_in(page, "dash-monitor", stack.secrets["dash-monitor"])
        assert page.locator("#refresh-now").is_visible() and not page.locator("#pause-updates").is_visible()
        assert "need JavaScript" in page.inner_text("#update-state")
        assert page.locator("#status .status").is_visible()
    finally:
        context.close()


def test_reduced_motion_turns_smooth_scrolling_off(browser, stack):
    for motion, expected in (("reduce", "auto"), ("no-preference", "smooth")):
        context = browser.new_context(reduced_motion=motion)
        try:
            page = context.new_page()
            page.goto(stack.dashboard_url + "/signin")
            assert page.evaluate("getComputedStyle(document.documentElement).scrollBehavior") == expected
        finally:
            context.close()
