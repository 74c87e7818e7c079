"""The reusable part of the manual accessibility checks of docs/accessibility.qmd: screenshots for
a person to look at, and the figures that go with them. It judges nothing itself.

    .venv/bin/python scripts/a11y_walk.py [--site _site] [--out var/a11y] [PAGE ...]

For each page (paths under the built site; a few by default) it writes to --out:
- keyboard: a screenshot after each of the first --tabs presses of Tab at 1280 px, named by the
  stop, with the focused element listed in walk.txt;
- zoom: a screenshot of the top of the page at 200% and 400% of a 1280 px window (a 640 and a
  320 CSS px viewport drawn at 2x and 4x), with the page's sideways overflow and the elements that
  stick out of the viewport listed in zoom.txt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser harness of the site tests, one definition

from browser_support import (  # type: ignore[import-not-found]  # noqa: E402 - tests/ is no package mypy sees
    horizontal_overflow,
    launch,
    open_page,
    serve_folder,
)

PAGES = ("index.html", "docs/auth.html", "docs/architecture.html", "reports/03_evaluate.html")
ZOOMS = {200: 640, 400: 320}  # zoom of a 1280 px window -> its CSS viewport width

_FOCUSED = """() => { const el = document.activeElement; if (!el || el === document.body) return null;
    const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') || el.textContent || '')
        .trim().slice(0, 50)}" at ${Math.round(r.left)},${Math.round(r.top)} outline ${s.outlineStyle} `
        + `${s.outlineWidth}`; }"""

# elements drawn beyond the right edge, outside any container that scrolls them (those are fine)
_STICKING_OUT = """() => [...document.querySelectorAll('main *, header *, footer *')].filter(el => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= window.innerWidth + 1) return false;
    for (let p = el.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return false;
    }
    return true;
}).slice(0, 10).map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} right=${
    Math.round(el.getBoundingClientRect().right)}`)"""


def slug(path: str) -> str:
    return path.replace("/", "_").removesuffix(".html")


def keyboard(page: Page, out: Path, name: str, tabs: int) -> list[str]:
    lines = []
    for stop in range(1, tabs + 1):
        page.keyboard.press("Tab")
        lines.append(f"{name} tab {stop}: {page.evaluate(_FOCUSED)}")
        page.screenshot(path=out / f"{name}-tab{stop:02d}.png")
    return lines


def zoom(page: Page, out: Path, name: str, level: int) -> list[str]:
    page.screenshot(path=out / f"{name}-zoom{level}.png")
    sticking = page.evaluate(_STICKING_OUT)
    return [f"{name} {level}%: page overflow {horizontal_overflow(page)} px; sticking out: {sticking or 'none'}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", default=list(PAGES))
    parser.add_argument("--site", type=Path, default=ROOT / "_site")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "a11y")
    parser.add_argument("--tabs", type=int, default=12)
    args = parser.parse_args(argv)
    missing = [p for p in args.pages if not (args.site / p).is_file()]
    if missing:
        print(f"a11y_walk: not in {args.site}: {', '.join(missing)} (build it with `make docs`)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    walk, zoomed = [], []
    with sync_playwright() as pw, serve_folder(args.site) as base:
        browser = launch(pw)
        for path in args.pages:
            with open_page(browser, base + path, 1280) as visit:
                walk += keyboard(visit.page, args.out, slug(path), args.tabs)
            for level, width in ZOOMS.items():
                # a 1280 x 800 window at this zoom: the screenshot keeps 1280 x 800 device pixels
                viewport = {"width": width, "height": 800 * 100 // level}
                context = browser.new_context(viewport=viewport, device_scale_factor=level / 100)
                page = context.new_page()
                page.goto(base + path, wait_until="load")
                zoomed += zoom(page, args.out, slug(path), level)
                context.close()
        browser.close()
    (args.out / "walk.txt").write_text("\n".join(walk) + "\n", encoding="utf-8")
    (args.out / "zoom.txt").write_text("\n".join(zoomed) + "\n", encoding="utf-8")
    print("\n".join(zoomed))
    print(f"a11y_walk: {len(walk)} keyboard screenshots and {len(zoomed)} zoom screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
