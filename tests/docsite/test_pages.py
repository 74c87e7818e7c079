"""The hand-written reader pages: the overview (index.qmd), the architecture page and its diagram,
and the authentication page.

The architecture page is rendered with smalldocs and read in Chromium, as a reader gets it: the
diagram must be an accessible image (role, title, desc, alt text), its text must fit its boxes at
a readable size, and the page's table of components must name every component the diagram draws,
so that a screen-reader user gets the same information. The overview must link to every page of
the site's navigation, and the authentication page's scopes and lifetimes must be the ones the
code enforces.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from serve.auth import SCOPES
from serve.auth.settings import AuthSettings

pytestmark = [
    pytest.mark.catalogue(
        part="Docs: the overview, architecture and authentication pages",
        scope="integration",
        strategy="inspection",
        tool="pytest, smalldocs render, Playwright (Chromium)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
INDEX = ROOT / "index.qmd"
ARCHITECTURE = ROOT / "docs" / "architecture.qmd"
DIAGRAM = ROOT / "docs" / "images" / "architecture.svg"
AUTH = ROOT / "docs" / "auth.qmd"
SVG = "{http://www.w3.org/2000/svg}"
# The smallest text the diagram may use, in CSS pixels at its natural size.
MIN_FONT_PX = 13
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
# Pages of the site that other work writes (issue 8); linked from the overview before they land.
PAGES_OF_OTHERS = {
    "docs/data-contract.qmd",
    "docs/api-reference.qmd",
    "docs/test-results.qmd",
    "docs/accessibility.qmd",
}


def components_drawn() -> list[str]:
    """The data-name of every component group of the diagram."""
    root = ET.parse(DIAGRAM).getroot()
    return [g.get("data-name", "") for g in root.iter(f"{SVG}g") if "component" in (g.get("class") or "").split()]


def markdown_table(text: str, caption: str) -> list[list[str]]:
    """The body rows of the pipe table whose caption line starts with `caption`, as cell texts."""
    match = re.search(r"((?:^\|.*\|\n)+)\n: " + re.escape(caption), text, re.M)
    assert match, f"no table captioned {caption!r}"
    lines = match.group(1).splitlines()
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines[2:]]


# -- the diagram, as a file --------------------------------------------------------------------


@pytest.mark.requirement("C9.11")
def test_the_diagram_is_an_image_named_by_its_title_and_described_by_its_desc() -> None:
    root = ET.parse(DIAGRAM).getroot()
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and (title.text or "").strip(), "the svg needs a non-empty <title>"
    assert desc is not None and len((desc.text or "").split()) >= 20, "the svg needs a <desc> that describes it"
    assert list(root)[:2] == [title, desc], "<title> and <desc> must be the svg's first children"
    assert (root.get("aria-labelledby") or "").split() == [title.get("id"), desc.get("id")]


@pytest.mark.requirement("C9.11")
def test_the_diagram_loads_nothing_and_runs_nothing() -> None:
    text = DIAGRAM.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert not list(root.iter(f"{SVG}script")), "no script in the diagram"
    assert not list(root.iter(f"{SVG}foreignObject"))
    assert not re.search(r"@import|@font-face|url\(\s*['\"]?(?:https?:)?//", text), "no external CSS or font"
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.endswith("href"):
                assert value.startswith("#"), f"{element.tag} refers outside the file: {value}"
            assert not name.startswith("on"), f"event handler {name} on {element.tag}"


@pytest.mark.requirement("C9.8")
def test_the_diagram_names_each_component_once() -> None:
    names = components_drawn()
    assert len(names) >= 10, names
    assert all(names), "every component group needs a data-name"
    assert len(set(names)) == len(names), f"a component is drawn twice: {names}"


# -- the pages, as sources ---------------------------------------------------------------------


@pytest.mark.requirement("C9.8")
def test_every_component_of_the_diagram_is_in_the_components_table_and_takes_part_in_a_flow() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = [row[0] for row in markdown_table(text, "Components of modelship")]
    assert sorted(table) == sorted(components_drawn()), "the components table and the diagram differ"
    flows = markdown_table(text, "Flows between the components")
    ends = " | ".join(f"{row[0]} | {row[1]}" for row in flows)
    alone = [name for name in table if name not in ends]
    assert not alone, f"components in no flow: {alone}"


@pytest.mark.requirement("C9.8")
def test_the_architecture_page_says_which_components_are_not_built() -> None:
    rows = markdown_table(ARCHITECTURE.read_text(encoding="utf-8"), "Components of modelship")
    for name, _, where, state in rows:
        if where.startswith("outside the repository"):
            continue
        # the repository paths a row names for its code (generated folders aside)
        paths = [p.rstrip("/") for p in re.findall(r"`([\w./-]+)`(?! \(generated)", where) if "/" in p]
        present = [p for p in paths if (ROOT / p).exists()]
        if not present:
            assert state == "not built yet", f"{name}: no code in the repository, yet the page says {state!r}"
        else:
            assert state != "not built yet", f"{name}: {present} exist, yet the page says it is not built"


def site_pages(config: dict[str, Any]) -> set[str]:
    """Every page the navbar and the sidebars of `_quarto.yml` link to."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str) and node.endswith((".qmd", ".ipynb", ".md")):
            found.add(node)
        elif isinstance(node, dict):
            if isinstance(node.get("href"), str):
                walk(node["href"])
            for key in ("contents", "left", "right"):
                if key in node:
                    walk(node[key])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    website = config.get("website", {})
    walk(website.get("navbar", {}))
    walk(website.get("sidebar", []))
    return found


@pytest.mark.requirement("C9.8")
def test_site_pages_reads_the_navbar_and_nested_sidebar_sections() -> None:
    config = {
        "website": {
            "navbar": {"left": [{"href": "index.qmd", "text": "Home"}, {"href": "docs/a.qmd"}]},
            "sidebar": [{"contents": [{"section": "S", "contents": ["reports/r.ipynb", {"href": "docs/b.qmd"}]}]}],
        }
    }
    assert site_pages(config) == {"index.qmd", "docs/a.qmd", "docs/b.qmd", "reports/r.ipynb"}


@pytest.mark.requirement("C9.8")
def test_the_overview_links_to_every_page_of_the_site_navigation_that_exists() -> None:
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
    pages = site_pages(config)
    assert pages, "no page found in the navbar or sidebar of _quarto.yml"
    # the executed notebooks exist only after `make pipeline`: wanted whether or not they are there
    wanted = {p for p in pages if p != "index.qmd" and ((ROOT / p).exists() or p.startswith("reports/"))}
    links = {target.split("#")[0] for target in MARKDOWN_LINK.findall(INDEX.read_text(encoding="utf-8"))}
    missing = sorted(wanted - links)
    assert not missing, f"index.qmd does not link to: {missing}"


@pytest.mark.requirement("C9.8")
def test_the_overview_links_resolve_from_the_project_root() -> None:
    text = INDEX.read_text(encoding="utf-8")
    local = [t for t in MARKDOWN_LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert local
    # pages other helpers write may not be merged yet; a link into another folder is a mistake
    for target in local:
        path = target.split("#")[0]
        assert not path.startswith(("../", "/")), target
        assert path.split("/")[0] in {"docs", "reports"}, target
        if path.startswith("docs/") and path.endswith(".qmd"):
            assert (ROOT / path).exists() or path in PAGES_OF_OTHERS, f"broken link in index.qmd: {target}"


@pytest.mark.requirement("C9.9")
def test_the_scopes_table_lists_the_endpoints_the_openapi_document_gives_each_scope() -> None:
    spec = json.loads((ROOT / "docs" / "api" / "openapi.json").read_text(encoding="utf-8"))
    expected: dict[str, set[str]] = {scope: set() for scope in SCOPES}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for requirement in operation.get("security") or []:
                for scope in requirement.get("oauth2", []):
                    expected[scope].add(f"{method.upper()} {path}")
    rows = markdown_table(AUTH.read_text(encoding="utf-8"), "Scopes and what each allows")
    operation = re.compile(r"`((?:GET|POST|PUT|PATCH|DELETE) [^`]+)`")
    documented = {row[0].strip("`"): set(operation.findall(row[2])) for row in rows}
    assert documented == expected


@pytest.mark.requirement("C9.9")
def test_the_lifetimes_table_states_the_default_lifetimes_of_the_code() -> None:
    defaults = AuthSettings(state_dir=Path("unused"))
    rows = {row[0]: row[1] for row in markdown_table(AUTH.read_text(encoding="utf-8"), "Token lifetimes and uses")}
    assert rows["Access token"].startswith(f"{defaults.access_ttl_s // 60} minutes")
    assert rows["Refresh token"].startswith(f"{defaults.refresh_ttl_s // 3600} hours")


@pytest.mark.requirement("C9.9")
def test_the_auth_page_tells_a_client_what_to_do_on_401_403_429() -> None:
    rows = markdown_table(AUTH.read_text(encoding="utf-8"), "What a client does on each")
    by_status: dict[str, str] = {}
    for answer, _meaning, action in rows:
        status = re.match(r"`(\d{3})`", answer)
        assert status, answer
        by_status[status.group(1)] = by_status.get(status.group(1), "") + " " + action
    assert {"401", "403", "429"} <= set(by_status)
    assert "Retry-After" in by_status["429"]
    assert "refresh" in by_status["401"].lower()


# -- the architecture page, rendered and read in a browser -------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/architecture.qmd and its diagram, rendered alone by smalldocs; the HTML page's path."""
    site = tmp_path_factory.mktemp("site")
    (site / "docs" / "images").mkdir(parents=True)
    shutil.copy(ARCHITECTURE, site / "docs" / ARCHITECTURE.name)
    shutil.copy(DIAGRAM, site / "docs" / "images" / DIAGRAM.name)
    config = {
        "project": {"type": "website", "output-dir": "_site", "render": ["docs/architecture.qmd"]},
        "website": {"title": "modelship"},
        "format": {"html": {"lang": "en", "theme": "cosmo"}},
    }
    (site / "_quarto.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    smalldocs = [sys.executable, "-c", "import sys; from smalldocs.cli import main; sys.exit(main())"]
    done = subprocess.run([*smalldocs, "render", str(site)], cwd=site, capture_output=True, text=True, check=False)
    page = site / "_site" / "docs" / "architecture.html"
    assert page.exists(), done.stdout + done.stderr
    return page


@pytest.mark.requirement("C9.8", "C9.11")
def test_the_rendered_page_shows_the_diagram_with_alt_text_and_the_components_table(
    rendered: Path, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(rendered.as_uri())
        images = page.eval_on_selector_all(
            "img",
            "els => els.map(e => ({src: e.getAttribute('src'), alt: e.alt, shown: e.naturalWidth > 0}))",
        )
        diagram = [i for i in images if i["src"].endswith("architecture.svg")]
        assert len(diagram) == 1, images
        assert diagram[0]["shown"], "the diagram did not load"
        assert len(diagram[0]["alt"].split()) >= 20, "the diagram needs an alt text that describes it"
        tables = page.eval_on_selector_all(
            "table",
            """els => els.map(t => ({
                caption: (t.closest('figure')?.querySelector('figcaption') || t.caption || {}).textContent || '',
                headers: [...t.querySelectorAll('thead th')].map(th => th.textContent.trim()),
                first: [...t.querySelectorAll('tbody tr')].map(r => r.cells[0].textContent.trim()),
            }))""",
        )
    finally:
        page.close()
    components = [t for t in tables if "Components of modelship" in t["caption"]]
    assert len(components) == 1, [t["caption"] for t in tables]
    assert components[0]["headers"][0] == "Component", "the table needs a header row"
    assert sorted(components[0]["first"]) == sorted(components_drawn())


@pytest.mark.requirement("C9.11")
def test_the_diagram_text_is_readable_and_fits_its_boxes(browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    try:
        page.goto(DIAGRAM.as_uri())
        sizes = page.eval_on_selector_all("text", "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
        overflow = page.evaluate(
            """() => {
                const out = [];
                for (const g of document.querySelectorAll('g.component')) {
                    const box = g.querySelector('rect').getBBox();
                    for (const t of g.querySelectorAll('text')) {
                        const b = t.getBBox();
                        if (b.x < box.x || b.y < box.y || b.x + b.width > box.x + box.width
                            || b.y + b.height > box.y + box.height) out.push(t.textContent);
                    }
                }
                return out;
            }"""
        )
    finally:
        page.close()
    assert sizes and min(sizes) >= MIN_FONT_PX, sorted(sizes)[:3]
    assert not overflow, f"text outside its box: {overflow}"
