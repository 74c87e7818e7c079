"""The data contract loader refuses malformed contracts with a clear message. (C12.8)"""

from __future__ import annotations

import copy

import pytest

from modelship.contract import ContractError, load_contract, parse_contract

pytestmark = [
    pytest.mark.requirement("C12.8"),
    pytest.mark.catalogue(
        part="Package: data contract loader (modelship.contract)",
        scope="unit",
        strategy="example-based",
        tool="pytest, PyYAML",
    ),
]

BASE = {
    "name": "c",
    "target": {"name": "y", "classes": ["yes", "no"], "positive": "yes"},
    "features": [{"name": "x", "type": "float", "min": 0, "max": 1}],
}


def variant(**changes):
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = doc
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return doc


def test_default_contract_describes_thirty_features_with_units_and_ranges(contract):
    assert len(contract.features) == 30
    assert all(f.unit and f.description and f.min is not None and f.max is not None for f in contract.features)
    assert contract.target.positive == "malignant" and contract.target.negative == "benign"


def test_encode_target_marks_the_positive_class(contract, wdbc):
    encoded = contract.encode_target(wdbc.diagnosis)
    assert encoded.sum() == (wdbc.diagnosis == "malignant").sum()


def test_round_trip_through_dict_keeps_every_field(contract):
    assert parse_contract(contract.to_dict()) == contract


def test_a_feature_may_allow_missing_values_and_name_its_imputation():
    contract = parse_contract(variant(features__0__missing={"allowed": True, "impute": "median"}))
    feat = contract.feature("x")
    assert feat.missing_allowed and feat.impute == "median"
    assert contract.feature_table().loc[0, "missing"] == "imputed (median)"
    assert parse_contract(contract.to_dict()) == contract


def test_features_refuse_missing_values_unless_the_contract_says_so(contract):
    assert not any(f.missing_allowed for f in contract.features)
    assert set(contract.feature_table().missing) == {"refused"}
    not_allowed = parse_contract(variant(features__0__missing={"allowed": False}))
    assert not not_allowed.feature("x").missing_allowed


def test_decision_note_is_read_and_optional(contract):
    assert "pathologist" in contract.decision_note
    assert parse_contract(BASE).decision_note == ""


def test_feature_lookup_and_table(contract):
    assert contract.feature("worst_radius").monotonic == "increasing"
    with pytest.raises(KeyError, match="not in contract"):
        contract.feature("nope")
    table = contract.feature_table()
    assert len(table) == 30 and table.loc[0, "valid range"] == "[0.5, 50]"


@pytest.mark.parametrize(
    "doc, message",
    [
        (variant(features__0__type="text"), "type 'text' is not one of"),
        (variant(features__0__min=5), "min 5 is greater than max 1"),
        (variant(features__0__type="category"), "needs a `categories` list"),
        (variant(features__0__monotonic="up"), "monotonic must be"),
        (variant(target__positive="maybe"), "positive class 'maybe'"),
        (variant(target__classes=["a", "b", "c"]), "exactly two distinct classes"),
        (variant(features=[]), "`features` is empty"),
        (variant(features=[{"name": "x", "type": "float"}, {"name": "x", "type": "int"}]), "duplicated"),
        (variant(features=[{"name": "y", "type": "float"}]), "also listed as a feature"),
        (variant(features=[{"type": "float"}]), "missing required key 'name'"),
        (variant(features__0__missing={"allowed": True}), "missing.impute must say how"),
        (variant(features__0__missing={"allowed": True, "impute": "zero"}), "got 'zero'"),
        (variant(features__0__missing={"allowed": "yes", "impute": "median"}), "must be true or false"),
        (variant(features__0__missing={"allowed": False, "impute": "median"}), "allowed is false"),
        (variant(features__0__missing="median"), "`missing` must be a mapping"),
        (
            variant(
                features=[
                    {
                        "name": "s",
                        "type": "category",
                        "categories": ["a"],
                        "missing": {"allowed": True, "impute": "median"},
                    }
                ]
            ),
            r"one of \('most_frequent',\)",
        ),
        ([], "must be a mapping"),
    ],
)
def test_malformed_contract_is_refused(doc, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(doc)


def test_missing_and_invalid_files_are_reported(tmp_path):
    with pytest.raises(ContractError, match="not found"):
        load_contract(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [unclosed")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract(bad)
