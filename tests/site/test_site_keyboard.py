"""The docs site with a keyboard only: Tab reaches every link and control in document order, each
with a visible focus indicator; the skip link moves focus to the main content; a scrollable code
block takes focus and scrolls with the arrow keys; a sidebar section folds from its button.
(C9.11, C11.9, C12.7, C13.8)"""

from __future__ import annotations

import pytest
from browser_support import open_page, tab_walk, tabbable
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = [
    pytest.mark.slow,
    pytest.mark.requirement("C9.11", "C11.9", "C12.7", "C13.8"),
    pytest.mark.catalogue(
        part="Docs site: keyboard navigation, focus indicator, skip link, scroll regions",
        scope="end-to-end",
        strategy="example-based",
        tool="pytest, Playwright, Debian Chromium",
    ),
]

# the home page, a long page with a TOC, tables and code, and an executed notebook
PAGES = ("index.html", "docs/auth.html", "reports/03_evaluate.html")


@pytest.mark.parametrize("width", [1280, 320])
@pytest.mark.parametrize("path", PAGES)
def test_tab_reaches_every_link_and_control_in_order_with_a_visible_focus(browser, site_url, path, width):
    with open_page(browser, site_url + path, width) as visit:
        expected = tabbable(visit.page)
        stops = tab_walk(visit.page)
    assert len(expected) > 5
    assert [s.element for s in stops] == expected
    invisible = [f"{s.element}: focused {s.focused}, unfocused {s.unfocused}" for s in stops if not s.indicator_visible]
    assert not invisible, "\n".join(invisible)
    # the site's own ring everywhere, not a theme's faint glow (Bootstrap's search box had only that)
    thin = [s.element for s in stops if s.focused["outlineStyle"] == "none" or _px(s.focused["outlineWidth"]) < 2]
    assert not thin, thin


def _px(value: str) -> float:
    return float(value.removesuffix("px") or 0)


@pytest.mark.parametrize("path", PAGES)
def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_main_content(browser, site_url, path):
    with open_page(browser, site_url + path, 1280) as visit:
        page = visit.page
        page.keyboard.press("Tab")
        first = page.evaluate(
            "() => [document.activeElement.textContent.trim(), document.activeElement.getBoundingClientRect().top]"
        )
        assert first[0] == "Skip to main content"
        assert first[1] >= 0  # shown on the screen once it has focus
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "quarto-document-content"
        page.keyboard.press("Tab")  # the next stop is inside the main content, past the navigation
        assert page.evaluate("() => !!document.activeElement.closest('main')")


def test_a_sidebar_section_folds_and_unfolds_from_its_button_with_the_keyboard(browser, site_url):
    with open_page(browser, site_url + "docs/auth.html", 1280) as visit:
        page = visit.page
        toggle = page.get_by_role("button", name="Project pages")
        first_link = page.locator("#quarto-sidebar-section-1 a").first
        assert toggle.get_attribute("aria-expanded") == "true" and first_link.is_visible()
        toggle.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => !document.querySelector('#quarto-sidebar-section-1 a').checkVisibility()")
        assert toggle.get_attribute("aria-expanded") == "false"
        page.keyboard.press("Space")
        page.wait_for_function("() => document.querySelector('#quarto-sidebar-section-1 a').checkVisibility()")
        assert toggle.get_attribute("aria-expanded") == "true"
        # no landmark left but the page's own: the section titles were "navigation" twice each
        names = page.evaluate(
            "() => [...document.querySelectorAll('[role=navigation]')].map(e => e.textContent.trim().slice(0, 30))"
        )
    assert names == []


def test_a_wide_code_block_takes_focus_and_scrolls_with_the_arrow_keys(browser, site_url):
    with open_page(browser, site_url + "docs/auth.html", 320) as visit:
        page = visit.page
        label = page.evaluate(
            """() => { const r = [...document.querySelectorAll('pre[role=region][tabindex="0"]')]
                           .find(el => el.scrollWidth > el.clientWidth);
                       if (!r) return null; r.focus(); return r.getAttribute('aria-label'); }"""
        )
        assert label and label.startswith("Code block")
        before = page.evaluate("() => document.activeElement.scrollLeft")
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        # the browser may scroll smoothly: give the animation time to move, on a busy machine too
        try:
            page.wait_for_function("() => document.activeElement.scrollLeft > 0", timeout=5000)
        except PlaywrightTimeout:
            pass
        after = page.evaluate("() => document.activeElement.scrollLeft")
    assert before == 0 and after > 0
