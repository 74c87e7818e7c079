"""The pages and states the model's service adds, in Debian's Chromium: a case before and after
its assessment, the message when the service is down, the model page and its own error; zero
axe-core violations at 1280 and 320 px, the page structure, and the error that takes focus."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from browser import WIDTHS, chromium, describe, page_facts, violations
from pathlab.settings import PROJECT_DIR
from stub_api import CLIENT_ID, SECRET, Injected, Stub, stub_api
from support import PASSWORD, LiveApp, add_user, init_db, serve, write_settings

pytestmark = [
    pytest.mark.requirement("C10.5"),
    pytest.mark.browser,
    pytest.mark.catalogue(
        part="Lab app: accessibility of the model's pages and states (RGAA / WCAG 2.2 AA)",
        scope="system",
        strategy="inspection",
        tool="Playwright + Debian's Chromium, axe-core, uvicorn, http.server",
    ),
]

CASES = [c["accession"] for c in json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text())["cases"]]
BEFORE, AFTER, DOWN = CASES[10], CASES[11], CASES[12]


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    with stub_api() as s:
        yield s


@pytest.fixture(scope="module")
def app(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    folder = tmp_path_factory.mktemp("axe-model")
    (folder / "secret").write_text(SECRET, encoding="utf-8")
    path = write_settings(
        folder,
        model_api={
            "enabled": True,
            "base_url": stub.url,
            "client_id": CLIENT_ID,
            "secret_file": str(folder / "secret"),
        },
    )
    add_user(init_db(path), "axe", "Ada Xu")
    with serve(path) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def _sign_in(page: Page, live: LiveApp) -> None:
    page.goto(live.url + "/login")
    page.fill("#username", "axe")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/cases")


def _assessed(page: Page, live: LiveApp, stub: Stub) -> None:
    page.goto(f"{live.url}/cases/{AFTER}")
    if page.locator("button[formaction$='/assess']").count():
        page.click("button[formaction$='/assess']")
    page.wait_for_selector("text=Probability of malignancy")


def _down(page: Page, live: LiveApp, stub: Stub) -> None:
    stub.state.inject["/v1/predict"] = [Injected(503, {"Retry-After": "5"})]
    page.goto(f"{live.url}/cases/{DOWN}")
    page.fill("#comment", "typed while the service is down")
    page.click("button[formaction$='/assess']")
    page.wait_for_selector("#error-summary[role=alert]")


def _model_down(page: Page, live: LiveApp, stub: Stub) -> None:
    stub.state.inject["/v1/model"] = [Injected(503, {"Retry-After": "5"})]
    page.goto(live.url + "/model")


STATES: dict[str, tuple[Callable[[Page, LiveApp, Stub], object], str]] = {
    "case before assessment": (lambda p, live, s: p.goto(f"{live.url}/cases/{BEFORE}"), f"Case {BEFORE}"),
    "case assessed": (_assessed, f"Case {AFTER}"),
    "service down": (_down, f"Error: Case {DOWN}"),
    "model page": (lambda p, live, s: p.goto(live.url + "/model"), "The model ·"),
    "model page, service down": (_model_down, "Error: The model"),
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("state", list(STATES))
def test_model_states_pass_axe_and_the_structure_checks(
    browser: Browser, app: LiveApp, stub: Stub, state: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        _sign_in(page, app)
        reach, title = STATES[state]
        reach(page, app, stub)
        found = violations(page)
        assert found == [], describe(found)
        facts = page_facts(page)
        assert facts["lang"] == "en" and facts["title"].startswith(title)
        assert facts["headings"][0] == 1 and facts["headings"].count(1) == 1
        assert all(b - a <= 1 for a, b in zip(facts["headings"], facts["headings"][1:], strict=False))
        assert facts["overflow"] <= 0, f"{state} scrolls sideways by {facts['overflow']} px at {width} px"
    finally:
        context.close()


def test_the_service_down_message_takes_focus_and_keeps_the_typed_text(
    browser: Browser, app: LiveApp, stub: Stub
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _sign_in(page, app)
        _down(page, app, stub)
        assert page.evaluate("document.activeElement.id") == "error-summary"
        assert page.input_value("#comment") == "typed while the service is down"
        # the retry, once the service answers, assesses the case and still keeps the text
        page.click("button[formaction$='/assess']")
        page.wait_for_selector(".notice[role=status]")
        assert page.input_value("#comment") == "typed while the service is down"
        assert page.locator("text=Probability of malignancy").count() == 1
    finally:
        context.close()


def test_assessed_without_javascript(browser: Browser, app: LiveApp) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        _sign_in(page, app)
        page.goto(f"{app.url}/cases/{CASES[13]}")
        page.click("button[formaction$='/assess']")
        assert "The model has assessed case" in page.locator(".notice[role=status]").inner_text()
        assert page.locator("text=Probability of malignancy").count() == 1
    finally:
        context.close()


def test_enter_in_the_diagnosis_form_records_and_never_assesses(browser: Browser, app: LiveApp, stub: Stub) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _sign_in(page, app)
        page.goto(f"{app.url}/cases/{CASES[14]}")
        before = stub.state.count("/v1/predict")
        page.focus("#diagnosis-malignant")
        page.keyboard.press("Space")
        page.keyboard.press("Enter")
        status = page.locator(".notice[role=status]").inner_text()
        assert f"case {CASES[14]} is recorded as malignant" in status
        assert stub.state.count("/v1/predict") == before
    finally:
        context.close()
