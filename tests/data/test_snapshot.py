"""The embedded snapshot: matches its manifest and passes every rule. (C12.5, C12.8)"""
from __future__ import annotations

import json
import shutil

import pytest

from modelship.checks import check_dataset, check_split
from modelship.dataset import SnapshotError, load_snapshot, split

pytestmark = [
    pytest.mark.requirement("C12.5", "C12.8"),
    pytest.mark.catalogue(
        part="Data: the versioned snapshot data/raw/wdbc.csv and its manifest",
        scope="integration", strategy="example-based", tool="pytest, pandas",
    ),
]


def test_snapshot_matches_its_manifest(repo_root, contract):
    manifest = json.loads((repo_root / "data/raw/wdbc.manifest.json").read_text())
    frame = load_snapshot(repo_root / "data/raw/wdbc.csv", repo_root / "data/raw/wdbc.manifest.json", contract)
    assert len(frame) == manifest["rows"] == 569
    assert list(frame.columns) == manifest["columns"] == contract.columns


def test_embedded_snapshot_passes_every_dataset_rule(wdbc, contract, params):
    report = check_dataset(wdbc, contract, params)
    assert report.passed, report.failures
    assert set(report.results) == {"schema", "missing_values", "ranges", "labels", "duplicates", "class_balance"}


def test_default_split_passes_leakage_and_similarity(wdbc, contract, params):
    parts = split(wdbc, contract, params["test_size"], params["seed"])
    assert check_split(parts.train, parts.test, contract, params).passed
    assert len(parts.train) + len(parts.test) == len(wdbc)


def test_a_modified_snapshot_is_refused(tmp_path, repo_root, contract):  # data versioning
    copy = tmp_path / "wdbc.csv"
    shutil.copy(repo_root / "data/raw/wdbc.csv", copy)
    with open(copy, "a") as fh:
        fh.write(open(repo_root / "data/raw/wdbc.csv").read().splitlines()[1] + "\n")
    with pytest.raises(SnapshotError, match="does not match its manifest"):
        load_snapshot(copy, repo_root / "data/raw/wdbc.manifest.json", contract)


def test_a_missing_manifest_is_refused(tmp_path, repo_root, contract):
    with pytest.raises(SnapshotError, match="manifest not found"):
        load_snapshot(repo_root / "data/raw/wdbc.csv", tmp_path / "none.json", contract)


def test_a_missing_snapshot_is_refused(tmp_path, contract):
    with pytest.raises(SnapshotError, match="snapshot not found"):
        load_snapshot(tmp_path / "none.csv", None, contract)


def test_manifest_row_count_is_enforced(tmp_path, repo_root, contract):
    from modelship.dataset import write_manifest

    copy = tmp_path / "wdbc.csv"
    shutil.copy(repo_root / "data/raw/wdbc.csv", copy)
    manifest = write_manifest(copy, source="test", contract=contract)
    doc = json.loads(manifest.read_text())
    doc["rows"] = 1
    manifest.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match="manifest says 1"):
        load_snapshot(copy, manifest, contract)


def test_the_documented_request_example_is_a_valid_case(repo_root, contract):
    import pandas as pd

    from modelship.checks import check_ranges, check_schema

    body = json.loads((repo_root / "examples/predict-request.json").read_text())
    frame = pd.DataFrame(body["records"]).assign(diagnosis="malignant")
    assert check_schema(frame, contract) == [] and check_ranges(frame, contract) == []
