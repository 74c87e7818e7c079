"""Recording an evaluation and acting on the gate. (C12.8, C13.9)"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelship.dataset import read_split_part, write_split
from modelship.evaluate import BehaviourResult, GateDecision, classification_metrics
from modelship.promotion import record_and_decide
from modelship.registry import Registry

pytestmark = [
    pytest.mark.requirement("C12.8", "C13.9"),
    pytest.mark.catalogue(
        part="Model: recording an evaluation and acting on the gate",
        scope="integration",
        strategy="example-based",
        tool="pytest, scikit-learn",
    ),
]


def _registered(tmp_path, contract):
    reg = Registry(tmp_path / "r")
    X = np.random.default_rng(0).normal(size=(40, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    meta = {
        "contract": contract.to_dict(),
        "positive_label": "malignant",
        "negative_label": "benign",
        "features": ["a", "b"],
        "params": {
            "model": "logistic_regression",
            "regularization_C": 1,
            "calibration": "none",
            "seed": 1,
            "cv_folds": 3,
        },
        "libraries": {},
        "train_rows": 40,
        "data_sha256": "x",
        "cv": {"roc_auc_mean": 1, "roc_auc_std": 0},
        "git_commit": "abc",
    }
    return reg, reg.register(model, meta), reg.register(model, meta)


def _metrics():
    y = np.array([0, 0, 1, 1])
    return classification_metrics(y, np.array([0.1, 0.6, 0.4, 0.9]), 0.35)


def test_a_passing_candidate_is_promoted_with_its_threshold_and_card(tmp_path, contract):
    reg, v1, _ = _registered(tmp_path, contract)
    now = record_and_decide(reg, v1, _metrics(), [BehaviourResult("b", True, 0, 1, "")], GateDecision(True, ["ok"]), 4)
    assert now == v1 == reg.production()
    meta = reg.metadata(v1)
    assert meta["threshold"] == 0.35 and meta["gate"] == {"promote": True, "reasons": ["ok"]}
    assert "promoted" in (reg.version_dir(v1) / "model_card.md").read_text()
    assert reg.history()[-1]["actor"] == "pipeline"


def test_a_failing_candidate_leaves_production_unchanged(tmp_path, contract):
    reg, v1, v2 = _registered(tmp_path, contract)
    record_and_decide(reg, v1, _metrics(), [], GateDecision(True, ["ok"]), 4)
    now = record_and_decide(reg, v2, _metrics(), [], GateDecision(False, ["recall too low"]), 4)
    assert now == v1 and reg.metadata(v2)["gate"]["promote"] is False
    assert "not promoted" in (reg.version_dir(v2) / "model_card.md").read_text()


def test_no_production_is_reported_as_none(tmp_path, contract):
    reg, v1, _ = _registered(tmp_path, contract)
    assert record_and_decide(reg, v1, _metrics(), [], GateDecision(False, []), 4) == "none"


def test_split_files_round_trip_with_their_row_ids(wdbc_split, contract, tmp_path):
    paths = write_split(wdbc_split, tmp_path / "processed")
    back = read_split_part(paths["test"], contract)
    assert back.index.tolist() == wdbc_split.test.index.tolist()
    assert back.diagnosis.tolist() == wdbc_split.test.diagnosis.tolist()


def test_evaluating_the_production_version_again_adds_no_promotion_to_the_history(tmp_path, contract):
    reg, v1, _ = _registered(tmp_path, contract)
    record_and_decide(reg, v1, _metrics(), [], GateDecision(True, ["ok"]), 4)
    record_and_decide(reg, v1, _metrics(), [], GateDecision(True, ["ok"]), 4)  # an identical rerun
    assert [h["version"] for h in reg.history()] == [v1]
