"""The docs site zoomed to 200% and 400% of a 1280 x 800 window, as Chromium draws it at device
scale 2 and 4 (a 640 x 400 and a 320 x 200 CSS px viewport): no page scrolls sideways, and the
header does not stay stuck over the content, where it would cover a quarter to half of the screen.
(C9.11, C11.9, C12.7, C13.8)"""

from __future__ import annotations

import pytest
from browser_support import horizontal_overflow, page_urls

pytestmark = [
    pytest.mark.slow,
    pytest.mark.requirement("C9.11", "C11.9", "C12.7", "C13.8"),
    pytest.mark.catalogue(
        part="Docs site: reflow and header at 200% and 400% zoom",
        scope="end-to-end",
        strategy="behavioural",
        tool="pytest, Playwright, Debian Chromium",
    ),
]

WINDOW = (1280, 800)


@pytest.mark.parametrize("zoom", [200, 400])
def test_no_page_scrolls_sideways_and_the_header_scrolls_away_when_zoomed(browser, built_site, site_url, zoom):
    viewport = {"width": WINDOW[0] * 100 // zoom, "height": WINDOW[1] * 100 // zoom}
    context = browser.new_context(viewport=viewport, device_scale_factor=zoom / 100, service_workers="block")
    wide, stuck = {}, {}
    try:
        page = context.new_page()
        urls = page_urls(site_url, built_site.out)
        for path, url in urls.items():
            page.goto(url, wait_until="load")
            if (overflow := horizontal_overflow(page)) > 0:
                wide[path] = overflow
            header = page.evaluate(
                """() => { const h = document.querySelector('#quarto-header');
                           return [getComputedStyle(h).position, h.getBoundingClientRect().height]; }"""
            )
            if header[0] in ("sticky", "fixed"):
                stuck[path] = f"{header[0]} header over {header[1]:.0f} of {viewport['height']} px"
    finally:
        context.close()
    assert len(urls) > 10
    assert not wide, wide
    assert not stuck, stuck
