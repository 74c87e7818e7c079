"""The prediction mix of a window: how often the model says positive, and how sure it is.

Compared with the same figures on the evaluation's test set. A change in the mix says the
traffic or the model's view of it changed; it does not say whether the predictions are right
(only labels say that: modelship.monitoring.performance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelship.monitoring.stats import wilson_interval

HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class PredictionMix:
    n: int
    positive_share: float | None
    positive_share_ci: tuple[float, float] | None
    mean_probability: float | None
    # Counts of probabilities in HISTOGRAM_BINS equal bins over [0, 1].
    histogram: list[int]


def prediction_mix(probabilities: np.ndarray, threshold: float | np.ndarray) -> PredictionMix:
    """`threshold`: one for all, or one per case (a window may span a version switch)."""
    p = np.asarray(probabilities, dtype=np.float64)
    hist = np.histogram(p, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0].astype(int).tolist()
    if len(p) == 0:
        return PredictionMix(0, None, None, None, hist)
    positives = int(np.count_nonzero(p >= threshold))
    return PredictionMix(
        n=len(p),
        positive_share=positives / len(p),
        positive_share_ci=wilson_interval(positives, len(p)),
        mean_probability=float(p.mean()),
        histogram=hist,
    )


@dataclass(frozen=True)
class ReferenceMix:
    """The evaluation's test-set figures: predicted-positive share at the threshold, and the
    share of actual positives (the base rate the mix would show under a perfect model)."""

    n: int
    positive_share: float
    actual_positive_share: float


def reference_mix(metadata: dict[str, Any]) -> ReferenceMix | None:
    """From a registry version's metadata (its evaluation's confusion counts); None before an
    evaluation recorded them."""
    confusion = metadata.get("confusion") or {}
    try:
        tp, fp, tn, fn = (int(confusion[k]) for k in ("tp", "fp", "tn", "fn"))
    except (KeyError, TypeError, ValueError):
        return None
    n = tp + fp + tn + fn
    if n <= 0:
        return None
    return ReferenceMix(n=n, positive_share=(tp + fp) / n, actual_positive_share=(tp + fn) / n)
