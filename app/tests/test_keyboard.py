"""A keyboard-only walk in Debian's Chromium: skip link, sign in, find and open a case, record a
diagnosis; every element that takes focus on the way shows a visible focus indicator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from browser import chromium, focused
from pathlab.settings import PROJECT_DIR
from support import PASSWORD, LiveApp, add_user

pytestmark = [
    pytest.mark.requirement("C10.5"),
    pytest.mark.browser,
    pytest.mark.catalogue(
        part="Lab app: keyboard-only use",
        scope="system",
        strategy="example-based",
        tool="Playwright + Debian's Chromium, uvicorn",
    ),
]

CASE = json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text(encoding="utf-8"))["cases"][9]["accession"]
MAX_TABS = 40


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def _tab_to(page: Page, wanted: Callable[[dict[str, Any]], bool], walked: list[dict[str, Any]]) -> dict[str, Any]:
    """Press Tab until the focused element is the one wanted; each stop must show its focus."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = focused(page)
        walked.append(now)
        assert now["visible"], f"no visible focus indicator on {now}"
        if wanted(now):
            return now
    raise AssertionError(f"not reached in {MAX_TABS} presses of Tab; focus went through {walked[-MAX_TABS:]}")


def test_a_lab_user_signs_in_finds_a_case_and_records_a_diagnosis_with_the_keyboard_only(
    browser: Browser, live: LiveApp
) -> None:
    add_user(live.settings, "keys", "Kai Stone")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    walked: list[dict[str, Any]] = []
    try:
        page.goto(live.url + "/login")
        first = _tab_to(page, lambda f: True, walked)
        assert first["text"] == "Skip to main content"
        page.keyboard.press("Enter")
        assert focused(page)["id"] == "main"

        _tab_to(page, lambda f: f["id"] == "username", walked)
        page.keyboard.type("keys")
        _tab_to(page, lambda f: f["id"] == "password", walked)
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(live.url + "/cases")

        _tab_to(page, lambda f: f["id"] == "q", walked)
        page.keyboard.type(CASE)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: f"q={CASE}" in url)
        _tab_to(page, lambda f: f["href"] == f"/cases/{CASE}", walked)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live.url}/cases/{CASE}")

        # the radio group takes one Tab stop; the arrow keys move within it and check the choice
        _tab_to(page, lambda f: f["id"] == "diagnosis-malignant", walked)
        page.keyboard.press("ArrowDown")
        assert focused(page)["id"] == "diagnosis-benign" and page.is_checked("#diagnosis-benign")
        _tab_to(page, lambda f: f["id"] == "comment", walked)
        page.keyboard.type("Recorded with the keyboard only.")
        _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Record the diagnosis", walked)
        page.keyboard.press("Enter")
        page.wait_for_selector(".notice[role=status]")
        assert f"case {CASE} is recorded as benign" in page.locator(".notice[role=status]").inner_text()
        assert "Comment: Recorded with the keyboard only." in page.content()
    finally:
        context.close()
    assert len(walked) >= 6


def test_the_error_summary_is_reached_and_followed_with_the_keyboard(browser: Browser, live: LiveApp) -> None:
    add_user(live.settings, "keys2")
    context = browser.new_context(viewport={"width": 320, "height": 800})
    page = context.new_page()
    walked: list[dict[str, Any]] = []
    try:
        page.goto(live.url + "/login")
        _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Sign in", walked)
        page.keyboard.press("Enter")
        page.wait_for_selector("#error-summary")
        assert focused(page)["id"] == "error-summary"
        _tab_to(page, lambda f: f["href"] == "#username", walked)
        page.keyboard.press("Enter")
        assert focused(page)["id"] == "username"
    finally:
        context.close()
