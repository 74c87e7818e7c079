"""Performance of the served model: realised from feedback labels, and estimated before them.

Realised: recall and precision for the positive class and accuracy, each with its 95% Wilson
interval and the count it rests on; under `min_labels` labelled cases the state is "not
enough labels yet" and no figure is given as if it meant something.

Estimated (confidence-based, the idea of NannyML's CBPE): if the model is calibrated, a case
scored p is positive with probability p, so over a window the expected confusion matrix at the
threshold t is
    E[TP] = Σ p over cases with p ≥ t      E[FP] = Σ (1 - p) over cases with p ≥ t
    E[FN] = Σ p over cases with p < t      E[TN] = Σ (1 - p) over cases with p < t
and expected recall is E[TP] / (E[TP] + E[FN]). ASSUMPTION states when that holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelship.monitoring.stats import wilson_interval

NOT_ENOUGH_LABELS = "not enough labels yet"
MEASURED = "measured"
ASSUMPTION = (
    "assumes the probabilities are calibrated on the traffic served, i.e. that the relation "
    "between the features and the diagnosis is the one the model learnt; it sees a change in "
    "which cases arrive (covariate shift), never a change in what the features mean for the "
    "diagnosis (concept drift): only labels show that"
)


@dataclass(frozen=True)
class Rate:
    value: float | None  # None when its denominator is 0
    low: float | None
    high: float | None
    n: int  # the denominator: actual positives for recall, predicted positives for precision


def _rate(successes: int, trials: int) -> Rate:
    if trials == 0:
        return Rate(None, None, None, 0)
    low, high = wilson_interval(successes, trials)
    return Rate(successes / trials, low, high, trials)


@dataclass(frozen=True)
class LivePerformance:
    status: str
    n: int
    min_labels: int
    recall: Rate | None = None
    precision: Rate | None = None
    accuracy: Rate | None = None


def live_performance(actual: np.ndarray, predicted: np.ndarray, min_labels: int) -> LivePerformance:
    """From labelled cases: `actual` (True for positive, from feedback) against `predicted`
    (True for a positive label at the served threshold)."""
    a = np.asarray(actual, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    if a.shape != p.shape or a.ndim != 1:
        raise ValueError("actual and predicted must be one-dimensional and of the same length")
    if min_labels < 1:
        raise ValueError("min_labels must be at least 1")
    n = len(a)
    if n < min_labels:
        return LivePerformance(NOT_ENOUGH_LABELS, n, min_labels)
    tp = int(np.count_nonzero(a & p))
    return LivePerformance(
        status=MEASURED,
        n=n,
        min_labels=min_labels,
        recall=_rate(tp, int(np.count_nonzero(a))),
        precision=_rate(tp, int(np.count_nonzero(p))),
        accuracy=_rate(int(np.count_nonzero(a == p)), n),
    )


@dataclass(frozen=True)
class EstimatedPerformance:
    n: int
    tp: float
    fp: float
    fn: float
    tn: float
    recall: float | None
    precision: float | None
    accuracy: float | None
    assumption: str = ASSUMPTION


def estimated_performance(probabilities: np.ndarray, threshold: float | np.ndarray) -> EstimatedPerformance:
    """The expected confusion matrix of the window's cases at `threshold` (one for all, or one
    per case), from their probabilities."""
    p = np.asarray(probabilities, dtype=np.float64)
    if np.any((p < 0) | (p > 1) | np.isnan(p)):
        raise ValueError("probabilities must lie in [0, 1]")
    flagged = p >= threshold
    tp, fp = float(p[flagged].sum()), float((1 - p[flagged]).sum())
    fn, tn = float(p[~flagged].sum()), float((1 - p[~flagged]).sum())
    n = len(p)
    return EstimatedPerformance(
        n=n,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        recall=tp / (tp + fn) if tp + fn > 0 else None,
        precision=tp / (tp + fp) if tp + fp > 0 else None,
        accuracy=(tp + tn) / n if n else None,
    )
