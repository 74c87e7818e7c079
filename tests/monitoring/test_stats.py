"""The statistics under the monitoring metrics: the Wilson interval and Benjamini–Hochberg (C11.1, C11.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest, false_discovery_control

from modelship.monitoring.stats import benjamini_hochberg, wilson_interval

pytestmark = [
    pytest.mark.requirement("C11.1", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring: statistics (modelship.monitoring.stats)",
        scope="unit",
        strategy="property-based, example-based",
        tool="pytest, hypothesis",
    ),
]

counts = st.integers(min_value=1, max_value=5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(counts)
def test_the_wilson_interval_holds_the_observed_share_and_stays_in_0_1(case):
    k, n = case
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(counts)
def test_the_wilson_interval_is_scipys(case):
    k, n = case
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_more_labels_give_a_narrower_interval():
    widths = [np.subtract(*wilson_interval(9 * m, 10 * m)[::-1]) for m in (1, 10, 100)]
    assert widths[0] > widths[1] > widths[2] > 0


@pytest.mark.parametrize("k, n", [(0, 0), (-1, 5), (6, 5)])
def test_an_impossible_count_is_refused(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


p_values = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=60).map(np.array)


@given(p_values)
def test_benjamini_hochberg_is_scipys(p):
    assert benjamini_hochberg(p) == pytest.approx(false_discovery_control(p, method="bh"), abs=1e-12)


@given(p_values)
def test_adjusted_p_values_are_never_smaller_and_keep_the_order(p):
    q = benjamini_hochberg(p)
    assert np.all(q >= p - 1e-15) and np.all(q <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q[order]) >= -1e-15)


def test_thirty_uniform_p_values_rarely_give_a_discovery():
    # Under the null, p-values are uniform: uncorrected, some p < 0.01 in about a quarter of
    # windows of 30 tests; corrected, a discovery in at most about alpha of them.
    rng = np.random.default_rng(7)
    windows = rng.uniform(size=(2000, 30))
    raw = np.mean(windows.min(axis=1) < 0.01)
    corrected = np.mean([benjamini_hochberg(w).min() < 0.01 for w in windows])
    assert raw > 0.2
    assert corrected <= 0.015


def test_bad_p_values_are_refused():
    with pytest.raises(ValueError):
        benjamini_hochberg(np.array([0.5, 1.5]))
    with pytest.raises(ValueError):
        benjamini_hochberg(np.array([[0.5]]))
    assert benjamini_hochberg(np.array([])).size == 0
