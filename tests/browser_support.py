"""A real browser for the tests: Debian's Chromium through Playwright, axe-core, and the page checks
every HTML page the project produces must pass (the docs site, the monitoring dashboard, the client
app). Fixtures live in conftest.py (`browser`); this module holds the helpers they and the tests use.

Nothing here fakes the browser: pages are loaded from a local HTTP server, every request to another
host is aborted and counted, and axe-core runs inside the page."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import urlopen

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Browser, Page, Playwright, Route

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDTHS = (1280, 320)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# schemes that never leave the page (inline images, the page's own blobs)
LOCAL_SCHEMES = {"data", "blob", "about"}


def chromium_path() -> str:
    """Debian's Chromium (package `chromium`, `make system-deps`); CHROMIUM overrides it."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("no Chromium on PATH: `make system-deps` installs Debian's chromium package")
    return found


def launch(playwright: Playwright) -> Browser:
    # never `playwright install`: the browser is the system's, so the tests need no download
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


# ---------------------------------------------------------------- serving a folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) from a thread; yields the base URL, stops after."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="serve-folder", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ---------------------------------------------------------------- one page in its own context


@dataclass
class Visit:
    """A page loaded at one viewport width, with the requests that were refused on the way."""

    page: Page
    width: int
    blocked: list[str] = field(default_factory=list)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOCAL_HOSTS


@contextmanager
def open_page(browser: Browser, url: str, width: int, height: int = 900) -> Iterator[Visit]:
    """Load `url` in a fresh context `width` px wide. Every request to a host that is not this
    machine is aborted and recorded in `Visit.blocked`, so a page that needs a CDN shows it."""
    context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    visit = Visit(page=context.new_page(), width=width)

    def route(r: Route) -> None:
        if _is_local(r.request.url):
            r.continue_()
        else:
            visit.blocked.append(r.request.url)
            r.abort("blockedbyclient")

    context.route("**/*", route)
    try:
        visit.page.goto(url, wait_until="load")
        yield visit
    finally:
        context.close()


# ---------------------------------------------------------------- axe-core


def axe_violations(page: Page, tags: list[str] | None = None) -> list[dict[str, Any]]:
    """Run axe-core (the copy bundled by axe-playwright-python) in the page; returns its violations."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": tags or AXE_TAGS}, "resultTypes": ["violations"]}
    results = page.evaluate("options => window.axe.run(document, options)", options)
    return list(results["violations"])


def describe_violations(violations: list[dict[str, Any]], nodes_per_rule: int = 5) -> str:
    """One line per rule, with the CSS targets of its first nodes and what axe says to fix."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v.get('impact')}): {v['help']} [{len(v['nodes'])} node(s)]")
        for node in v["nodes"][:nodes_per_rule]:
            target = " ".join(" > ".join(t) if isinstance(t, list) else str(t) for t in node["target"])
            summary = " ".join(str(node.get("failureSummary", "")).split())
            lines.append(f"    {target}: {summary[:300]}")
    return "\n".join(lines)


# ---------------------------------------------------------------- structure of a page


def title(page: Page) -> str:
    return page.title().strip()


def heading_problems(page: Page) -> list[str]:
    """One h1, first among the main content's headings, and no level skipped going down (h2 then
    h4 is a skip; h4 then h2 is not). Headings that are not rendered (a folded menu) are left out."""
    levels: list[int] = page.evaluate(
        """() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
                 .filter(h => h.getClientRects().length > 0 || h.closest('main'))
                 .map(h => Number(h.tagName[1]))"""
    )
    in_main: list[int] = page.evaluate(
        "() => [...document.querySelectorAll('main :is(h1,h2,h3,h4,h5,h6)')].map(h => Number(h.tagName[1]))"
    )
    problems = []
    if levels.count(1) != 1:
        problems.append(f"{levels.count(1)} h1 element(s), expected one")
    if in_main and in_main[0] != 1:
        problems.append(f"the main content starts with h{in_main[0]}, not its h1")
    for before, after in zip(levels, levels[1:], strict=False):
        if after > before + 1:
            problems.append(f"h{before} followed by h{after}")
    return problems


def images_without_alt(page: Page) -> list[str]:
    """Every <img> needs an alt attribute (empty only for decoration); svg images need a name."""
    return page.evaluate(
        """() => [
            ...[...document.querySelectorAll('img:not([alt])')]
                .map(i => 'img ' + (i.getAttribute('src') || '').slice(0, 80)),
            ...[...document.querySelectorAll('svg[role=img]')]
                .filter(s => !s.getAttribute('aria-label') && !s.getAttribute('aria-labelledby')
                             && !s.querySelector('title'))
                .map(() => 'svg[role=img] without a name'),
        ]"""
    )


def horizontal_overflow(page: Page) -> int:
    """How many px the page is wider than the viewport (0 when it needs no sideways scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def internal_links(page: Page) -> list[str]:
    """The absolute URLs of every link of the page to its own site."""
    hrefs: list[str] = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    origin = urlsplit(page.url)
    return [h for h in hrefs if urlsplit(h).netloc == origin.netloc and urlsplit(h).scheme in ("http", "https")]


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value or "")


class LinkChecker:
    """Checks internal links: the target answers 200 and, for `#anchor`, has that id. Each target
    document is fetched once for the whole run."""

    def __init__(self) -> None:
        self._docs: dict[str, tuple[int, set[str] | None]] = {}

    def _fetch(self, url: str) -> tuple[int, set[str] | None]:
        if url not in self._docs:
            try:
                with urlopen(url, timeout=10) as response:  # noqa: S310 - a local server
                    body = response.read()
                    status = response.status
                    is_html = "html" in response.headers.get("Content-Type", "")
            except HTTPError as e:
                self._docs[url] = (e.code, None)
                return self._docs[url]
            except URLError as e:
                raise RuntimeError(f"{url}: {e.reason}") from e
            ids = None
            if is_html:
                parser = _Ids()
                parser.feed(body.decode("utf-8", errors="replace"))
                ids = parser.ids
            self._docs[url] = (status, ids)
        return self._docs[url]

    def problem(self, url: str) -> str | None:
        """Why `url` is broken, or None."""
        target, fragment = urldefrag(url)
        status, ids = self._fetch(target)
        if status != 200:
            return f"{url}: HTTP {status}"
        if fragment and ids is not None and unquote(fragment) not in ids:
            return f"{url}: no element with id {unquote(fragment)!r}"
        return None

    def broken(self, page: Page) -> list[str]:
        return sorted({p for p in map(self.problem, internal_links(page)) if p})


def page_urls(base_url: str, folder: Path) -> dict[str, str]:
    """Every HTML page under a served folder: its path from the root -> its URL."""
    return {
        p.relative_to(folder).as_posix(): urljoin(base_url, p.relative_to(folder).as_posix())
        for p in sorted(folder.rglob("*.html"))
    }


# ---------------------------------------------------------------- keyboard


@dataclass
class Stop:
    """One element that had keyboard focus, with its look when focused and before."""

    element: str
    focused: dict[str, str]
    unfocused: dict[str, str]

    @property
    def indicator_visible(self) -> bool:
        """A focus ring: an outline of some width, or a box-shadow, that the element lacks unfocused."""
        has_outline = (
            self.focused["outlineStyle"] != "none" and float(self.focused["outlineWidth"].rstrip("px") or 0) > 0
        )
        has_shadow = self.focused["boxShadow"] not in ("", "none")
        return (has_outline or has_shadow) and self.focused != self.unfocused


_DESCRIBE = """el => {
    const id = el.id ? '#' + el.id : '';
    const cls = el.classList.length ? '.' + [...el.classList].slice(0, 2).join('.') : '';
    const text = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('placeholder') || '')
        .trim().slice(0, 40);
    return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
}"""

_RING = """el => { const s = getComputedStyle(el);
    return {outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth, outlineColor: s.outlineColor,
            boxShadow: s.boxShadow}; }"""


def tabbable(page: Page) -> list[str]:
    """The elements that Tab should reach, in document order: focusable, rendered, not disabled,
    not taken out of the order by tabindex="-1". The site uses no positive tabindex."""
    return page.evaluate(
        f"""() => {{
        const describe = {_DESCRIBE};
        const sel = 'a[href], button, input, select, textarea, summary, [tabindex], [contenteditable=true]';
        return [...document.querySelectorAll(sel)].filter(el =>
            !el.disabled && el.tabIndex >= 0 && el.getAttribute('tabindex') !== '-1'
            && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden'
            && !el.closest('[inert]')
        ).map(describe);
    }}"""
    )


def tab_walk(page: Page, limit: int = 2000) -> list[Stop]:
    """Press Tab from the top of the page until focus leaves the page or comes back round; record
    each element that got focus, with its style then and the style it had before any focus."""
    page.evaluate(
        f"""() => {{ const ring = {_RING};
        document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);
        window.__unfocused = new Map([...document.querySelectorAll('*')].map(el => [el, ring(el)])); }}"""
    )
    stops: list[Stop] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = page.evaluate(
            f"""() => {{ const el = document.activeElement;
            const ring = {_RING}; const describe = {_DESCRIBE};
            if (!el || el === document.body || el.dataset.msVisited) return null;
            el.dataset.msVisited = '1';
            return {{element: describe(el), focused: ring(el),
                     unfocused: window.__unfocused.get(el) || ring(el)}}; }}"""
        )
        if state is None:
            break
        stops.append(Stop(state["element"], state["focused"], state["unfocused"]))
    page.evaluate("() => document.querySelectorAll('[data-ms-visited]').forEach(el => delete el.dataset.msVisited)")
    return stops
