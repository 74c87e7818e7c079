"""The few Markdown pieces the generated pages are made of: front matter, tables, code."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import yaml


def front_matter(**fields: object) -> str:
    """A YAML front matter block; keys keep the order given."""
    return "---\n" + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True) + "---\n"


def cell(text: object) -> str:
    """Text safe for one pipe-table cell: one line, pipes escaped (also inside code spans, as GFM reads them)."""
    return " ".join(str(text).split()).replace("|", "\\|") or " "


def code(text: object) -> str:
    """An inline code span that survives backticks in the text."""
    value = str(text)
    fence = "``" if "`" in value else "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    """A pipe table with a header row; the caption, when given, is Quarto's `: caption` line after it."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}: {row!r}")
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    text = "\n".join(lines) + "\n"
    return text + (f"\n: {caption}\n" if caption else "")


def fenced(language: str, body: str) -> str:
    """A fenced code block, its fence longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{body.rstrip()}\n{fence}\n"
