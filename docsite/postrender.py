"""`project.post-render` of _quarto.yml: the fixes of docsite/fixes.py, applied to the built site.

Quarto and smalldocs run it as `python docsite/postrender.py` from the project root, with the
output folder in QUARTO_PROJECT_OUTPUT_DIR."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the docsite package of this checkout, whichever Python runs the script

from docsite.fixes import fix_page, strip_external_imports  # noqa: E402
from docsite.pages import write_atomic  # noqa: E402


def fix_site(out: Path) -> tuple[int, int, int]:
    """Fix every page and stylesheet under `out`; returns (pages, regions, imports removed)."""
    pages = regions = imports = 0
    for page in sorted(out.rglob("*.html")):
        fixed = fix_page(page.read_text(encoding="utf-8"))
        write_atomic(page, fixed.html)
        pages += 1
        regions += fixed.regions
    for sheet in sorted(out.rglob("*.css")):
        css, removed = strip_external_imports(sheet.read_text(encoding="utf-8"))
        if removed:
            write_atomic(sheet, css)
            imports += removed
    return pages, regions, imports


def main() -> int:
    out = Path(os.environ.get("QUARTO_PROJECT_OUTPUT_DIR") or "_site")
    out = out if out.is_absolute() else Path.cwd() / out
    if not out.is_dir():
        print(f"post-render: no output folder {out}", file=sys.stderr)
        return 1
    pages, regions, imports = fix_site(out)
    print(
        f"post-render: {pages} page(s), {regions} scrollable region(s) made focusable, "
        f"{imports} third-party @import(s) removed",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
