"""Every page and state in Debian's Chromium: zero axe-core violations (WCAG 2.2 A and AA) at
1280 and 320 px wide, no sideways scrolling at 320 px or at 200% zoom, lang, titles that say
where you are, one h1 and headings in order, and an error summary that takes focus."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from browser import WIDTHS, chromium, describe, page_facts, violations
from pathlab.settings import PROJECT_DIR
from support import PASSWORD, LiveApp, add_user

pytestmark = [
    pytest.mark.requirement("C10.5"),
    pytest.mark.browser,
    pytest.mark.catalogue(
        part="Lab app: accessibility of every page (RGAA / WCAG 2.2 AA)",
        scope="system",
        strategy="inspection",
        tool="Playwright + Debian's Chromium, axe-core, uvicorn",
    ),
]

CASE = json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text(encoding="utf-8"))["cases"][5]["accession"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def account(live: LiveApp) -> str:
    add_user(live.settings, "axe", "Ada Xu")
    return "axe"


def _sign_in(page: Page, live: LiveApp, username: str) -> None:
    page.goto(live.url + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/cases")


def _form_errors(page: Page, live: LiveApp) -> None:
    page.goto(f"{live.url}/cases/{CASE}")
    page.click("form[action$='/diagnosis'] button[type=submit]")
    page.wait_for_selector("#error-summary")


def _recorded(page: Page, live: LiveApp) -> None:
    page.goto(f"{live.url}/cases/{CASE}")
    if page.locator("#reason").count() == 0:
        page.check("#diagnosis-benign")
        page.click("form[action$='/diagnosis'] button[type=submit]")
        page.wait_for_selector(".notice[role=status]")


# Each state: how to reach it once signed in (None: before signing in), and the title it must have.
STATES: dict[str, tuple[Callable[[Page, LiveApp], object] | None, str]] = {
    "sign-in": (None, "Sign in · Pathology lab case desk"),
    "sign-in error": (None, "Error: Sign in · Pathology lab case desk"),
    "list": (lambda p, live: p.goto(live.url + "/cases?sort=status&order=desc&page=2"), "Cases, page 2 of 6"),
    "list, no match": (lambda p, live: p.goto(live.url + "/cases?q=zzz"), "Cases, page 1 of 1, search “zzz”"),
    "case": (lambda p, live: p.goto(f"{live.url}/cases/{CASE}"), f"Case {CASE}"),
    "form errors": (_form_errors, f"Error: Case {CASE}"),
    "diagnosis recorded": (_recorded, f"Case {CASE}"),
    "audit": (lambda p, live: p.goto(live.url + "/audit"), "Audit trail, page 1 of "),
    "not found": (lambda p, live: p.goto(live.url + "/cases/FNA-9999"), "Page not found"),
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("state", list(STATES))
def test_every_page_passes_axe_and_the_structure_checks(
    browser: Browser, live: LiveApp, account: str, state: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        reach, title = STATES[state]
        if state == "sign-in":
            page.goto(live.url + "/login")
        elif state == "sign-in error":
            page.goto(live.url + "/login")
            page.click("button[type=submit]")
            page.wait_for_selector("#error-summary")
        else:
            _sign_in(page, live, account)
            assert reach is not None
            reach(page, live)
        found = violations(page)
        assert found == [], describe(found)
        facts = page_facts(page)
        assert facts["lang"] == "en"
        assert facts["title"].startswith(title)
        assert facts["headings"][0] == 1 and facts["headings"].count(1) == 1
        assert all(b - a <= 1 for a, b in zip(facts["headings"], facts["headings"][1:], strict=False))
        assert facts["overflow"] <= 0, f"{state} scrolls sideways by {facts['overflow']} px at {width} px"
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/cases", f"/cases/{CASE}", "/audit"])
def test_pages_reflow_at_200_percent_zoom(browser: Browser, live: LiveApp, account: str, path: str) -> None:
    # 200% zoom of a 1280 px window is a 640 CSS px viewport with twice the device pixels
    context = browser.new_context(viewport={"width": 640, "height": 450}, device_scale_factor=2)
    page = context.new_page()
    try:
        _sign_in(page, live, account)
        page.goto(live.url + path)
        assert page_facts(page)["overflow"] <= 0
    finally:
        context.close()


def test_the_error_summary_takes_focus_and_links_to_the_fields(browser: Browser, live: LiveApp, account: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _sign_in(page, live, account)
        page.goto(f"{live.url}/cases/{CASE}")
        page.fill("#comment", "typed before the error")
        page.click("form[action$='/diagnosis'] button[type=submit]")
        page.wait_for_selector("#error-summary")
        assert page.evaluate("document.activeElement.id") == "error-summary"
        assert page.input_value("#comment") == "typed before the error"
        first = page.locator("#error-summary a").first
        first.click()
        assert page.evaluate("document.activeElement.name") == "diagnosis"
        described = page.get_attribute("fieldset", "aria-describedby") or ""
        assert "diagnosis-error" in described.split()
    finally:
        context.close()


def test_a_diagnosis_is_recorded_without_javascript(browser: Browser, live: LiveApp) -> None:
    add_user(live.settings, "nojs")
    other = json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text(encoding="utf-8"))["cases"][7]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        _sign_in(page, live, "nojs")
        page.fill("#q", other["accession"])
        page.click("form[role=search] button")
        page.click(f"a[href='/cases/{other['accession']}']")
        page.check("#diagnosis-malignant")
        page.click("form[action$='/diagnosis'] button[type=submit]")
        status = page.locator(".notice[role=status]").inner_text()
        assert f"case {other['accession']} is recorded as malignant" in status
    finally:
        context.close()


def test_the_harness_reports_violations_when_there_are_some(browser: Browser) -> None:
    page = browser.new_page()
    try:
        page.set_content('<html><body><img src="x.png"><input type="text"><a href="/"></a></body></html>')
        ids = {v["id"] for v in violations(page)}
        assert {"image-alt", "label", "link-name", "html-has-lang"} <= ids
    finally:
        page.close()
