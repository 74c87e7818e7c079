"""Profiles, figures and the model card that the reports show. (C12.8, C11 reference profile)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from modelship.card import demote_headings, render_card
from modelship.evaluate import BehaviourResult, GateDecision, calibration_table, classification_metrics
from modelship.plots import calibration_figure, probability_figure, roc_figure
from modelship.profiling import profile, read_profile, summary, write_profile

pytestmark = [
    pytest.mark.requirement("C11.6", "C12.8"),
    pytest.mark.catalogue(
        part="Package: reference profile, figures, model card",
        scope="unit",
        strategy="example-based",
        tool="pytest, whylogs, matplotlib",
    ),
]


def test_reference_profile_round_trips_through_a_file(wdbc, tmp_path):
    view = profile(wdbc)
    path = write_profile(view, tmp_path / "deep" / "ref.bin")
    table = summary(read_profile(path))
    assert table.loc["mean_radius", "count"] == 569
    assert abs(table.loc["mean_radius", "mean"] - wdbc.mean_radius.mean()) < 1e-6
    assert table.loc["diagnosis", "missing"] == 0


def test_a_numeric_frame_without_missing_values_gets_the_profile_of_the_general_path(wdbc):
    numeric = wdbc.drop(columns="diagnosis")
    fast = profile(numeric).to_pandas()
    # a text column sends the whole frame down whylogs' general path, value checks included
    general = profile(numeric.assign(note="x")).to_pandas().loc[fast.index, fast.columns]
    assert fast.equals(general)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # whylogs' variance of an inf
def test_missing_and_infinite_values_are_still_counted():
    frame = pd.DataFrame({"a": [1.0, np.nan, np.inf, 4.0], "b": [1.0, 2.0, 3.0, 4.0]})
    table = profile(frame).to_pandas()
    assert table.loc["a", "counts/nan"] == 1 and table.loc["a", "counts/inf"] == 1
    assert table.loc["b", "counts/n"] == 4 and table.loc["b", "distribution/mean"] == 2.5


def _scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.6 + rng.normal(0.2, 0.2, 200), 0, 1)
    return y, p


def test_figures_are_drawn_with_labelled_axes():
    y, p = _scores()
    m = classification_metrics(y, p, 0.5)
    for fig in (
        calibration_figure(calibration_table(y, p), m["brier"]),
        roc_figure(y, p, m["roc_auc"], 0.5),
        probability_figure(y, p, 0.5, "malignant", "benign"),
    ):
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert ax.get_legend() is not None


def test_model_card_states_use_metrics_and_decision(contract):
    y, p = _scores()
    metrics = classification_metrics(y, p, 0.5)
    meta = {
        "version": "v0004",
        "contract": contract.to_dict(),
        "positive_label": "malignant",
        "negative_label": "benign",
        "features": contract.feature_names,
        "params": {
            "model": "logistic_regression",
            "regularization_C": 0.3,
            "calibration": "none",
            "seed": 42,
            "cv_folds": 5,
        },
        "libraries": {"scikit-learn": "1.9.1"},
        "train_rows": 455,
        "data_sha256": "ab" * 32,
        "cv": {"roc_auc_mean": 0.99, "roc_auc_std": 0.01},
        "created_at": "2026-01-01",
        "git_commit": "abc",
    }
    card = render_card(
        meta,
        metrics,
        [BehaviourResult("invariance", True, 0.0, 0.02, "")],
        GateDecision(False, ["recall 0.8 < minimum 0.93"]),
        114,
    )
    assert card.startswith("# Model card: Wisconsin Diagnostic Breast Cancer — v0004")
    assert "does not replace" in card and "not promoted" in card and "recall 0.8 < minimum 0.93" in card
    assert f"| ROC AUC | {metrics['roc_auc']:.4f} |" in card
    assert demote_headings(card).startswith("## Model card")
