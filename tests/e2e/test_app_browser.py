"""The lab app in Debian's Chromium (Playwright, the shared harness tests/browser_support.py)
against the real Ray Serve service: a lab user signs in, finds a case, assesses it, records the
diagnosis, and the feedback is read back from the service; the same with the keyboard only; the
service stopped mid-session (the gate in front of it closed), the typed diagnosis kept and its
feedback sent once the service is back; axe-core on every page and state at 1280 and 320 px;
the batch job's progress bar moved by the page's script and announced politely."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from browser_support import WIDTHS, axe_violations, describe_violations, heading_problems, horizontal_overflow
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.lab import CLIENT_ID, PASSWORD, Gate, LabApp, read_prediction, untouched, wait_for
from tests.live.service import Served

pytestmark = [
    pytest.mark.live,
    pytest.mark.requirement("C10.2", "C10.4", "C10.5", "C10.6"),
    pytest.mark.catalogue(
        part="Lab app in a browser with the real service: sign in to feedback, keyboard only, service down, axe",
        scope="system",
        strategy="example-based",
        tool="Playwright + Debian's Chromium, axe-core, Ray Serve, uvicorn",
    ),
]

MAX_TABS = 60
FINISHED = re.compile(r"^Finished:")  # the batch summary once the job is done
# What the axe test saw, per state and width (also printed for the run's log).
AXE_SEEN: dict[str, int] = {}


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def _sign_in(page: Page, app: LabApp) -> None:
    page.goto(app.url + "/login")
    page.fill("#username", "lab")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(app.url + "/cases")


def _prediction_id(page: Page) -> str:
    found = re.search(r"<code>([0-9a-f]{32})</code>", page.content())
    assert found, "no prediction id on the case page"
    return found.group(1)


def _feedback_at_service(service: Served, secret: str, prediction_id: str) -> object:
    return wait_for(
        lambda: read_prediction(service.base_url, CLIENT_ID, secret, prediction_id)["feedback_label"], timeout_s=30
    )


def test_a_lab_user_assesses_a_case_and_the_diagnosis_reaches_the_service(
    context: BrowserContext, app: LabApp, service: Served, secret: str
) -> None:
    (accession,) = untouched(app.db_path, 1)
    page = context.new_page()
    _sign_in(page, app)
    page.fill("#q", accession.removeprefix("FNA-"))
    page.click("button:has-text('Show cases')")
    page.click(f"a[href='/cases/{accession}']")
    page.click("#assess")
    page.wait_for_selector("text=Probability of malignancy")
    assert "supports, and does not replace, the pathologist's diagnosis" in page.content()
    prediction_id = _prediction_id(page)
    page.check("#diagnosis-malignant")
    page.fill("#comment", "Recorded in the browser.")
    page.click("button:has-text('Record the diagnosis')")
    notice = page.locator(".notice[role=status]:has-text('is recorded as')").inner_text()
    assert f"case {accession} is recorded as malignant" in notice
    assert _feedback_at_service(service, secret, prediction_id) == "malignant"
    stored = read_prediction(service.base_url, CLIENT_ID, secret, prediction_id)
    assert f"{stored['probability']:.3f}" in page.content()


# ---------------------------------------------------------------- keyboard only


def _focused(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
            return {tag: e.tagName.toLowerCase(), id: e.id, text: (e.innerText || e.value || '').trim(),
                    href: e.getAttribute('href'),
                    visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
                             || (s.boxShadow && s.boxShadow !== 'none')}; }"""
    )
    return result


def _tab_to(page: Page, wanted: Callable[[dict[str, Any]], bool], walked: list[dict[str, Any]]) -> dict[str, Any]:
    """Tab until the focused element is the one wanted; every stop on the way must show its focus."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = _focused(page)
        walked.append(now)
        assert now["visible"], f"no visible focus indicator on {now}"
        if wanted(now):
            return now
    raise AssertionError(f"not reached in {MAX_TABS} presses of Tab; focus went through {walked[-MAX_TABS:]}")


def test_the_same_flow_with_the_keyboard_only(
    context: BrowserContext, app: LabApp, service: Served, secret: str
) -> None:
    (accession,) = untouched(app.db_path, 1)
    page = context.new_page()
    walked: list[dict[str, Any]] = []
    page.goto(app.url + "/login")
    assert _tab_to(page, lambda f: True, walked)["text"] == "Skip to main content"
    _tab_to(page, lambda f: f["id"] == "username", walked)
    page.keyboard.type("lab")
    _tab_to(page, lambda f: f["id"] == "password", walked)
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(app.url + "/cases")

    _tab_to(page, lambda f: f["id"] == "q", walked)
    page.keyboard.type(accession)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"q={accession}" in url)
    _tab_to(page, lambda f: f["href"] == f"/cases/{accession}", walked)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{app.url}/cases/{accession}")

    _tab_to(page, lambda f: f["id"] == "assess", walked)
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Probability of malignancy")
    prediction_id = _prediction_id(page)
    # the radio group is one Tab stop; the arrow keys move in it and check the choice
    first = _tab_to(page, lambda f: f["id"].startswith("diagnosis-"), walked)
    assert first["id"] == "diagnosis-malignant"
    page.keyboard.press("ArrowDown")
    assert _focused(page)["id"] == "diagnosis-benign" and page.is_checked("#diagnosis-benign")
    _tab_to(page, lambda f: f["id"] == "comment", walked)
    page.keyboard.type("Recorded with the keyboard only.")
    _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Record the diagnosis", walked)
    page.keyboard.press("Enter")
    notice = page.locator(".notice[role=status]:has-text('is recorded as')").inner_text()
    assert f"case {accession} is recorded as benign" in notice
    assert _feedback_at_service(service, secret, prediction_id) == "benign"
    print(f"keyboard walk: {len(walked)} stops, every one with a visible focus indicator")
    assert len(walked) >= 8


# ---------------------------------------------------------------- the service stopped mid-session


def test_the_service_down_mid_session_keeps_the_diagnosis_and_sends_it_when_back(
    context: BrowserContext, app: LabApp, gate: Gate, service: Served, secret: str
) -> None:
    assessed, other = untouched(app.db_path, 2)
    page = context.new_page()
    _sign_in(page, app)
    page.goto(f"{app.url}/cases/{assessed}")
    page.click("#assess")
    page.wait_for_selector("text=Probability of malignancy")
    prediction_id = _prediction_id(page)

    gate.close()  # the service goes down while the user is working
    # another case: asking the model fails, what was typed stays, the message takes focus
    page.goto(f"{app.url}/cases/{other}")
    page.check("#diagnosis-benign")
    page.fill("#comment", "typed while the service was down")
    page.click("#assess")
    page.wait_for_selector("#error-summary[role=alert]")
    assert _focused(page)["id"] == "error-summary"
    assert "it seems to be down" in page.locator("#error-summary").inner_text()
    assert page.is_checked("#diagnosis-benign")
    assert page.input_value("#comment") == "typed while the service was down"
    assert not (found := axe_violations(page)), describe_violations(found)

    # the first case's diagnosis is recorded: kept, its feedback waits in the outbox
    page.goto(f"{app.url}/cases/{assessed}")
    page.check("#diagnosis-malignant")
    page.click("button:has-text('Record the diagnosis')")
    notice = page.locator(".notice[role=status]:has-text('is recorded as')").inner_text()
    # sent by the page (refused at once), or by the outbox's loop that claimed it first
    assert "the app keeps it and sends it later" in notice or "It is being sent" in notice, notice
    assert "Waiting: the service could not take it yet" in page.content()
    assert read_prediction(service.base_url, CLIENT_ID, secret, prediction_id)["feedback_label"] is None

    gate.open()  # the service is back: the outbox sends it, once
    assert _feedback_at_service(service, secret, prediction_id) == "malignant"
    page.reload()
    assert "Sent (malignant)" in page.content()
    with sqlite3.connect(app.db_path) as conn:
        state = conn.execute("SELECT state FROM feedback_outbox WHERE prediction_id = ?", (prediction_id,)).fetchone()
    assert state == ("sent",)


# ---------------------------------------------------------------- batch progress with the script


def test_the_batch_progress_bar_moves_and_is_announced_politely(
    context: BrowserContext, app: LabApp, gate: Gate
) -> None:
    chosen = untouched(app.db_path, 1)
    page = context.new_page()
    _sign_in(page, app)
    page.goto(f"{app.url}/cases?q={chosen[0].removeprefix('FNA-')}")
    gate.hold()  # the service takes its time: the job stays in progress
    page.check(f"#select-{chosen[0]}")
    page.click("button:has-text('Assess the selected cases')")
    page.wait_for_url(re.compile(r"/batches/\d+$"))
    assert page.get_attribute("#batch-summary", "role") == "status"  # polite by default
    assert "In progress:" in page.inner_text("#batch-summary")
    assert page.get_attribute("#batch-bar", "value") == "0"
    assert page.locator("label[for=batch-bar]").inner_text() == "Cases assessed"
    assert page.locator("meta[http-equiv]").count() == 0
    gate.release()
    expect(page.locator("#batch-summary")).to_have_text(FINISHED, timeout=30_000)
    assert page.evaluate("document.getElementById('batch-bar').value") == 1
    assert page.locator("#refresh").count() == 0  # no longer useful, gone
    assert "<strong>Assessed</strong>" in page.content()  # the requests table read again


# ---------------------------------------------------------------- axe on every page and state


def _check(page: Page, state: str, width: int) -> None:
    found = axe_violations(page)
    AXE_SEEN[f"{state} @ {width}px"] = len(found)
    assert not found, f"{state} at {width} px:\n{describe_violations(found)}"
    assert not heading_problems(page), f"{state} at {width} px: {heading_problems(page)}"
    assert horizontal_overflow(page) <= 0, f"{state} at {width} px scrolls sideways"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_and_state_has_no_axe_violation(browser: Browser, app: LabApp, gate: Gate, width: int) -> None:
    before, after, down, batch = untouched(app.db_path, 4, skip=10 if width == WIDTHS[0] else 20)
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(app.url + "/login")
        _check(page, "sign-in", width)
        page.fill("#username", "lab")
        page.fill("#password", "not the password at all")
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("#error-summary")
        _check(page, "sign-in with an error", width)
        _sign_in(page, app)
        _check(page, "list of cases", width)
        page.click("button:has-text('Assess the selected cases')")  # nothing selected
        page.wait_for_selector("#error-summary")
        _check(page, "list with a batch form error", width)

        page.goto(f"{app.url}/cases/{before}")
        _check(page, "case before assessment", width)
        page.click("button:has-text('Record the diagnosis')")  # no diagnosis chosen
        page.wait_for_selector("#error-summary")
        _check(page, "diagnosis form errors", width)

        page.goto(f"{app.url}/cases/{after}")
        page.click("#assess")
        page.wait_for_selector("text=Probability of malignancy")
        _check(page, "case after assessment", width)
        page.goto(app.url + "/model")
        _check(page, "model page", width)

        gate.hold()
        page.goto(f"{app.url}/cases?q={batch.removeprefix('FNA-')}")
        page.check(f"#select-{batch}")
        page.click("button:has-text('Assess the selected cases')")
        page.wait_for_url(re.compile(r"/batches/\d+$"))
        _check(page, "batch in progress", width)
        gate.close()  # the held request is cut: its chunk fails
        expect(page.locator("#batch-summary")).to_have_text(FINISHED, timeout=30_000)
        batch_page = page.url
        page.reload()
        assert "Try the cases not assessed again" in page.content()
        _check(page, "batch with a failed request", width)

        page.goto(f"{app.url}/cases/{down}")
        page.click("#assess")
        page.wait_for_selector("#error-summary[role=alert]")
        _check(page, "case with the service down", width)
        page.goto(app.url + "/model")
        _check(page, "model page with the service down", width)
        gate.open()
        page.goto(batch_page)
        page.click("button:has-text('Try the cases not assessed again')")
        expect(page.locator("#batch-summary")).to_have_text(FINISHED, timeout=30_000)
        page.reload()
        assert "Finished: 1 of 1 case assessed." in page.inner_text("#batch-summary")
        _check(page, "batch finished", width)
    finally:
        gate.release()
        ctx.close()
    print("axe violations per state:", AXE_SEEN)
