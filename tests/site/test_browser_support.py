"""The browser harness itself, on a page made to fail each check: it must see the third-party
requests, the axe violations, the heading and alt problems, the sideways scroll and the broken
links, or the site tests' zeros would prove nothing. (C9.11, C11.9, C12.7, C13.8)"""

from __future__ import annotations

import pytest
from browser_support import (
    LinkChecker,
    axe_violations,
    describe_violations,
    heading_problems,
    horizontal_overflow,
    images_without_alt,
    open_page,
    serve_folder,
    tab_walk,
    tabbable,
    title,
)

pytestmark = [
    pytest.mark.requirement("C9.11", "C11.9", "C12.7", "C13.8"),
    pytest.mark.catalogue(
        part="Browser test harness (tests/browser_support.py)",
        scope="integration",
        strategy="fault injection",
        tool="pytest, Playwright, Debian Chromium, axe-core",
    ),
]

BAD = """<!doctype html><html><head><link rel="stylesheet" href="https://cdn.example.org/x.css"></head><body>
<h1>One</h1><h2>Two</h2><h4>Four</h4><h1>Again</h1>
<img src="https://images.example.org/a.png"><img src="local.png">
<div style="width: 2000px">wide</div>
<a href="good.html#there">ok</a> <a href="good.html#nowhere">bad anchor</a> <a href="gone.html">gone</a>
<a href="#" style="outline: none">no ring</a>
</body></html>"""
GOOD = """<!doctype html><html lang="en"><head><title>Good</title></head><body><main>
<h1 id="there">Good</h1><p><a href="bad.html">back</a> <button>Press</button></p></main></body></html>"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    (folder / "bad.html").write_text(BAD, encoding="utf-8")
    (folder / "good.html").write_text(GOOD, encoding="utf-8")
    (folder / "local.png").write_bytes(b"")
    with serve_folder(folder) as url:
        yield url


def test_requests_to_other_hosts_are_aborted_and_counted(browser, served):
    with open_page(browser, served + "bad.html", 1280) as visit:
        assert sorted(visit.blocked) == ["https://cdn.example.org/x.css", "https://images.example.org/a.png"]
    with open_page(browser, served + "good.html", 1280) as visit:
        assert visit.blocked == []


def test_every_check_reports_what_is_wrong(browser, served):
    with open_page(browser, served + "bad.html", 320) as visit:
        page = visit.page
        rules = {v["id"] for v in axe_violations(page)}
        assert {"html-has-lang", "document-title", "image-alt"} <= rules
        assert "image-alt" in describe_violations(axe_violations(page)) and "img" in describe_violations(
            axe_violations(page)
        )
        assert title(page) == ""
        assert heading_problems(page) == ["2 h1 element(s), expected one", "h2 followed by h4"]
        assert len(images_without_alt(page)) == 2
        assert horizontal_overflow(page) > 1000
        broken = LinkChecker().broken(page)
        assert broken == [f"{served}gone.html: HTTP 404", f"{served}good.html#nowhere: no element with id 'nowhere'"]


def test_a_clean_page_passes_every_check(browser, served):
    with open_page(browser, served + "good.html", 320) as visit:
        page = visit.page
        assert axe_violations(page) == []
        assert heading_problems(page) == [] and images_without_alt(page) == [] and horizontal_overflow(page) == 0
        assert LinkChecker().broken(page) == []


def test_the_tab_walk_sees_every_stop_and_a_missing_focus_ring(browser, served):
    with open_page(browser, served + "bad.html", 1280) as visit:
        expected = tabbable(visit.page)
        stops = tab_walk(visit.page)
    assert [s.element for s in stops] == expected and len(stops) == 4
    assert [s.indicator_visible for s in stops] == [True, True, True, False]  # Chromium's own ring, then none
