"""Data quality, prediction mix and performance (live from labels, estimated before them) (C11.1, C11.6).

Each figure is checked against an independent computation (scikit-learn's metrics, a direct
count) on generated inputs, and on the real WDBC data with a model fitted on its training part.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import accuracy_score, precision_score, recall_score

from modelship import profiling
from modelship.features import target, to_matrix
from modelship.monitoring.mix import HISTOGRAM_BINS, prediction_mix, reference_mix
from modelship.monitoring.performance import (
    MEASURED,
    NOT_ENOUGH_LABELS,
    estimated_performance,
    live_performance,
)
from modelship.monitoring.quality import OTHER_FIELD, Rejection, field_key, out_of_range, summarise_rejections

pytestmark = [
    pytest.mark.requirement("C11.1", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring: data quality, prediction mix, performance (modelship.monitoring)",
        scope="unit",
        strategy="property-based, behavioural, example-based",
        tool="pytest, hypothesis, scikit-learn",
    ),
]

FEATURES = frozenset({"mean_radius", "worst_area"})


@pytest.mark.parametrize(
    "name, key",
    [
        ("records.3.mean_radius", "records.mean_radius"),
        ("records.0.worst_area", "records.worst_area"),
        ("records.0.not_a_feature", OTHER_FIELD),
        ("records", OTHER_FIELD),
        ("0", OTHER_FIELD),
    ],
)
def test_field_keys_drop_indexes_and_unknown_names(name, key):
    assert field_key(name, FEATURES) == key


def test_rejections_are_counted_by_reason_and_by_field():
    rejections = [
        Rejection(0.0, "/v1/predict", 422, "validation-error", ("records.mean_radius", "records.worst_area")),
        Rejection(0.0, "/v1/predict", 422, "validation-error", ("records.mean_radius",)),
        Rejection(0.0, "/v1/predict", 401, "unauthorized"),
    ]
    summary = summarise_rejections(rejections)
    assert summary.total == 3
    assert summary.by_reason == {(422, "validation-error"): 2, (401, "unauthorized"): 1}
    assert summary.by_field == {"records.mean_radius": 2, "records.worst_area": 1}


def test_values_outside_the_training_range_are_counted(wdbc_split):
    ranges = profiling.observed_ranges(wdbc_split.reference, wdbc_split.features)
    assert set(ranges) == set(wdbc_split.features)
    low, high = ranges["mean_radius"]
    assert (low, high) == (wdbc_split.train.mean_radius.min(), wdbc_split.train.mean_radius.max())
    rows = wdbc_split.test[wdbc_split.features].to_numpy(dtype=float).copy()
    j = wdbc_split.features.index("mean_radius")
    rows[:, j] = np.clip(rows[:, j], low, high)  # the bounds themselves are inside
    assert out_of_range(rows, wdbc_split.features, ranges)["mean_radius"] == 0
    rows[:5, j] = high * 1.5
    rows[5, j] = low - 0.01
    assert out_of_range(rows, wdbc_split.features, ranges)["mean_radius"] == 6


def test_out_of_range_needs_one_column_per_name():
    with pytest.raises(ValueError):
        out_of_range(np.zeros((3, 2)), ["a"], {"a": (0.0, 1.0)})


probabilities = arrays(np.float64, st.integers(0, 300), elements=st.floats(0.0, 1.0))


@given(probabilities, st.floats(0.01, 0.99))
def test_the_mix_counts_every_case_once(p, threshold):
    mix = prediction_mix(p, threshold)
    assert mix.n == len(p) and sum(mix.histogram) == len(p) and len(mix.histogram) == HISTOGRAM_BINS
    if len(p):
        assert mix.positive_share == pytest.approx(np.mean(p >= threshold))
        assert mix.positive_share_ci[0] <= mix.positive_share <= mix.positive_share_ci[1]
        assert mix.mean_probability == pytest.approx(p.mean())
    else:
        assert mix.positive_share is None and mix.mean_probability is None


def test_the_reference_mix_comes_from_the_evaluations_confusion_counts():
    ref = reference_mix({"confusion": {"tp": 40, "fp": 6, "tn": 66, "fn": 2}})
    assert ref is not None and ref.n == 114
    assert ref.positive_share == pytest.approx(46 / 114) and ref.actual_positive_share == pytest.approx(42 / 114)
    assert reference_mix({}) is None and reference_mix({"confusion": {"tp": 0, "fp": 0, "tn": 0, "fn": 0}}) is None


labels = st.integers(1, 400).flatmap(
    lambda n: st.tuples(arrays(np.bool_, n, elements=st.booleans()), arrays(np.bool_, n, elements=st.booleans()))
)


@given(labels)
@settings(max_examples=200)
def test_live_performance_is_scikit_learns(case):
    actual, predicted = case
    live = live_performance(actual, predicted, min_labels=1)
    assert live.status == MEASURED and live.n == len(actual)
    assert live.accuracy.value == pytest.approx(accuracy_score(actual, predicted))
    if actual.any():
        assert live.recall.value == pytest.approx(recall_score(actual, predicted))
        assert live.recall.low <= live.recall.value <= live.recall.high
        assert live.recall.n == actual.sum()
    else:
        assert live.recall.value is None and live.recall.n == 0
    if predicted.any():
        assert live.precision.value == pytest.approx(precision_score(actual, predicted))


def test_under_the_minimum_there_is_no_figure():
    live = live_performance(np.ones(29, bool), np.ones(29, bool), min_labels=30)
    assert live.status == NOT_ENOUGH_LABELS and live.n == 29 and live.recall is None
    assert live_performance(np.ones(30, bool), np.ones(30, bool), min_labels=30).status == MEASURED


def test_bad_label_arrays_are_refused():
    with pytest.raises(ValueError):
        live_performance(np.ones(3, bool), np.ones(4, bool), min_labels=1)
    with pytest.raises(ValueError):
        live_performance(np.ones(3, bool), np.ones(3, bool), min_labels=0)


@given(probabilities, st.floats(0.01, 0.99))
def test_the_expected_confusion_matrix_adds_up(p, threshold):
    est = estimated_performance(p, threshold)
    assert est.tp + est.fp + est.fn + est.tn == pytest.approx(len(p))
    assert est.tp + est.fp == pytest.approx(np.sum(p >= threshold))
    for value in (est.recall, est.precision, est.accuracy):
        assert value is None or 0.0 <= value <= 1.0 + 1e-12


def test_estimated_recall_matches_the_realised_one_when_calibration_holds():
    # Labels drawn from the probabilities themselves: calibration holds by construction.
    gen = np.random.default_rng(3)
    p = gen.beta(0.6, 0.9, size=20_000)
    actual = gen.uniform(size=p.size) < p
    est = estimated_performance(p, 0.3)
    live = live_performance(actual, p >= 0.3, min_labels=30)
    assert live.recall.low <= est.recall <= live.recall.high
    assert live.precision.low <= est.precision <= live.precision.high


def test_on_wdbc_the_estimate_is_close_to_the_test_sets_realised_figures(wdbc_split, contract):
    X, y = to_matrix(wdbc_split.test, contract), target(wdbc_split.test, contract).astype(bool)
    p = wdbc_split.model.predict_proba(X)[:, 1]
    est = estimated_performance(p, 0.3)
    live = live_performance(y, p >= 0.3, min_labels=30)
    assert live.recall.low <= est.recall <= live.recall.high
    assert live.accuracy.low <= est.accuracy <= live.accuracy.high


def test_the_estimate_cannot_see_concept_drift(wdbc_split, contract):
    # Same cases, labels flipped: what the features mean changed. The estimate does not move.
    X, y = to_matrix(wdbc_split.test, contract), target(wdbc_split.test, contract).astype(bool)
    p = wdbc_split.model.predict_proba(X)[:, 1]
    live = live_performance(~y, p >= 0.3, min_labels=30)
    est = estimated_performance(p, 0.3)
    assert live.recall.high < 0.2 < est.recall


def test_probabilities_outside_0_1_are_refused():
    with pytest.raises(ValueError):
        estimated_performance(np.array([0.2, 1.2]), 0.5)
