"""Test-set metrics, threshold choice, behavioural tests and the promotion gate."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (brier_score_loss, confusion_matrix, f1_score, precision_score, recall_score,
                             roc_auc_score)

from .contract import Contract, Feature


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
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
    }


def confusion_table(metrics: dict[str, Any], contract: Contract) -> pd.DataFrame:
    pos, neg = contract.target.positive, contract.target.negative
    return pd.DataFrame([[metrics["tp"], metrics["fn"]], [metrics["fp"], metrics["tn"]]],
                        index=pd.Index([f"actual {pos}", f"actual {neg}"]),
                        columns=[f"predicted {pos}", f"predicted {neg}"])


def calibration_table(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> pd.DataFrame:
    observed, predicted = calibration_curve(y_true, proba, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": predicted, "observed_share": observed})


# -- behavioural tests ---------------------------------------------------------

@dataclass(frozen=True)
class BehaviourResult:
    name: str
    passed: bool
    measured: float
    limit: float
    detail: str


def invariance_to_noise(model: Any, X: np.ndarray, contract: Contract, threshold: float,
                        noise_scale: float, max_flip_rate: float, seed: int) -> BehaviourResult:
    """Tiny measurement noise (a share of each feature's std) must rarely change a decision."""
    rng = np.random.default_rng(seed)
    noisy = X.copy()
    for j, feat in enumerate(contract.features):
        if not feat.is_numeric:
            continue
        col = X[:, j].astype(np.float64)
        jitter = rng.normal(0.0, col.std() * noise_scale, len(col))
        noisy[:, j] = np.clip(col + jitter, *_bounds(feat))
    before = model.predict_proba(X)[:, 1] >= threshold
    after = model.predict_proba(noisy)[:, 1] >= threshold
    flips = float(np.mean(before != after))
    return BehaviourResult("invariance to measurement noise", flips <= max_flip_rate, flips, max_flip_rate,
                           f"{int(np.sum(before != after))} of {len(X)} decisions changed under noise of "
                           f"{noise_scale:.1%} of each feature's standard deviation")


def monotonic_direction(model: Any, X: np.ndarray, contract: Contract, tolerance: float,
                        steps: int = 5) -> list[BehaviourResult]:
    """Raising a feature the contract marks `increasing` must not lower the positive probability."""
    results = []
    for j, feat in enumerate(contract.features):
        if not feat.monotonic or not feat.is_numeric:
            continue
        sign = 1.0 if feat.monotonic == "increasing" else -1.0
        col = X[:, j].astype(np.float64)
        span = col.std() * 2
        probs = []
        for k in range(steps):
            shifted = X.copy()
            value = col + sign * span * k / (steps - 1)
            shifted[:, j] = np.clip(value, *_bounds(feat))
            probs.append(model.predict_proba(shifted)[:, 1])
        worst_drop = float(np.max(np.maximum(0.0, -np.diff(np.vstack(probs), axis=0))))
        results.append(BehaviourResult(
            f"direction: {feat.name} {feat.monotonic}", worst_drop <= tolerance, worst_drop, tolerance,
            f"largest drop in probability of {contract.target.positive!r} over {len(X)} cases when "
            f"{feat.name} moves by up to 2 std in its {feat.monotonic} direction: {worst_drop:.4f}"))
    return results


def behaviour_table(results: list[BehaviourResult]) -> pd.DataFrame:
    return pd.DataFrame([{"test": r.name, "status": "pass" if r.passed else "FAIL", "measured": r.measured,
                          "limit": r.limit, "detail": r.detail} for r in results])


# -- the gate ------------------------------------------------------------------

@dataclass
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = "PROMOTE" if self.promote else "KEEP PRODUCTION UNCHANGED"
        return head + "\n" + "\n".join(f"- {r}" for r in self.reasons)


_MINIMA = (("roc_auc", "gate_min_roc_auc"), ("recall", "gate_min_recall"),
           ("precision", "gate_min_precision"))
_COMPARED = ("roc_auc", "recall")  # higher is better; compared with production


def gate(candidate: dict[str, float], params: dict[str, Any], behaviour: list[BehaviourResult],
         production: dict[str, float] | None = None, production_version: str | None = None) -> GateDecision:
    """Promote only when every minimum holds, behaviour tests pass, and nothing regressed."""
    ok, reasons = True, []
    for metric, key in _MINIMA:
        passed = candidate[metric] >= params[key]
        ok &= passed
        reasons.append(f"{metric} {candidate[metric]:.4f} {'>=' if passed else '<'} minimum {params[key]}")
    passed = candidate["brier"] <= params["gate_max_brier"]
    ok &= passed
    reasons.append(f"brier {candidate['brier']:.4f} {'<=' if passed else '>'} maximum {params['gate_max_brier']}")
    for r in behaviour:
        ok &= r.passed
        if not r.passed:
            reasons.append(f"behaviour test failed: {r.name} ({r.detail})")
    if behaviour and all(r.passed for r in behaviour):
        reasons.append(f"all {len(behaviour)} behaviour tests passed")
    if production is None:
        reasons.append("no production model yet: nothing to compare with")
    else:
        tol = params["gate_max_regression"]
        for metric in _COMPARED:
            drop = production[metric] - candidate[metric]
            passed = drop <= tol
            ok &= passed
            reasons.append(f"{metric} vs production {production_version}: {candidate[metric]:.4f} vs "
                           f"{production[metric]:.4f} ({'within' if passed else 'regression beyond'} "
                           f"tolerance {tol})")
    return GateDecision(promote=bool(ok), reasons=reasons)
