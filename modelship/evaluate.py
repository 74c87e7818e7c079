"""Test-set metrics, threshold choice, behavioural tests and the promotion gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from .contract import Contract, Feature
from .params import Params


def _bounds(feat: Feature) -> tuple[float, float]:
    """The contract's valid range, open-ended where it sets none."""
    return (-np.inf if feat.min is None else feat.min, np.inf if feat.max is None else feat.max)


def choose_threshold(y_true: np.ndarray, proba: np.ndarray, target_recall: float) -> float:
    """The highest threshold whose recall on the positive class reaches the target.

    Chosen on out-of-fold training predictions, never on the test set, so the
    test metrics stay an honest estimate.
    """
    y_true = np.asarray(y_true)
    positives = np.sort(np.asarray(proba)[y_true == 1])[::-1]
    if len(positives) == 0:
        raise ValueError("cannot choose a threshold: no positive example")
    needed = int(np.ceil(target_recall * len(positives)))
    # predicting positive for proba >= t catches every positive at or above t
    return float(positives[max(needed, 1) - 1])


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (np.asarray(proba) >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, pred, labels=[0, 1]).ravel()
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "brier": float(brier_score_loss(y_true, proba)),
        "accuracy": float((tp + tn) / len(pred)),
        "threshold": float(threshold),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
    }


# the headline metrics as reports name them, in the order they show them
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "recall": "Recall (positive class)",
    "precision": "Precision",
    "f1": "F1",
    "brier": "Brier score (lower is better)",
    "accuracy": "Accuracy",
}


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """The headline metrics as a table: a DataFrame, whose HTML a report captions from the cell's `tbl-cap`."""
    rows = [key for key in METRIC_LABELS if key in metrics]
    return pd.DataFrame(
        {"value": [float(metrics[key]) for key in rows]}, index=pd.Index([METRIC_LABELS[k] for k in rows])
    )


def confusion_table(metrics: dict[str, Any], contract: Contract) -> pd.DataFrame:
    pos, neg = contract.target.positive, contract.target.negative
    return pd.DataFrame(
        [[metrics["tp"], metrics["fn"]], [metrics["fp"], metrics["tn"]]],
        index=pd.Index([f"actual {pos}", f"actual {neg}"]),
        columns=[f"predicted {pos}", f"predicted {neg}"],
    )


def calibration_table(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> pd.DataFrame:
    observed, predicted = calibration_curve(y_true, proba, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": predicted, "observed_share": observed})


# -- behavioural tests ---------------------------------------------------------


@dataclass(frozen=True)
class BehaviourResult:
    """One behavioural test. `measured` is None when the test could not measure anything,
    which counts as not passed: a test that saw nothing proves nothing."""

    name: str
    passed: bool
    measured: float | None
    limit: float
    detail: str

    def __post_init__(self) -> None:
        if self.measured is None and self.passed:
            raise ValueError(f"behaviour test {self.name!r}: a test that measured nothing cannot pass")

    @property
    def status(self) -> str:
        if self.measured is None:
            return "not measured"
        return "pass" if self.passed else "FAIL"


def _not_measured(name: str, limit: float, reason: str) -> BehaviourResult:
    return BehaviourResult(name, False, None, limit, f"not measured: {reason}")


def _observed(X: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Column j as floats, and the mask of its non-missing values."""
    col = X[:, j].astype(np.float64)
    return col, ~np.isnan(col)


def _spread(col: np.ndarray, seen: np.ndarray) -> float:
    """Standard deviation of the observed values; 0 when fewer than two are observed."""
    return float(np.std(col[seen])) if seen.sum() >= 2 else 0.0


def invariance_to_noise(
    model: Any, X: np.ndarray, contract: Contract, threshold: float, noise_scale: float, max_flip_rate: float, seed: int
) -> BehaviourResult:
    """Tiny measurement noise (a share of each feature's std) must rarely change a decision.

    Noise goes on observed values only: a missing value stays missing, and a
    column with no spread is left alone rather than blanked.
    """
    name = "invariance to measurement noise"
    rng = np.random.default_rng(seed)
    noisy = X.copy()
    touched = np.zeros(len(X), dtype=bool)
    skipped = []
    for j, feat in enumerate(contract.features):
        if not feat.is_numeric:
            continue
        col, seen = _observed(X, j)
        spread = _spread(col, seen)
        jitter = rng.normal(0.0, spread * noise_scale, len(col))  # drawn even when unused: same stream
        if spread == 0.0:
            skipped.append(feat.name)
            continue
        noisy[:, j] = np.where(seen, np.clip(col + jitter, *_bounds(feat)), col)
        touched |= seen
    n = int(touched.sum())
    if n == 0:
        return _not_measured(
            name,
            max_flip_rate,
            f"no numeric feature has two or more observed values among {len(X)} cases, so no noise could be added",
        )
    before = model.predict_proba(X[touched])[:, 1] >= threshold
    after = model.predict_proba(noisy[touched])[:, 1] >= threshold
    flips = float(np.mean(before != after))
    note = f"; left unchanged (no spread): {', '.join(skipped)}" if skipped else ""
    return BehaviourResult(
        name,
        flips <= max_flip_rate,
        flips,
        max_flip_rate,
        f"{int(np.sum(before != after))} of {n} decisions changed under noise of "
        f"{noise_scale:.1%} of each feature's standard deviation{note}",
    )


def _direction(
    model: Any, X: np.ndarray, j: int, feat: Feature, contract: Contract, tolerance: float, steps: int
) -> BehaviourResult:
    name = f"direction: {feat.name} {feat.monotonic}"
    col, seen = _observed(X, j)
    span = _spread(col, seen) * 2
    if span == 0.0:
        why = "it has no observed value" if not seen.any() else "its observed values do not vary"
        return _not_measured(name, tolerance, f"{feat.name} cannot be moved by its spread: {why} among {len(X)} cases")
    rows = X[seen]
    sign = 1.0 if feat.monotonic == "increasing" else -1.0
    probs = []
    for k in range(steps):
        shifted = rows.copy()
        shifted[:, j] = np.clip(col[seen] + sign * span * k / (steps - 1), *_bounds(feat))
        probs.append(model.predict_proba(shifted)[:, 1])
    worst_drop = float(np.max(np.maximum(0.0, -np.diff(np.vstack(probs), axis=0))))
    return BehaviourResult(
        name,
        worst_drop <= tolerance,
        worst_drop,
        tolerance,
        f"largest drop in probability of {contract.target.positive!r} over {len(rows)} of {len(X)} cases "
        f"(those with {feat.name} observed) when {feat.name} moves by up to 2 std in its "
        f"{feat.monotonic} direction: {worst_drop:.4f}",
    )


def monotonic_direction(
    model: Any, X: np.ndarray, contract: Contract, tolerance: float, steps: int = 5
) -> list[BehaviourResult]:
    """Raising a feature the contract marks `increasing` must not lower the positive probability."""
    return [
        _direction(model, X, j, feat, contract, tolerance, steps)
        for j, feat in enumerate(contract.features)
        if feat.monotonic and feat.is_numeric
    ]


def behaviour_table(results: list[BehaviourResult]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"test": r.name, "status": r.status, "measured": r.measured, "limit": r.limit, "detail": r.detail}
            for r in results
        ]
    )


# -- the gate ------------------------------------------------------------------


@dataclass
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = "PROMOTE" if self.promote else "KEEP PRODUCTION UNCHANGED"
        return head + "\n" + "\n".join(f"- {r}" for r in self.reasons)


_COMPARED = ("roc_auc", "recall")  # higher is better; compared with production


def _behaviour_reasons(behaviour: list[BehaviourResult]) -> tuple[bool, list[str]]:
    reasons = []
    for r in behaviour:
        if r.status == "not measured":
            reasons.append(f"behaviour test not measured, counted as failed: {r.name} ({r.detail})")
        elif not r.passed:
            reasons.append(f"behaviour test failed: {r.name} ({r.detail})")
    ok = all(r.passed for r in behaviour)
    if behaviour and ok:
        reasons.append(f"all {len(behaviour)} behaviour tests passed")
    return ok, reasons


def gate(
    candidate: dict[str, float],
    params: Params,
    behaviour: list[BehaviourResult],
    production: dict[str, float] | None = None,
    production_version: str | None = None,
) -> GateDecision:
    """Promote only when every minimum holds, behaviour tests pass, and nothing regressed."""
    ok, reasons = True, []
    minima = {
        "roc_auc": params.gate_min_roc_auc,
        "recall": params.gate_min_recall,
        "precision": params.gate_min_precision,
    }
    for metric, minimum in minima.items():
        passed = candidate[metric] >= minimum
        ok &= passed
        reasons.append(f"{metric} {candidate[metric]:.4f} {'>=' if passed else '<'} minimum {minimum}")
    passed = candidate["brier"] <= params.gate_max_brier
    ok &= passed
    reasons.append(f"brier {candidate['brier']:.4f} {'<=' if passed else '>'} maximum {params.gate_max_brier}")
    behaved, behaviour_reasons = _behaviour_reasons(behaviour)
    ok &= behaved
    reasons += behaviour_reasons
    if production is None:
        reasons.append("no production model yet: nothing to compare with")
    else:
        tol = params.gate_max_regression
        for metric in _COMPARED:
            drop = production[metric] - candidate[metric]
            passed = drop <= tol
            ok &= passed
            reasons.append(
                f"{metric} vs production {production_version}: {candidate[metric]:.4f} vs "
                f"{production[metric]:.4f} ({'within' if passed else 'regression beyond'} "
                f"tolerance {tol})"
            )
    return GateDecision(promote=bool(ok), reasons=reasons)
