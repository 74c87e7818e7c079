"""The pages generated from the project's own sources: one table, written before every render.

Each entry maps a page's path (relative to the project root) to the function that returns its
Markdown from the root. The generated pages are git-ignored: the sources they come from are the
one place each fact lives."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from docsite import api_reference, contract_page, results_page

Generator = Callable[[Path], str]

PAGES: dict[str, Generator] = {
    "docs/api-reference.qmd": api_reference.page,
    "docs/data-contract.qmd": contract_page.page,
    "docs/test-results.qmd": results_page.page,
}


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: Path, text: str) -> bool:
    """Write `text` to `path` through a temporary file in the same folder and a rename, so a
    reader (a renderer, a preview server) never sees half a page. Returns whether the file
    changed: an unchanged page keeps its modification time."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600; the page keeps the mode it had, or a new file's usual one
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_all(root: Path, pages: Mapping[str, Generator] | None = None) -> list[Path]:
    """Generate every page of `pages` (default: PAGES) under `root`; returns the paths written.

    Every generator runs before anything is written, so a failing one leaves the previous
    pages in place rather than a site half old and half new."""
    table = PAGES if pages is None else pages
    texts: dict[Path, str] = {}
    for rel, generate in table.items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"generated page {rel!r} must be a path inside the project")
        path = root / rel
        text = generate(root)
        if not isinstance(text, str):
            raise TypeError(f"the generator of {rel} returned {type(text).__name__}, not the page's Markdown")
        texts[path] = text
    for path, text in texts.items():
        write_atomic(path, text)
    return list(texts)
