"""Evaluation: threshold choice, metrics, behavioural tests, and the promotion gate. (C12.8, C13.5)"""

from __future__ import annotations

import numpy as np
import pytest

from modelship.card import render_card
from modelship.contract import parse_contract
from modelship.evaluate import (
    BehaviourResult,
    behaviour_table,
    calibration_table,
    choose_threshold,
    classification_metrics,
    confusion_table,
    gate,
    invariance_to_noise,
    monotonic_direction,
)
from modelship.features import target, to_matrix
from modelship.train import build_estimator
from support import BREAST_CANCER_WORDS, SYNTHETIC_CONTRACT

pytestmark = [
    pytest.mark.requirement("C12.8", "C13.5"),
    pytest.mark.catalogue(
        part="Model: threshold, metrics, behavioural tests, promotion gate",
        scope="integration",
        strategy="behavioural, example-based",
        tool="pytest, scikit-learn",
    ),
]


@pytest.fixture(scope="module")
def scored(trained, wdbc_split, contract):
    result, _ = trained
    X, y = to_matrix(wdbc_split.test, contract), target(wdbc_split.test, contract)
    return result.model, X, y, result.model.predict_proba(X)[:, 1]


GOOD = {"roc_auc": 0.99, "recall": 0.97, "precision": 0.95, "f1": 0.96, "brier": 0.03}


def test_threshold_reaches_the_target_recall_on_out_of_fold_predictions(trained):
    result, _ = trained
    t = choose_threshold(result.cv.y, result.cv.oof_proba, 0.97)
    recall = np.mean(result.cv.oof_proba[result.cv.y == 1] >= t)
    assert recall >= 0.97
    assert np.mean(result.cv.oof_proba[result.cv.y == 1] >= np.nextafter(t, 1)) < 0.97  # the highest such


def test_threshold_on_a_toy_case():
    y = np.array([1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.6, 0.2, 0.3, 0.1])
    assert choose_threshold(y, p, 0.75) == 0.6
    assert choose_threshold(y, p, 1.0) == 0.2
    with pytest.raises(ValueError, match="no positive"):
        choose_threshold(np.zeros(3), p[:3], 0.9)


def test_metrics_meet_the_default_gate_on_the_test_set(scored, params, contract):
    _, _, y, proba = scored
    m = classification_metrics(y, proba, 0.3)
    assert m["roc_auc"] >= params.gate_min_roc_auc and m["recall"] >= params.gate_min_recall
    assert m["tp"] + m["fn"] == y.sum() and m["tn"] + m["fp"] == len(y) - y.sum()
    table = confusion_table(m, contract)
    assert table.loc["actual malignant", "predicted malignant"] == m["tp"]
    assert len(calibration_table(y, proba)) >= 5


def test_model_is_invariant_to_tiny_measurement_noise(scored, contract, params):
    model, X, _, _ = scored
    r = invariance_to_noise(model, X, contract, 0.3, params.noise_scale, params.max_flip_rate, 42)
    assert r.passed and r.measured <= params.max_flip_rate


def test_large_noise_breaks_invariance(scored, contract):
    model, X, _, _ = scored
    assert not invariance_to_noise(model, X, contract, 0.3, 2.0, 0.02, 42).passed


def test_larger_worst_radius_never_lowers_malignancy_probability(scored, contract, params):
    model, X, _, _ = scored
    results = {r.name: r for r in monotonic_direction(model, X, contract, params.monotonic_tolerance)}
    assert results["direction: worst_radius increasing"].passed
    assert all(r.passed for r in results.values())
    assert len(results) == 5


def test_direction_test_catches_a_model_that_goes_the_wrong_way(contract, scored):
    _, X, _, _ = scored
    j = contract.feature_names.index("worst_radius")

    class Backwards:
        def predict_proba(self, X):
            p = 1 / (1 + np.exp(X[:, j].astype(float) - 15))
            return np.column_stack([1 - p, p])

    results = {r.name: r for r in monotonic_direction(Backwards(), X, contract, 0.001)}
    assert not results["direction: worst_radius increasing"].passed


def test_gate_promotes_a_good_first_model(params):
    decision = gate(GOOD, params, [BehaviourResult("b", True, 0, 0, "")])
    assert decision.promote and "no production model yet" in decision.summary()


@pytest.mark.parametrize("metric, value", [("roc_auc", 0.9), ("recall", 0.8), ("precision", 0.5), ("brier", 0.2)])
def test_gate_refuses_a_model_below_a_minimum(params, metric, value):
    decision = gate({**GOOD, metric: value}, params, [])
    assert not decision.promote and decision.summary().startswith("KEEP PRODUCTION UNCHANGED")


def test_gate_refuses_a_failed_behaviour_test(params):
    decision = gate(GOOD, params, [BehaviourResult("direction: x", False, 0.2, 0.001, "dropped")])
    assert not decision.promote and any("behaviour test failed: direction: x" in r for r in decision.reasons)


def test_gate_refuses_a_regression_beyond_tolerance(params):
    production = {**GOOD, "recall": 0.99}
    decision = gate({**GOOD, "recall": 0.96}, params, [], production, "v0007")
    assert not decision.promote
    assert any("recall vs production v0007" in r and "regression beyond" in r for r in decision.reasons)


def test_gate_accepts_a_small_drop_within_tolerance(params):
    decision = gate({**GOOD, "recall": 0.965}, params, [], {**GOOD}, "v0007")
    assert decision.promote


def test_behaviour_table_lists_each_test():
    table = behaviour_table(
        [
            BehaviourResult("a", True, 0, 1, "d"),
            BehaviourResult("b", False, 2, 1, "d"),
            BehaviourResult("c", False, None, 1, "not measured: nothing"),
        ]
    )
    assert table.status.tolist() == ["pass", "FAIL", "not measured"]


# -- a model that accepts missing values: the tests must say when they measured nothing ---------


@pytest.fixture(scope="module")
def imputing(wdbc_split, contract, params):
    doc = contract.to_dict()
    for feat in doc["features"]:
        feat["missing"] = {"allowed": True, "impute": "median"}
    gappy = parse_contract(doc)
    train = wdbc_split.train
    model = build_estimator(gappy, params).fit(to_matrix(train, gappy), target(train, gappy))
    return model, gappy, to_matrix(wdbc_split.test, gappy)


def test_noise_test_leaves_a_wholly_missing_column_alone_instead_of_blanking_it(imputing, params):
    model, contract, X = imputing
    j = contract.feature_names.index("worst_radius")
    X = X.copy()
    X[:, j] = np.nan
    r = invariance_to_noise(model, X, contract, 0.3, params.noise_scale, params.max_flip_rate, 42)
    assert r.status == "pass" and r.measured is not None
    assert f"of {len(X)} decisions changed" in r.detail and "left unchanged (no spread): worst_radius" in r.detail


def test_noise_test_on_wholly_missing_data_is_not_measured_and_not_passed(imputing, params):
    model, contract, X = imputing
    r = invariance_to_noise(model, np.full_like(X, np.nan), contract, 0.3, params.noise_scale, params.max_flip_rate, 42)
    assert (r.status, r.passed, r.measured) == ("not measured", False, None)
    assert "no noise could be added" in r.detail


def test_direction_test_on_a_missing_feature_is_not_measured(imputing, params):
    model, contract, X = imputing
    j = contract.feature_names.index("worst_radius")
    X = X.copy()
    X[:, j] = np.nan
    results = {r.name: r for r in monotonic_direction(model, X, contract, params.monotonic_tolerance)}
    blind = results["direction: worst_radius increasing"]
    assert blind.status == "not measured" and not blind.passed and "no observed value" in blind.detail
    assert results["direction: worst_concave_points increasing"].status == "pass"


def test_direction_test_measures_only_the_cases_where_the_feature_is_observed(imputing, params):
    model, contract, X = imputing
    j = contract.feature_names.index("worst_radius")
    X = X.copy()
    X[::2, j] = np.nan
    result = {r.name: r for r in monotonic_direction(model, X, contract, params.monotonic_tolerance)}
    assert f"over {len(X[1::2])} of {len(X)} cases" in result["direction: worst_radius increasing"].detail


def test_a_result_that_measured_nothing_cannot_be_marked_passed():
    with pytest.raises(ValueError, match="cannot pass"):
        BehaviourResult("x", True, None, 0.1, "")


def test_gate_refuses_a_behaviour_test_that_could_not_measure(params):
    blind = BehaviourResult("direction: x increasing", False, None, 0.001, "not measured: no observed value")
    decision = gate(GOOD, params, [BehaviourResult("b", True, 0, 0, ""), blind])
    assert not decision.promote
    assert any("not measured, counted as failed: direction: x increasing" in r for r in decision.reasons)
    assert not any("behaviour tests passed" in r for r in decision.reasons)


# -- the model card speaks of the contract it was trained on --------------------------------


def _card_for(contract_doc, behaviour, params):
    contract = parse_contract(contract_doc)
    meta = {
        "version": "v0001",
        "contract": contract.to_dict(),
        "features": contract.feature_names,
        "positive_label": contract.target.positive,
        "negative_label": contract.target.negative,
        "params": {
            "model": "logistic_regression",
            "regularization_C": 0.3,
            "calibration": "none",
            "seed": 1,
            "cv_folds": 3,
        },
        "libraries": {"python": "3"},
        "train_rows": 300,
        "data_sha256": "0" * 64,
        "cv": {"roc_auc_mean": 0.8, "roc_auc_std": 0.01},
        "created_at": "2026-01-01T00:00:00Z",
        "git_commit": "abc",
    }
    metrics = {**GOOD, "accuracy": 0.9, "threshold": 0.3, "tp": 1, "fp": 1, "tn": 1, "fn": 1}
    return render_card(meta, metrics, behaviour, gate(GOOD, params, behaviour), 100)


def test_model_card_for_another_contract_has_no_breast_cancer_wording(params):
    card = _card_for(SYNTHETIC_CONTRACT, [BehaviourResult("b", True, 0.0, 0.02, "")], params).lower()
    assert "synthetic adverse events" in card and "**event**" in card
    assert [w for w in BREAST_CANCER_WORDS if w in card] == []


def test_model_card_uses_the_contracts_decision_note(contract, params):
    card = _card_for(contract.to_dict(), [], params)
    assert contract.decision_note in card


def test_model_card_shows_a_test_that_could_not_measure(params):
    blind = BehaviourResult("direction: dose increasing", False, None, 0.001, "not measured: no observed value")
    card = _card_for(SYNTHETIC_CONTRACT, [blind], params)
    assert "| direction: dose increasing | not measured | - | 0.001 |" in card
    assert "not promoted" in card
