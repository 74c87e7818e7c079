"""A small browser harness for the app's tests: Debian's Chromium driven by Playwright, and
axe-core (bundled by axe-playwright-python) run in the page against WCAG 2.2 AA."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("PATHLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDTHS = (1280, 320)

_axe = Axe()


@contextmanager
def chromium() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (make app-system-deps)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of the WCAG 2.2 A and AA rules on the page as it is now."""
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    return list(_axe.run(page, options=options).response["violations"])


def describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        targets = ", ".join(str(n["target"]) for n in v["nodes"][:5])
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {targets}")
    return "\n".join(lines)


def page_facts(page: Page) -> dict[str, Any]:
    """What the structural checks read: lang, title, headings, and whether the page scrolls sideways."""
    result: dict[str, Any] = page.evaluate(
        """() => ({
            lang: document.documentElement.lang,
            title: document.title,
            headings: [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => Number(h.tagName[1])),
            overflow: document.documentElement.scrollWidth - window.innerWidth,
        })"""
    )
    return result


def focused(page: Page) -> dict[str, Any]:
    """The focused element, and whether its focus indicator is drawn (a 2 px outline at least)."""
    result: dict[str, Any] = page.evaluate(
        """() => {
            const e = document.activeElement;
            const s = getComputedStyle(e);
            return {
                tag: e.tagName.toLowerCase(), id: e.id, text: (e.innerText || e.value || '').trim(),
                href: e.getAttribute('href'),
                visible: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
            };
        }"""
    )
    return result
