"""Figures for the reports. Each comes with a one-line text alternative."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

# colour-blind-safe pair (blue / orange) with distinct markers, so no meaning rests on colour alone
_BLUE, _ORANGE = "#0072B2", "#D55E00"


def calibration_figure(table: pd.DataFrame, brier: float) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(table.mean_predicted, table.observed_share, marker="o", color=_BLUE, label="model")
    ax.set(xlabel="Mean predicted probability", ylabel="Observed share of positives",
           title=f"Calibration (Brier score {brier:.3f})", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def roc_figure(y_true: np.ndarray, proba: np.ndarray, auc: float, threshold: float) -> Figure:
    fpr, tpr, thr = roc_curve(y_true, proba)
    at = int(np.argmin(np.abs(thr - threshold)))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.plot(fpr, tpr, color=_BLUE, label=f"model (AUC {auc:.3f})")
    ax.plot(fpr[at], tpr[at], marker="s", markersize=9, color=_ORANGE, linestyle="none",
            label=f"decision threshold {threshold:.3f}")
    ax.set(xlabel="False positive rate", ylabel="True positive rate (recall)", title="ROC curve",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def probability_figure(y_true: np.ndarray, proba: np.ndarray, threshold: float,
                       positive: str, negative: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 21).tolist()
    ax.hist(proba[y_true == 0], bins=bins, color=_BLUE, alpha=0.7, label=f"actual {negative}")
    ax.hist(proba[y_true == 1], bins=bins, color=_ORANGE, alpha=0.7, hatch="//", label=f"actual {positive}")
    ax.axvline(threshold, color="black", linestyle=":", label=f"threshold {threshold:.3f}")
    ax.set(xlabel=f"Predicted probability of {positive}", ylabel="Cases", title="Predicted probabilities")
    ax.legend()
    fig.tight_layout()
    return fig
