"""docs/data-contract.qmd as docsite.contract_page generates it from the contract params.yaml names.

The page is read back as a table and compared with the contract the project's own loader
returns, for the embedded contract and for a second, synthetic one (an int and a category
feature, a feature that may be missing, no decision note), so it cannot be tied to one dataset.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docsite import api_reference
from docsite.contract_page import page
from docsite.schema_fields import number
from modelship.contract import Contract, ContractError, load_contract
from support import BREAST_CANCER_WORDS, SYNTHETIC_OVERRIDES, make_synthetic, write_params
from tests.docsite.tiny_site import broken_fragments, outline, render_alone

pytestmark = [
    pytest.mark.requirement("C9.8"),
    pytest.mark.catalogue(
        part="Docs: the data contract page (feature dictionary) generated from the contract",
        scope="integration",
        strategy="example-based, inspection",
        tool="pytest, smalldocs render",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def feature_rows(text: str) -> dict[str, list[str]]:
    """The feature table's rows by feature name, as cell texts."""
    match = re.search(r"((?:^\|.*\|\n)+)\n: The features of ", text, re.M)
    assert match, "no feature table"
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in match.group(1).splitlines()[2:]]
    return {row[0].strip("`"): row for row in rows}


def assert_lists_every_feature(text: str, contract: Contract) -> None:
    rows = feature_rows(text)
    assert list(rows) == contract.feature_names
    for f in contract.features:
        name, ftype, unit, valid, missing, monotonic, description = rows[f.name]
        assert (ftype, unit, description) == (f.type, f.unit, f.description)
        if f.categories:
            assert valid == "one of " + ", ".join(f"`{c}`" for c in f.categories)
        else:
            assert valid == f"{number(f.min)} to {number(f.max)}"
        assert missing == ("refused" if f.impute is None else f"allowed; training fills it with the {f.impute} value")
        assert monotonic.startswith(f.monotonic or "none")


def test_the_embedded_contract_page_lists_every_feature_with_its_range() -> None:
    contract = load_contract(ROOT / "contracts" / "wdbc.yaml")
    text = page(ROOT)
    assert_lists_every_feature(text, contract)
    assert "`contracts/wdbc.yaml`" in text
    assert f"**{contract.title}**" in text and contract.description in text
    assert contract.decision_note in text
    assert "The positive class is `malignant`" in text
    assert re.search(r"^\| `benign` \| negative \|$", text, re.M)


def test_a_second_synthetic_contract_gets_its_own_page(tmp_path) -> None:
    paths = make_synthetic(tmp_path / "data", allow_missing={"marker": "median"})
    write_params(tmp_path / "params.yaml", contract=str(paths["contract"]), **SYNTHETIC_OVERRIDES)
    contract = load_contract(paths["contract"])
    text = page(tmp_path)
    assert_lists_every_feature(text, contract)
    rows = feature_rows(text)
    assert rows["site"][3] == "one of `north`, `south`, `east`"
    assert rows["marker"][4] == "allowed; training fills it with the median value"
    assert rows["dose"][5] == "increasing: a larger value never lowers the probability of `event`"
    assert "**Synthetic adverse events**" in text and "The positive class is `event`" in text
    assert "The contract gives no decision note." in text
    leaked = [w for w in BREAST_CANCER_WORDS if w.lower() in text.lower()]
    assert leaked == []


def test_its_link_to_the_api_reference_points_at_the_predict_section() -> None:
    text = page(ROOT)
    assert "](api-reference.qmd#post-v1-predict)" in text
    assert broken_fragments(text, ROOT / "docs", {"api-reference.qmd": api_reference.page(ROOT)}) == []


def test_a_params_file_naming_a_missing_contract_is_a_clear_error(tmp_path) -> None:
    write_params(tmp_path / "params.yaml", contract=str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ContractError, match="contract file not found: .*nowhere.yaml"):
        page(tmp_path)


@pytest.mark.parametrize("which", ["embedded", "synthetic"])
def test_the_page_renders_with_smalldocs_without_warnings(tmp_path, which) -> None:
    root = ROOT
    if which == "synthetic":
        paths = make_synthetic(tmp_path / "data")
        root = tmp_path / "project"
        root.mkdir()
        write_params(root / "params.yaml", contract=str(paths["contract"]), **SYNTHETIC_OVERRIDES)
    rendered = render_alone(
        tmp_path / "site",
        "data-contract.qmd",
        page(root),
        stubs={"pipeline.qmd": ["Data checks (01)"], "api-reference.qmd": ["POST /v1/predict"]},
        files={},
    )
    assert rendered.warnings == []
    found = outline(rendered.html)
    assert found.headings[0] == (1, "Data contract")
    assert [h for h in found.headings if h[0] == 1] == [(1, "Data contract")]
    assert [h for h in found.headings if h[0] == 2] == [
        (2, "Dataset"),
        (2, "Target and classes"),
        (2, "Decision"),
        (2, "Features"),
    ]
    assert found.tables == 2 and found.tables_with_header == 2
