"""A caption a notebook asks for and its built page lacks fails the build: options below a cell's
first lines (which Quarto ignores) and captions on a Markdown output (which smalldocs drops).
(C9.11, C12.7)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docsite.captions import intended_captions, lost_captions, shown_captions

pytestmark = [
    pytest.mark.requirement("C9.11", "C12.7"),
    pytest.mark.catalogue(
        part="Docs site build: captions of the executed notebooks (docsite/captions.py)",
        scope="unit",
        strategy="example-based",
        tool="pytest",
    ),
]


def code(source: str) -> dict:
    return {"cell_type": "code", "source": source, "outputs": [], "metadata": {}}


NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "source": "#| tbl-cap: not an option in prose", "metadata": {}},
        code("#| label: tbl-a\n#| tbl-cap: Result of each rule.\nchecks.table()"),
        code("# NBVAL_CHECK_OUTPUT\n#| tbl-cap: 'Split: rules.'\nsplit.table()"),
        code("#| fig-cap:\n#|   - ROC\n#|   - PR\nplot()"),
        code('#| fig-cap: ["ROC curve", "PR curve"]\nplot()'),
    ]
}


def test_every_caption_option_of_a_code_cell_is_read_wherever_it_is():
    assert intended_captions(NOTEBOOK) == [
        (2, "tbl-cap", "Result of each rule."),
        (3, "tbl-cap", "Split: rules."),
        (5, "fig-cap", "ROC curve"),
        (5, "fig-cap", "PR curve"),
    ]


def test_the_page_captions_are_the_text_of_caption_and_figcaption():
    page = (
        "<table><caption>Result of <code>each</code>\n rule.</caption></table>"
        "<figure><figcaption>ROC curve</figcaption></figure>"
    )
    assert shown_captions(page) == {"Result of each rule.", "ROC curve"}


def test_a_caption_missing_from_its_page_is_named_with_its_cell(tmp_path: Path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/n.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    out = tmp_path / "_site/reports"
    out.mkdir(parents=True)
    (out / "n.html").write_text(
        "<caption>Result of each rule.</caption><figcaption>ROC curve</figcaption><figcaption>PR curve</figcaption>",
        encoding="utf-8",
    )
    (out / "other.html").write_text("<p>no notebook behind this page</p>", encoding="utf-8")
    lost = lost_captions(tmp_path, tmp_path / "_site")
    assert len(lost) == 1 and lost[0].startswith("reports/n.ipynb: cell 3: tbl-cap 'Split: rules.' is not on the page")
