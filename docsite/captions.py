"""Captions a notebook asks for that the built page does not show.

Neither renderer says when it drops one: Quarto reads `#|` cell options only as a cell's first
lines (an option under a `# NBVAL_…` marker is silently ignored), and smalldocs puts no caption on
a Markdown output. So after the render, every `tbl-cap` and `fig-cap` written anywhere in a code
cell of a notebook must be the text of a <caption> or <figcaption> of its page."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import yaml

OPTION = re.compile(r"^\s*#\|\s*((?:tbl|fig)-cap)\s*:(.*)$")


def _plain(text: str) -> str:
    return " ".join(html.unescape(text).split())


def intended_captions(notebook: dict) -> list[tuple[int, str, str]]:
    """(cell number from 1, option, caption) for every caption option of the notebook's code cells."""
    found = []
    for n, cell in enumerate(notebook.get("cells", []), 1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        for line in ("".join(source) if isinstance(source, list) else source).splitlines():
            m = OPTION.match(line)
            if not m:
                continue
            value = yaml.safe_load(m.group(2)) if m.group(2).strip() else None
            for caption in value if isinstance(value, list) else [value]:
                if caption:
                    found.append((n, m.group(1), _plain(str(caption))))
    return found


class _Captions(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []
        self.captions: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("caption", "figcaption"):
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("caption", "figcaption") and self.depth:
            self.depth -= 1
            if not self.depth:
                self.captions.add(_plain(" ".join(self.parts)))
                self.parts = []

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def shown_captions(page: str) -> set[str]:
    parser = _Captions()
    parser.feed(page)
    return parser.captions


def lost_captions(root: Path, out: Path) -> list[str]:
    """One line per caption a rendered notebook asks for and its page lacks."""
    problems = []
    for page in sorted(out.rglob("*.html")):
        source = root / page.relative_to(out).with_suffix(".ipynb")
        if not source.is_file():
            continue
        shown = shown_captions(page.read_text(encoding="utf-8"))
        notebook = json.loads(source.read_text(encoding="utf-8"))
        rel = source.relative_to(root).as_posix()
        for cell, option, caption in intended_captions(notebook):
            if caption not in shown:
                problems.append(
                    f"{rel}: cell {cell}: {option} {caption!r} is not on the page (Quarto reads #| options only "
                    "as a cell's first lines; smalldocs captions no Markdown output)"
                )
    return problems
