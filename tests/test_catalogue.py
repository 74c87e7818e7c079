"""The test catalogue page lists every test case and is generated from the tests. (C12.1)"""
from __future__ import annotations

import subprocess
import sys

from support import ROOT


def test_catalogue_page_is_up_to_date():
    proc = subprocess.run([sys.executable, "scripts/test_catalogue.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_catalogue_lists_this_test():
    page = (ROOT / "docs/test-catalogue.qmd").read_text(encoding="utf-8")
    assert "- Catalogue lists this test" in page and "Requirements: C12.1." in page
