"""Drift per feature of a window of traffic against the training data's reference profile.

whylogs tests each feature (modelship.profiling.drift_scores: KS for numeric, chi-square for
categorical). Thirty tests a window would, at p < 0.05 each, flag some feature in most normal
windows by chance alone; so a feature counts as drifted only when

- its Benjamini–Hochberg adjusted p-value is below `alpha` (the false discovery rate across
  the window's tests), and
- for KS, its statistic (the largest gap between the two distribution functions) reaches
  `min_statistic`: in a large window KS finds shifts too small to matter (significance is
  not size); chi-square's statistic has no such fixed scale and is not bounded this way;

and the window is judged at all only once it holds `min_rows` rows. The window's verdict is
"drift" when at least `min_drifted_features` features drifted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modelship.monitoring.stats import benjamini_hochberg
from modelship.profiling import ColumnDrift

NOT_ENOUGH_DATA = "not enough data"
NO_DRIFT = "no drift"
DRIFT = "drift"
NO_REFERENCE = "no reference"


@dataclass(frozen=True)
class DriftPolicy:
    alpha: float = 0.01
    min_rows: int = 50
    min_statistic: float = 0.1
    min_drifted_features: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must lie in (0, 1)")
        if self.min_rows < 1 or self.min_drifted_features < 1:
            raise ValueError("min_rows and min_drifted_features must be at least 1")
        if not 0 <= self.min_statistic <= 1:
            raise ValueError("min_statistic must lie in [0, 1]")


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    algorithm: str
    statistic: float
    p_value: float
    adjusted_p_value: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    verdict: str
    rows: int
    features: list[FeatureDrift] = field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def n_drifted(self) -> int:
        return len(self.drifted)


def _large_enough(score: ColumnDrift, min_statistic: float) -> bool:
    return score.algorithm != "ks" or score.statistic >= min_statistic


def assess_drift(scores: dict[str, ColumnDrift], rows: int, policy: DriftPolicy) -> DriftReport:
    """The window's verdict from its per-feature tests (`scores`) over `rows` rows."""
    if rows < policy.min_rows or not scores:
        return DriftReport(NOT_ENOUGH_DATA, rows)
    names = sorted(scores)
    adjusted = benjamini_hochberg(np.array([scores[n].p_value for n in names]))
    features = [
        FeatureDrift(
            feature=n,
            algorithm=scores[n].algorithm,
            statistic=scores[n].statistic,
            p_value=scores[n].p_value,
            adjusted_p_value=float(q),
            drifted=bool(q < policy.alpha and _large_enough(scores[n], policy.min_statistic)),
        )
        for n, q in zip(names, adjusted, strict=True)
    ]
    n_drifted = sum(f.drifted for f in features)
    verdict = DRIFT if n_drifted >= policy.min_drifted_features else NO_DRIFT
    return DriftReport(verdict, rows, features)
