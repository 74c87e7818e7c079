"""`project.pre-render` of _quarto.yml: the generated pages and the footer, before any page renders.

Quarto and smalldocs run it as `python docsite/prerender.py` from the project root."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the docsite package of this checkout, whichever Python runs the script

from docsite.footer import FOOTER_INCLUDE, footer_html  # noqa: E402
from docsite.pages import write_all, write_atomic  # noqa: E402


def main() -> int:
    written = write_all(ROOT)
    write_atomic(ROOT / FOOTER_INCLUDE, footer_html(ROOT))
    print(f"pre-render: {len(written)} generated page(s), footer {FOOTER_INCLUDE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
