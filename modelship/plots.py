"""Figures for the reports, each with a text alternative computed from the data it plots.

A report shows a figure as a `Chart`: the picture, its id and caption, and an alt text that
states the numbers, class names and shape of what is drawn, so a reader who cannot see the
picture learns what it shows for this run and this dataset, not for a typical one.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

# colour-blind-safe pair (blue / orange) with distinct markers, so no meaning rests on colour alone
_BLUE, _ORANGE = "#0072B2", "#D55E00"
# the histogram's bins, shared by the figure and its description so both count the same cases
_BINS = np.linspace(0, 1, 21)
# a calibration point this close to the diagonal is described as on it
_NEAR = 0.05
# false positive rates at which the ROC description reads the curve
_ROC_READINGS = (0.05, 0.2)


# -- figures --------------------------------------------------------------------


def calibration_figure(table: pd.DataFrame, brier: float) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(table.mean_predicted, table.observed_share, marker="o", color=_BLUE, label="model")
    ax.set(
        xlabel="Mean predicted probability",
        ylabel="Observed share of positives",
        title=f"Calibration (Brier score {brier:.3f})",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def operating_point(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> tuple[float, float]:
    """False and true positive rates of the decisions `proba >= threshold`, as the metrics count them."""
    y_true, pred = np.asarray(y_true), np.asarray(proba) >= threshold
    positives, negatives = int(np.sum(y_true == 1)), int(np.sum(y_true == 0))
    if positives == 0 or negatives == 0:
        raise ValueError("an ROC curve needs test cases of both classes")
    return float(np.sum(pred & (y_true == 0)) / negatives), float(np.sum(pred & (y_true == 1)) / positives)


def roc_figure(y_true: np.ndarray, proba: np.ndarray, auc: float, threshold: float) -> Figure:
    fpr, tpr, _ = roc_curve(y_true, proba)
    at_fpr, at_tpr = operating_point(y_true, proba, threshold)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.plot(fpr, tpr, color=_BLUE, label=f"model (AUC {auc:.3f})")
    ax.plot(
        at_fpr,
        at_tpr,
        marker="s",
        markersize=9,
        color=_ORANGE,
        linestyle="none",
        label=f"decision threshold {threshold:.3f}",
    )
    ax.set(
        xlabel="False positive rate",
        ylabel="True positive rate (recall)",
        title="ROC curve",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def probability_figure(y_true: np.ndarray, proba: np.ndarray, threshold: float, positive: str, negative: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = _BINS.tolist()
    ax.hist(proba[y_true == 0], bins=bins, color=_BLUE, alpha=0.7, label=f"actual {negative}")
    ax.hist(proba[y_true == 1], bins=bins, color=_ORANGE, alpha=0.7, hatch="//", label=f"actual {positive}")
    ax.axvline(threshold, color="black", linestyle=":", label=f"threshold {threshold:.3f}")
    ax.set(xlabel=f"Predicted probability of {positive}", ylabel="Cases", title="Predicted probabilities")
    ax.legend()
    fig.tight_layout()
    return fig


# -- text alternatives ------------------------------------------------------------


def _cases(n: int, name: str) -> str:
    return f"{n} {name} case" + ("" if n == 1 else "s")


def calibration_alt(table: pd.DataFrame, brier: float, positive: str) -> str:
    """What the calibration figure shows: its points against the diagonal, and where they stray most."""
    if table.empty:
        raise ValueError("a calibration figure needs at least one bin")
    predicted, observed = table.mean_predicted.to_numpy(), table.observed_share.to_numpy()
    gap = observed - predicted
    n = len(table)
    near = int(np.sum(np.abs(gap) <= _NEAR))
    above, below = int(np.sum(gap > _NEAR)), int(np.sum(gap < -_NEAR))
    dips = int(np.sum(np.diff(observed) < 0))
    worst = int(np.argmax(np.abs(gap)))
    side = "more" if gap[worst] > 0 else "fewer"
    course = "rises with every bin" if dips == 0 else f"rises overall but dips {dips} time" + "s" * (dips != 1)
    return (
        f"Line chart of the observed share of {positive} cases against the mean predicted probability "
        f"in {n} bin{'s' * (n != 1)}, beside a dashed diagonal of perfect calibration; Brier score {brier:.3f}. "
        f"The line runs from {predicted[0]:.2f} to {predicted[-1]:.2f} predicted and {course}. "
        f"{near} of {n} points lie within {_NEAR:.2f} of the diagonal, {above} above it and {below} below it. "
        f"The largest gap is at {predicted[worst]:.2f} predicted, where {observed[worst]:.2f} were {positive}: "
        f"{abs(gap[worst]):.2f} {side} than predicted."
    )


def _roc_shape(auc: float) -> str:
    if auc >= 0.95:
        return "hugs the top-left corner"
    if auc >= 0.8:
        return "bows well toward the top-left corner"
    if auc >= 0.6:
        return "bows a little above the diagonal"
    if auc > 0.4:
        return "stays close to the diagonal of chance"
    return "falls below the diagonal: the scores rank the classes the wrong way round"


def roc_alt(y_true: np.ndarray, proba: np.ndarray, auc: float, threshold: float, positive: str, negative: str) -> str:
    """What the ROC figure shows: the curve's shape, two readings of it, and the marked operating point."""
    y_true = np.asarray(y_true)
    at_fpr, at_tpr = operating_point(y_true, proba, threshold)
    fpr, tpr, _ = roc_curve(y_true, proba)
    (low, high), reach = _ROC_READINGS, [float(tpr[fpr <= x].max()) for x in _ROC_READINGS]
    return (
        f"ROC curve of the true positive rate (recall on {positive}) against the false positive rate, "
        f"over {_cases(int(np.sum(y_true == 1)), positive)} and {_cases(int(np.sum(y_true == 0)), negative)}; "
        f"AUC {auc:.3f}. The curve {_roc_shape(auc)}, with a true positive rate of {reach[0]:.2f} at a false "
        f"positive rate of {low:.2f} and of {reach[1]:.2f} at {high:.2f}. "
        f"A square marks the decision threshold {threshold:.3f}, at a false positive rate of {at_fpr:.3f} "
        f"and a true positive rate of {at_tpr:.3f}. A dashed diagonal shows chance."
    )


def _class_histogram(proba: np.ndarray, name: str, threshold: float, positive: bool) -> str:
    if len(proba) == 0:
        return f"No actual {name} case."
    counts, _ = np.histogram(proba, bins=_BINS)
    peak = int(np.argmax(counts))
    wrong = int(np.sum(proba < threshold)) if positive else int(np.sum(proba >= threshold))
    side = "below the threshold (missed)" if positive else "at or above the threshold (false alarms)"
    return (
        f"{_cases(len(proba), f'actual {name}')}: median {np.median(proba):.2f}, the tallest bar from "
        f"{_BINS[peak]:.2f} to {_BINS[peak + 1]:.2f} with {counts[peak]}; {wrong} {side}."
    )


def probability_alt(y_true: np.ndarray, proba: np.ndarray, threshold: float, positive: str, negative: str) -> str:
    """What the histograms show: for each actual class, where its probabilities lie and how many cross the line."""
    y_true, proba = np.asarray(y_true), np.asarray(proba)
    return (
        f"Two overlaid histograms of the predicted probability of {positive}, in {len(_BINS) - 1} bins from 0 to 1, "
        f"with a dotted vertical line at the threshold {threshold:.3f}. "
        f"{_class_histogram(proba[y_true == 0], negative, threshold, positive=False)} "
        f"{_class_histogram(proba[y_true == 1], positive, threshold, positive=True)}"
    )


# -- charts: what a report displays -----------------------------------------------------


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True, repr=False)
class Chart:
    """A figure as a report shows it: the picture, an id to link to, a caption and an alt text.

    In a notebook it displays as a Markdown figure with the picture embedded. A cell's `#| fig-alt:`
    option is text fixed before any code runs; a Markdown figure carries an alt text computed by the
    run, and Quarto and smalldocs both read its id, caption and `fig-alt` from it.
    """

    label: str
    caption: str
    alt: str
    png: bytes

    def __post_init__(self) -> None:
        if not re.fullmatch(r"fig-[A-Za-z0-9_-]+", self.label):
            raise ValueError(f"a figure's label must be fig-<name> to be cross-referenced, not {self.label!r}")
        if not _one_line(self.caption) or not _one_line(self.alt):
            raise ValueError(f"figure {self.label}: a caption and an alt text are both required")

    def __repr__(self) -> str:
        return f"Chart({self.label}: {self.caption})"

    def _repr_markdown_(self) -> str:
        caption = re.sub(r"([\\\[\]])", r"\\\1", _one_line(self.caption))
        # a double quote cannot be escaped inside an attribute value in every renderer
        alt = _one_line(self.alt).replace('"', "'")
        data = base64.b64encode(self.png).decode("ascii")
        return f'![{caption}](data:image/png;base64,{data}){{#{self.label} fig-alt="{alt}"}}'


def chart(fig: Figure, label: str, caption: str, alt: str) -> Chart:
    """Freeze a figure into a Chart; the figure is closed, so the notebook shows it once, as the Chart."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same run, same bytes
    plt.close(fig)
    return Chart(label, caption, alt, buffer.getvalue())


def calibration_chart(table: pd.DataFrame, brier: float, positive: str, label: str, caption: str) -> Chart:
    return chart(calibration_figure(table, brier), label, caption, calibration_alt(table, brier, positive))


def roc_chart(
    y_true: np.ndarray,
    proba: np.ndarray,
    auc: float,
    threshold: float,
    positive: str,
    negative: str,
    label: str,
    caption: str,
) -> Chart:
    fig = roc_figure(y_true, proba, auc, threshold)
    return chart(fig, label, caption, roc_alt(y_true, proba, auc, threshold, positive, negative))


def probability_chart(
    y_true: np.ndarray, proba: np.ndarray, threshold: float, positive: str, negative: str, label: str, caption: str
) -> Chart:
    fig = probability_figure(y_true, proba, threshold, positive, negative)
    return chart(fig, label, caption, probability_alt(y_true, proba, threshold, positive, negative))
