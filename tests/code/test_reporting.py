"""Profiles, figures and the model card that the reports show. (C12.8, C11 reference profile)"""

from __future__ import annotations

import numpy as np
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
