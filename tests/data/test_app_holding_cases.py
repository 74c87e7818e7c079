"""The lab app's holding file is the held-out test split, exported once: re-exporting gives the
same bytes, and none of its cases is in the training split. (C10.1, C12.8)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from modelship.dataset import split
from support import ROOT

pytestmark = [
    pytest.mark.requirement("C10.1", "C12.8"),
    pytest.mark.catalogue(
        part="Data: the lab app's holding cases (scripts/export_app_cases.py)",
        scope="unit",
        strategy="snapshot",
        tool="pytest",
    ),
]

HOLDING = ROOT / "app" / "data" / "holding_cases.json"


def _script():
    spec = importlib.util.spec_from_file_location("export_app_cases", ROOT / "scripts" / "export_app_cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_file_is_what_the_export_writes(tmp_path: Path) -> None:
    out = tmp_path / "holding.json"
    assert _script().main(["--out", str(out)]) == 0
    assert out.read_bytes() == HOLDING.read_bytes()


def test_no_holding_case_was_used_for_training(wdbc, contract, params) -> None:
    parts = split(wdbc, contract, params.test_size, params.seed)
    doc = json.loads(HOLDING.read_text(encoding="utf-8"))
    rows = [c["source_row"] for c in doc["cases"]]
    assert sorted(rows) == sorted(parts.test.index.tolist())
    assert not set(rows) & set(parts.train.index)
    for case in doc["cases"][:10]:
        original = parts.test.loc[case["source_row"], contract.feature_names].astype(float).to_dict()
        assert case["values"] == original
    assert [m["unit"] for m in doc["measurements"]] == [f.unit for f in contract.features]
    assert doc["diagnosis"]["classes"] == list(contract.target.classes)
