"""A site of one generated page (plus stub pages for the pages it links to), rendered by smalldocs.

The real site's other pages are not part of the test: each stub holds the headings the page
links to, so a broken link or a Markdown construct smalldocs cannot read shows as a warning.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from smalldocs.site import build

SITE_CONFIG = """project:
  type: website
  render:
    - docs/*.qmd
website:
  title: "tiny"
format:
  html:
    toc: true
"""


@dataclass
class Rendered:
    warnings: list[str]
    html: str


def render_alone(folder: Path, name: str, text: str, stubs: dict[str, list[str]], files: dict[str, Path]) -> Rendered:
    """Render docs/`name` holding `text`; `stubs` maps linked pages to their h2 headings, `files` copies files."""
    docs = folder / "docs"
    docs.mkdir(parents=True)
    (folder / "_quarto.yml").write_text(SITE_CONFIG, encoding="utf-8")
    (docs / name).write_text(text, encoding="utf-8")
    for stub, headings in stubs.items():
        body = "".join(f"\n## {h}\n\nStub.\n" for h in headings)
        (docs / stub).write_text(f"---\ntitle: {stub}\n---\n{body}", encoding="utf-8")
    for relative, source in files.items():
        (docs / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, docs / relative)
    site = build(folder, quiet=True)
    html = (folder / "_site" / "docs" / name).with_suffix(".html").read_text(encoding="utf-8")
    return Rendered(list(site.warnings), html)


class Outline(HTMLParser):
    """The headings (level, text) and the ids of an HTML page, and whether every table has a header row."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[int, str]] = []
        self.ids: set[str] = set()
        self.tables = 0
        self.tables_with_header = 0
        self._level = 0
        self._text: list[str] = []
        self._in_main = False
        self._header_of = 0  # the last table a header cell was seen in

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "main":
            self._in_main = True
        if self._in_main and re.fullmatch(r"h[1-6]", tag):
            self._level, self._text = int(tag[1]), []
        if tag == "table":
            self.tables += 1
        if tag == "th" and self._header_of < self.tables:
            self.tables_with_header += 1
            self._header_of = self.tables

    def handle_endtag(self, tag: str) -> None:
        if self._level and tag == f"h{self._level}":
            self.headings.append((self._level, " ".join("".join(self._text).split())))
            self._level = 0
        if tag == "main":
            self._in_main = False

    def handle_data(self, data: str) -> None:
        if self._level:
            self._text.append(data)


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    return parser


def heading_ids(markdown: str) -> set[str]:
    """The ids Pandoc gives a page's headings: an explicit `{#id}`, else the text lower-cased,
    without punctuation, spaces as hyphens."""
    ids = set()
    for match in re.finditer(r"^#{1,6} (.+?)(?: \{#([\w-]+)[^}]*\})?$", markdown, re.M):
        text = re.sub(r"[^\w\s.-]", "", match.group(1).replace("`", "")).strip().lower()
        ids.add(match.group(2) or re.sub(r"\s+", "-", text))
    return ids


def broken_fragments(markdown: str, docs: Path, generated: dict[str, str]) -> list[str]:
    """Links `page.qmd#id` of a page whose target page (a real one in `docs`, or a generated one)
    has no heading with that id."""
    broken = []
    for page_name, fragment in re.findall(r"\]\(([\w-]+\.qmd)#([\w-]+)\)", markdown):
        target = generated.get(page_name) or (docs / page_name).read_text(encoding="utf-8")
        if fragment not in heading_ids(target):
            broken.append(f"{page_name}#{fragment}")
    return broken
