"""Drift per feature against the training reference, and an alert that normal traffic does not fire (C11.1, C11.6).

Behavioural, on the real WDBC data: windows of held-out rows (cases the model never saw, from
the same population) must not be called drift; the same rows with a few features shifted must.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelship import profiling
from modelship.monitoring.drift import DRIFT, NO_DRIFT, NOT_ENOUGH_DATA, DriftPolicy, assess_drift
from modelship.profiling import ColumnDrift
from tests.monitoring.conftest import shifted

pytestmark = [
    pytest.mark.requirement("C11.1", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring: drift (modelship.monitoring.drift)",
        scope="unit",
        strategy="behavioural, property-based, example-based",
        tool="pytest, hypothesis, whylogs",
    ),
]

POLICY = DriftPolicy()


def window_report(frame, wdbc_split, policy=POLICY):
    view = profiling.profile(frame[wdbc_split.features])
    scores = profiling.drift_scores(view, wdbc_split.reference, wdbc_split.features)
    return assess_drift(scores, len(frame), policy)


def test_every_feature_is_tested_ks_for_numeric(wdbc_split):
    report = window_report(wdbc_split.test, wdbc_split)
    assert sorted(f.feature for f in report.features) == sorted(wdbc_split.features)
    assert {f.algorithm for f in report.features} == {"ks"}
    assert all(0 <= f.p_value <= f.adjusted_p_value <= 1 for f in report.features)


def test_the_held_out_set_is_not_drift(wdbc_split):
    report = window_report(wdbc_split.test, wdbc_split)
    assert report.verdict == NO_DRIFT and report.n_drifted == 0


@pytest.mark.parametrize("size", [50, 100])
def test_normal_windows_of_held_out_rows_do_not_fire(wdbc_split, size):
    verdicts = [window_report(wdbc_split.test.sample(n=size, random_state=k), wdbc_split).verdict for k in range(40)]
    assert verdicts.count(DRIFT) == 0


def test_without_the_correction_normal_windows_would_fire(wdbc_split):
    # The design's reason: thirty uncorrected tests at 5% flag some feature in many normal windows.
    flagged = 0
    for k in range(40):
        view = profiling.profile(wdbc_split.test.sample(n=50, random_state=k)[wdbc_split.features])
        scores = profiling.drift_scores(view, wdbc_split.reference, wdbc_split.features)
        flagged += min(s.p_value for s in scores.values()) < 0.05
    assert flagged >= 8


@pytest.mark.parametrize("size", [50, 100])
def test_windows_with_shifted_features_are_drift(wdbc_split, size):
    scale = wdbc_split.train[wdbc_split.features].std()
    moved = ["mean_radius", "mean_texture", "mean_concavity", "worst_area"]
    hits = 0
    for k in range(20):
        window = shifted(wdbc_split.test.sample(n=size, random_state=k), moved, 0.75, scale)
        report = window_report(window, wdbc_split)
        hits += report.verdict == DRIFT
        assert set(report.drifted) <= set(moved) | {"mean_perimeter", "mean_area", "worst_radius", "worst_perimeter"}
    assert hits == 20


def test_a_rescaled_feature_is_found_by_name(wdbc_split):
    window = wdbc_split.test.copy()
    for name in ("mean_smoothness", "worst_symmetry"):
        window[name] = window[name] * 1.3
    report = window_report(window, wdbc_split)
    assert report.verdict == DRIFT and set(report.drifted) == {"mean_smoothness", "worst_symmetry"}


def test_a_small_window_is_not_judged(wdbc_split):
    scale = wdbc_split.train[wdbc_split.features].std()
    window = shifted(wdbc_split.test.head(20), wdbc_split.features, 2.0, scale)
    report = window_report(window, wdbc_split)
    assert report.verdict == NOT_ENOUGH_DATA and report.features == []


def test_no_scores_is_not_enough_data():
    assert assess_drift({}, 1000, POLICY).verdict == NOT_ENOUGH_DATA


def score(p, statistic=0.5, algorithm="ks"):
    return ColumnDrift(algorithm, statistic, p)


def test_a_tiny_shift_in_a_huge_window_is_not_drift():
    scores = {f"f{i}": score(1e-9, statistic=0.05) for i in range(5)}
    assert assess_drift(scores, 100_000, POLICY).verdict == NO_DRIFT
    scores = {f"f{i}": score(1e-9, statistic=0.05, algorithm="chi-square") for i in range(5)}
    assert assess_drift(scores, 100_000, POLICY).n_drifted == 5


def test_one_drifted_feature_is_below_the_default_count():
    scores = {"a": score(1e-9)} | {f"f{i}": score(0.5) for i in range(29)}
    report = assess_drift(scores, 500, POLICY)
    assert report.drifted == ["a"] and report.verdict == NO_DRIFT
    assert assess_drift(scores, 500, DriftPolicy(min_drifted_features=1)).verdict == DRIFT


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40), st.integers(1, 5))
@settings(max_examples=200)
def test_the_verdict_follows_the_count_of_drifted_features(ps, k):
    policy = DriftPolicy(min_drifted_features=k)
    report = assess_drift({f"f{i}": score(p) for i, p in enumerate(ps)}, 1000, policy)
    assert report.verdict == (DRIFT if report.n_drifted >= k else NO_DRIFT)
    # A drifted feature is significant after correction; raising every p-value can only remove drift.
    assert all(f.adjusted_p_value < policy.alpha for f in report.features if f.drifted)
    worse = assess_drift({f"f{i}": score(min(1.0, p * 2)) for i, p in enumerate(ps)}, 1000, policy)
    assert worse.n_drifted <= report.n_drifted


@pytest.mark.parametrize(
    "fields", [{"alpha": 0}, {"alpha": 1}, {"min_rows": 0}, {"min_drifted_features": 0}, {"min_statistic": 2}]
)
def test_a_bad_policy_is_refused(fields):
    with pytest.raises(ValueError):
        DriftPolicy(**fields)


def test_the_held_out_features_look_like_the_training_ones(wdbc_split):
    # Sanity of the data itself: the split keeps train and test alike (the data checks' gate).
    view = profiling.profile(wdbc_split.test[wdbc_split.features])
    scores = profiling.drift_scores(view, wdbc_split.reference, wdbc_split.features)
    assert np.median([s.p_value for s in scores.values()]) > 0.2
