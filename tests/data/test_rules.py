"""One failing fixture per validation rule: each rule fires and names the rule,
the column and the offending rows or values. (C12.8)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelship.checks import (
    DataCheckError,
    check_class_balance,
    check_dataset,
    check_duplicates,
    check_labels,
    check_leakage,
    check_missing,
    check_ranges,
    check_schema,
    check_similarity,
    check_split,
    data_rows,
    numeric_summary,
    similarity_table,
)
from modelship.contract import Contract, parse_contract


def allowing_missing(contract: Contract, name: str, impute: str = "median") -> Contract:
    doc = contract.to_dict()
    for feat in doc["features"]:
        if feat["name"] == name:
            feat["missing"] = {"allowed": True, "impute": impute}
    return parse_contract(doc)


pytestmark = [
    pytest.mark.requirement("C12.8"),
    pytest.mark.catalogue(
        part="Data: each validation rule (modelship.checks)",
        scope="unit",
        strategy="example-based",
        tool="pytest, pandas",
    ),
]


@pytest.fixture
def frame(wdbc):
    return wdbc.copy()


def test_missing_column_fails_schema(frame, contract):  # schema drift
    findings = check_schema(frame.drop(columns=["mean_area"]), contract)
    assert len(findings) == 1 and findings[0].rule == "schema"
    assert "missing columns ['mean_area']" in findings[0].message


def test_unexpected_column_fails_schema(frame, contract):  # schema drift
    frame["patient_name"] = "x"
    assert "columns not in the contract ['patient_name']" in check_schema(frame, contract)[0].message


def test_text_in_numeric_column_fails_schema_with_row(frame, contract):  # wrong type
    frame["mean_radius"] = frame["mean_radius"].astype(object)
    frame.loc[7, "mean_radius"] = "12,5"
    finding = check_schema(frame, contract)[0]
    assert finding.column == "mean_radius" and 7 in finding.rows and "'12,5'" in finding.message


def test_fractional_value_in_integer_column_fails_schema():
    contract = parse_contract(
        {
            "name": "n",
            "target": {"name": "y", "classes": ["a", "b"], "positive": "a"},
            "features": [{"name": "count", "type": "int", "min": 0, "max": 10}],
        }
    )
    frame = pd.DataFrame({"count": [1.0, 2.5, 3.0], "y": ["a", "b", "a"]})
    finding = check_schema(frame, contract)[0]
    assert finding.column == "count" and finding.rows == (1,)


def test_missing_value_fails_and_names_the_row(frame, contract):  # missing values
    frame.loc[3, "worst_area"] = np.nan
    finding = check_missing(frame, contract, 0.0)[0]
    assert (finding.rule, finding.column, finding.rows) == ("missing_values", "worst_area", (3,))
    assert "data row 3 (file line 5)" in finding.message


def test_missing_value_in_a_feature_the_contract_does_not_allow_fails_whatever_the_share(frame, contract):
    frame.loc[3, "worst_area"] = np.nan
    finding = check_missing(frame, contract, 1.0)[0]
    assert finding.column == "worst_area"
    assert "does not allow this feature to be missing" in finding.message
    assert "`missing: {allowed: true, impute: median}` on worst_area" in finding.message


def test_a_missing_category_is_pointed_at_the_imputation_a_category_can_take():
    contract = parse_contract(
        {
            "name": "n",
            "target": {"name": "y", "classes": ["a", "b"], "positive": "a"},
            "features": [{"name": "site", "type": "category", "categories": ["n", "s"]}],
        }
    )
    frame = pd.DataFrame({"site": pd.array(["n", None], dtype="string"), "y": ["a", "b"]})
    assert "`missing: {allowed: true, impute: most_frequent}` on site" in check_missing(frame, contract)[0].message


def test_missing_values_within_allowed_share_pass_where_the_contract_allows_them(frame, contract):
    frame.loc[3, "worst_area"] = np.nan
    assert check_missing(frame, allowing_missing(contract, "worst_area"), 0.01) == []


def test_missing_values_beyond_the_allowed_share_fail_even_where_allowed(frame, contract):
    frame.loc[:20, "worst_area"] = np.nan
    finding = check_missing(frame, allowing_missing(contract, "worst_area"), 0.01)[0]
    assert finding.column == "worst_area" and "max_missing_fraction" in finding.message


def test_a_missing_label_fails_even_when_missing_values_are_allowed(frame, contract):  # unusable case
    frame.loc[8, "diagnosis"] = pd.NA
    findings = check_missing(frame, contract, 1.0)
    assert [(f.column, f.rows) for f in findings] == [("diagnosis", (8,))]
    assert "missing label" in findings[0].message and "never optional" in findings[0].message


def test_a_missing_label_fails_the_report_before_the_split(frame, contract, params):
    frame.loc[8, "diagnosis"] = pd.NA
    report = check_dataset(frame, contract, params.replace(max_missing_fraction=1.0))
    assert report.table().set_index("rule").loc["missing_values", "status"] == "FAIL"


def test_rows_are_named_as_data_rows_with_their_file_line():
    assert data_rows([12]) == "data row 12 (file line 14)"
    assert data_rows(np.array([0, 1])) == "data rows 0, 1 (file lines 2, 3)"
    assert data_rows(range(7)).endswith("and 2 more (file lines 2, 3, 4, 5, 6, …)")


def test_a_header_only_frame_gives_one_schema_finding_saying_zero_rows(frame, contract):
    findings = check_schema(frame.iloc[0:0].astype(object), contract)
    assert len(findings) == 1 and "0 data rows" in findings[0].message


def test_duplicates_rule_does_not_crash_without_feature_columns(contract):
    assert check_duplicates(pd.DataFrame({"a;b": ["1;2"]}), contract) == []


def test_skipped_integrity_check_is_a_warning_in_the_report_table(frame, contract, params):
    report = check_dataset(frame, contract, params.replace(manifest=None))
    row = report.table().set_index("rule").loc["integrity"]
    assert row.status == "WARNING" and "manifest: null" in row.findings and "not checked" in row.findings
    assert report.passed  # a warning, not a failure


def test_report_has_no_integrity_warning_when_a_manifest_is_named(frame, contract, params):
    assert "integrity" not in set(check_dataset(frame, contract, params).table().rule)


def test_out_of_range_value_fails_and_quotes_it(frame, contract):  # entry or unit error
    frame.loc[11, "mean_radius"] = 1400.0  # micrometres typed instead of image units
    finding = check_ranges(frame, contract)[0]
    assert finding.column == "mean_radius" and finding.rows == (11,) and "1400.0" in finding.message


def test_negative_value_fails_range(frame, contract):
    frame.loc[0, "mean_texture"] = -1.0
    assert check_ranges(frame, contract)[0].column == "mean_texture"


def test_unknown_label_fails(frame, contract):  # label values
    frame.loc[5, "diagnosis"] = "M"
    finding = check_labels(frame, contract)[0]
    assert finding.rule == "labels" and finding.rows == (5,) and "'M'" in finding.message


def test_duplicate_rows_fail(frame, contract):  # duplicates inflate metrics and leak
    dup = pd.concat([frame, frame.iloc[[10]]])
    dup.index = range(len(dup))
    finding = check_duplicates(dup, contract, 0)[0]
    assert finding.rule == "duplicates" and set(finding.rows) == {10, len(frame)}


def test_rare_class_fails_balance(frame, contract):  # class balance
    mostly_benign = pd.concat([frame[frame.diagnosis == "benign"], frame[frame.diagnosis == "malignant"].head(20)])
    finding = check_class_balance(mostly_benign, contract, 0.15)[0]
    assert finding.rule == "class_balance" and "'malignant'" in finding.message


def test_shared_rows_between_train_and_test_fail_leakage(frame, contract):  # leakage
    train, test = frame.iloc[:400], frame.iloc[390:]
    messages = [f.message for f in check_leakage(train, test, contract)]
    assert any("row id(s) in both" in m for m in messages)
    assert any("identical to a training row" in m for m in messages)


def test_identical_case_under_a_new_id_fails_leakage(frame, contract):  # leakage hidden by re-indexing
    train, test = frame.iloc[:400], frame.iloc[[5]].copy()
    test.index = [9999]
    finding = check_leakage(train, test, contract)[0]
    assert 9999 in finding.rows


def test_dissimilar_split_fails_similarity(frame, contract):  # misleading test estimate
    ordered = frame.sort_values("worst_area")
    train, test = ordered.iloc[:450], ordered.iloc[450:]
    finding = check_similarity(train, test, contract, alpha=0.001, max_fraction=0.1)[0]
    assert finding.rule == "similarity" and "worst_area" in finding.message


def test_categorical_similarity_uses_chi_square():
    contract = parse_contract(
        {
            "name": "n",
            "target": {"name": "y", "classes": ["a", "b"], "positive": "a"},
            "features": [{"name": "site", "type": "category", "categories": ["n", "s"]}],
        }
    )
    train = pd.DataFrame({"site": ["n"] * 50 + ["s"] * 50, "y": ["a", "b"] * 50})
    test = pd.DataFrame({"site": ["n"] * 50, "y": ["a", "b"] * 25}, index=range(100, 150))
    table = similarity_table(train, test, contract)
    assert table.test.tolist() == ["chi-square"] and table.p_value.iloc[0] < 0.001


def test_unknown_category_fails_ranges():
    contract = parse_contract(
        {
            "name": "n",
            "target": {"name": "y", "classes": ["a", "b"], "positive": "a"},
            "features": [{"name": "site", "type": "category", "categories": ["n", "s"]}],
        }
    )
    frame = pd.DataFrame({"site": ["n", "w"], "y": ["a", "b"]})
    finding = check_ranges(frame, contract)[0]
    assert finding.rows == (1,) and "'w'" in finding.message


def test_report_raises_with_every_failed_rule_in_the_message(frame, contract, params):
    frame.loc[3, "worst_area"] = np.nan
    frame.loc[5, "diagnosis"] = "M"
    report = check_dataset(frame, contract, params)
    assert not report.passed
    assert report.table().set_index("rule").loc["labels", "status"] == "FAIL"
    with pytest.raises(DataCheckError) as err:
        report.raise_for_failures()
    text = str(err.value)
    assert "missing_values [worst_area]" in text and "labels [diagnosis]" in text
    assert "data row 5 (file line 7)" in text


def test_long_lists_of_offenders_are_shortened(frame, contract):
    frame.loc[:20, "mean_radius"] = 999.0
    message = check_ranges(frame, contract)[0].message
    assert "and 16 more" in message


def test_split_report_passes_on_a_clean_split(frame, contract, params):
    assert check_split(frame.iloc[::2], frame.iloc[1::2], contract, params).passed


def test_numeric_summary_shows_contract_bounds(frame, contract):
    table = numeric_summary(frame, contract).set_index("feature")
    assert table.loc["mean_radius", "contract_max"] == 50
    assert table.loc["mean_radius", "observed_max"] == pytest.approx(28.11)
