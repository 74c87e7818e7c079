"""The embedded snapshot: matches its manifest and passes every rule. (C12.5, C12.8)"""

from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest

from modelship.checks import check_dataset, check_split
from modelship.dataset import SnapshotError, load_snapshot, split

pytestmark = [
    pytest.mark.requirement("C12.5", "C12.8"),
    pytest.mark.catalogue(
        part="Data: the versioned snapshot data/raw/wdbc.csv and its manifest",
        scope="integration",
        strategy="example-based",
        tool="pytest, pandas",
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
    assert not report.warnings


def test_default_split_passes_leakage_and_similarity(wdbc, contract, params):
    parts = split(wdbc, contract, params.test_size, params.seed)
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


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"is empty \(0 bytes\)"),
        ("mean_radius;mean_texture;diagnosis\n1,0;2,0;benign\n", "is semicolon-separated.*export it again with ','"),
        ("mean_radius\tmean_texture\tdiagnosis\n1.0\t2.0\tbenign\n", "is tab-separated"),
    ],
)
def test_an_unreadable_snapshot_is_refused_naming_the_file_and_the_fix(tmp_path, contract, content, message):
    path = tmp_path / "export.csv"
    path.write_text(content)
    with pytest.raises(SnapshotError, match=message) as err:
        load_snapshot(path, None, contract)
    assert str(path) in str(err.value)


def test_a_snapshot_that_is_not_utf8_is_refused(tmp_path, contract):
    path = tmp_path / "latin1.csv"
    path.write_bytes("site,diagnosis\nZürich,benign\n".encode("latin-1"))
    with pytest.raises(SnapshotError, match="is not UTF-8 text.*export it again as UTF-8"):
        load_snapshot(path, None, contract)


def test_a_ragged_row_is_refused_with_its_data_row_and_file_line(tmp_path, repo_root, contract):
    lines = (repo_root / "data/raw/wdbc.csv").read_text().splitlines()
    lines[13] += ",1.0"  # file line 14 = data row 12
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SnapshotError, match=r"header has 31 fields but data row 12 \(file line 14\) has 32"):
        load_snapshot(path, None, contract)


def test_a_short_row_is_refused_rather_than_read_as_missing_values(tmp_path, repo_root, contract):
    lines = (repo_root / "data/raw/wdbc.csv").read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0]
    path = tmp_path / "short.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SnapshotError, match=r"data row 1 \(file line 3\) has 30 fields"):
        load_snapshot(path, None, contract)


def test_a_header_only_snapshot_is_refused_as_zero_rows(tmp_path, repo_root, contract):
    path = tmp_path / "header.csv"
    path.write_text((repo_root / "data/raw/wdbc.csv").read_text().splitlines()[0] + "\n")
    with pytest.raises(SnapshotError, match="holds a header and 0 data rows"):
        load_snapshot(path, None, contract)


def test_a_malformed_manifest_is_refused(tmp_path, repo_root, contract):
    manifest = tmp_path / "m.json"
    manifest.write_text("{not json")
    with pytest.raises(SnapshotError, match="is not a manifest"):
        load_snapshot(repo_root / "data/raw/wdbc.csv", manifest, contract)


def test_split_refuses_missing_labels_with_their_rows(wdbc, contract, params):
    frame = wdbc.copy()
    frame.loc[4, "diagnosis"] = pd.NA
    with pytest.raises(SnapshotError, match=r"missing label\(s\) in data row 4 \(file line 6\)"):
        split(frame, contract, params.test_size, params.seed)


def test_git_keeps_the_snapshot_and_contract_byte_for_byte(repo_root):  # line endings on checkout
    paths = ["data/raw/wdbc.csv", "data/raw/wdbc.manifest.json", "contracts/wdbc.yaml"]
    proc = subprocess.run(
        ["git", "check-attr", "text", "eol", "--", *paths], cwd=repo_root, capture_output=True, text=True, check=True
    )
    attrs = {tuple(line.split(": ")[:2]): line.split(": ")[2] for line in proc.stdout.splitlines()}
    assert attrs[("data/raw/wdbc.csv", "text")] == "unset"  # never converted: the sha256 holds everywhere
    assert attrs[("data/raw/wdbc.manifest.json", "text")] == "unset"
    assert attrs[("contracts/wdbc.yaml", "eol")] == "lf"
    assert b"\r" not in (repo_root / "data/raw/wdbc.csv").read_bytes()


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
