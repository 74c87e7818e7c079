"""Pages as a reader gets them: a site built by smalldocs (the docs build's offline renderer),
parsed into a small element tree that tests can search by id, tag and text."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

SMALLDOCS = Path(sys.executable).with_name("smalldocs")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def build_site(root: Path, render: list[str]) -> Path:
    """Render the project in `root` (its pages already there) from a minimal `_quarto.yml`; return the output folder."""
    (root / "_quarto.yml").write_text(
        yaml.safe_dump({"project": {"type": "website", "output-dir": "_site", "render": render}}), encoding="utf-8"
    )
    proc = subprocess.run([str(SMALLDOCS), "render", str(root)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return root / "_site"


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        """Its text, as a screen reader would run it together: whitespace collapsed."""
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def by_id(self, ident: str) -> Element | None:
        return next((e for e in self.iter() if e.attrs.get("id") == ident), None)

    def ancestor(self, tag: str) -> Element | None:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node

    def ids(self) -> set[str]:
        return {e.attrs["id"] for e in self.iter() if "id" in e.attrs}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.node = Element("#document", {})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.node)
        self.node.children.append(element)
        if tag not in VOID:
            self.node = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.node.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.node))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:  # an end tag with no open element is ignored
            self.node = node.parent

    def handle_data(self, data: str) -> None:
        self.node.children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def read_page(path: Path) -> Element:
    return parse(path.read_text(encoding="utf-8"))


def main_content(page: Element) -> Element:
    """The page's own content, without navbar, sidebar or table of contents."""
    main = next(page.iter("main"), None)
    assert main is not None, "the page has no <main>"
    return main


def caption_of(element: Element) -> str | None:
    """The caption a table or figure shows: its <caption> or <figcaption>, searched inside `element`."""
    found = next((e for e in element.iter() if e.tag in ("caption", "figcaption")), None)
    return None if found is None else found.text()
