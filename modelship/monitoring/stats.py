"""Small statistics the monitoring metrics share: a binomial interval and a multiple-test correction."""

from __future__ import annotations

import math

import numpy as np

# The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion.

    Unlike the normal approximation it stays inside [0, 1] and keeps its coverage near 0 and 1,
    where recall usually sits, and for the small counts of the first labels."""
    if trials <= 0:
        raise ValueError("a confidence interval needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in [0, {trials}], not {successes}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # At 0 and at `trials` successes the bounds are exactly 0 and 1; the formula gives them
    # only up to rounding, which would put the observed share outside its own interval.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input's order.

    Calling a test significant when its q-value is below alpha keeps the expected share of
    false discoveries among the significant ones at most alpha (for independent or positively
    dependent tests, as the features of one case are)."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p-values must be a one-dimensional array")
    if np.any((p < 0) | (p > 1) | np.isnan(p)):
        raise ValueError("p-values must lie in [0, 1]")
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    # Each q-value is the smallest scaled p-value at or above its rank.
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q
