"""The site's footer, with the project's version read from pyproject.toml (its one source)."""

from __future__ import annotations

import html
import tomllib
from pathlib import Path

# the include that _quarto.yml's format.html.include-after-body names; generated, git-ignored
FOOTER_INCLUDE = "_footer.html"


def project_version(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    return str(project["version"])


def footer_html(root: Path) -> str:
    version = html.escape(project_version(root))
    # a <footer> directly under <body> is the page's contentinfo landmark
    return f'<footer class="footer ms-footer">\n<p class="ms-footer-text">modelship, version {version}</p>\n</footer>\n'
