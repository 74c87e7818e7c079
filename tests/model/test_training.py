"""Training: model choice from params, determinism, genericity. (C12.8, C13.5)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV

from modelship.contract import load_contract, parse_contract
from modelship.dataset import load_snapshot, split
from modelship.features import target, to_matrix
from modelship.registry import Registry
from modelship.train import TrainingError, build_estimator, compare_settings, git_commit, read_oof, train_candidate
from support import SYNTHETIC_OVERRIDES

pytestmark = [
    pytest.mark.requirement("C12.8", "C13.5"),
    pytest.mark.catalogue(
        part="Model: training from params (modelship.training)",
        scope="integration",
        strategy="example-based",
        tool="pytest, scikit-learn",
    ),
]


def allowing_missing(contract, impute_by_feature):
    doc = contract.to_dict()
    for feat in doc["features"]:
        if feat["name"] in impute_by_feature:
            feat["missing"] = {"allowed": True, "impute": impute_by_feature[feat["name"]]}
    return parse_contract(doc)


def test_candidate_is_registered_with_full_metadata(trained):
    result, registry = trained
    meta = registry.metadata(result.version)
    for key in (
        "created_at",
        "data_sha256",
        "params",
        "cv",
        "libraries",
        "git_commit",
        "features",
        "contract",
        "positive_label",
        "negative_label",
        "model_sha256",
    ):
        assert key in meta, key
    assert meta["libraries"]["scikit-learn"] and meta["params"]["seed"] == 42
    assert registry.production() is None  # training never promotes


def test_cross_validation_keeps_one_out_of_fold_prediction_per_row(trained, wdbc_split):
    result, registry = trained
    oof = read_oof(registry, result.version)
    assert len(oof) == len(wdbc_split.train) and oof.oof_proba.between(0, 1).all()
    assert len(result.cv.folds) == 5 and result.cv.mean_roc_auc > 0.97


def test_two_runs_with_the_same_params_are_identical(tmp_path, wdbc_split, contract, params):  # determinism
    runs = [
        train_candidate(wdbc_split.train, contract, params, Registry(tmp_path / str(i)), "x", progress=False)
        for i in range(2)
    ]
    X = to_matrix(wdbc_split.test, contract)
    assert np.array_equal(runs[0].model.predict_proba(X), runs[1].model.predict_proba(X))
    assert runs[0].cv.folds.equals(runs[1].cv.folds)
    assert np.array_equal(runs[0].cv.oof_proba, runs[1].cv.oof_proba)


@pytest.mark.parametrize("model", ["random_forest", "hist_gradient_boosting"])
def test_other_models_are_selected_by_params(model, wdbc_split, contract, params):
    est = build_estimator(contract, params.replace(model=model, calibration="sigmoid", cv_folds=3))
    assert isinstance(est, CalibratedClassifierCV)
    X, y = to_matrix(wdbc_split.train, contract), target(wdbc_split.train, contract)
    assert est.fit(X, y).predict_proba(X[:3]).shape == (3, 2)


@pytest.mark.parametrize(
    "key, value, message", [("model", "svm", "unknown model"), ("calibration", "beta", "unknown calibration")]
)
def test_unknown_model_settings_are_refused_even_past_the_params_check(contract, params, key, value, message):
    unchecked = params.model_copy(update={key: value})  # model_copy does not validate
    with pytest.raises(TrainingError, match=message):
        build_estimator(contract, unchecked)


def test_settings_comparison_marks_the_chosen_row(wdbc_split, contract, params):
    table = compare_settings(wdbc_split.train, contract, params.replace(cv_folds=3), strengths=(0.3,))
    assert len(table) == 2 and table.chosen.sum() == 1
    assert table.roc_auc.between(0.9, 1).all()


def test_git_commit_is_recorded_or_unknown(monkeypatch):
    assert git_commit() != ""
    monkeypatch.setenv("PATH", "")
    assert git_commit() == "unknown"


def test_a_dataset_with_a_categorical_feature_trains_by_params_alone(synthetic, params, tmp_path):  # genericity
    contract = load_contract(synthetic["contract"])
    frame = load_snapshot(synthetic["snapshot"], None, contract)
    p = params.replace(**SYNTHETIC_OVERRIDES)
    parts = split(frame, contract, p.test_size, p.seed)
    result = train_candidate(parts.train, contract, p, Registry(tmp_path / "r"), "x", progress=False)
    X = to_matrix(parts.test, contract)
    assert X.dtype == object and result.model.predict_proba(X).shape == (len(parts.test), 2)
    assert result.cv.mean_roc_auc > 0.7
    unseen = X[:1].copy()
    unseen[0, 2] = "west"  # a category unseen in training is tolerated at predict time
    assert 0 <= result.model.predict_proba(unseen)[0, 1] <= 1
    assert isinstance(frame.site.dtype, pd.StringDtype)


def _with_gaps(frame, columns, every=7):
    gappy = frame.copy()
    for column in columns:
        gappy.loc[gappy.index[::every], column] = pd.NA if column == "site" else np.nan
    return gappy


def test_features_the_contract_lets_be_missing_are_imputed_in_training(synthetic, params, tmp_path):
    contract = allowing_missing(load_contract(synthetic["contract"]), {"marker": "median", "site": "most_frequent"})
    frame = _with_gaps(load_snapshot(synthetic["snapshot"], None, contract), ["marker", "site"])
    p = params.replace(**SYNTHETIC_OVERRIDES)
    parts = split(frame, contract, p.test_size, p.seed)
    result = train_candidate(parts.train, contract, p, Registry(tmp_path / "r"), "x", progress=False)
    steps = dict((name, step) for name, step, _ in result.model.named_steps["prepare"].transformers_)
    assert steps["numeric_median"].named_steps["impute"].strategy == "median"
    assert steps["categories_most_frequent"].named_steps["impute"].strategy == "most_frequent"
    proba = result.model.predict_proba(to_matrix(parts.test, contract))[:, 1]
    assert np.isfinite(proba).all() and result.cv.mean_roc_auc > 0.7


def test_a_missing_value_the_contract_does_not_allow_is_refused_before_sklearn_sees_it(
    wdbc_split, contract, params, tmp_path
):
    train = _with_gaps(wdbc_split.train, ["worst_area"])
    with pytest.raises(TrainingError, match=r"\['worst_area'\].*`missing: \{allowed: true, impute: median\}`"):
        train_candidate(train, contract, params, Registry(tmp_path / "r"), "x", progress=False)


def test_the_default_contract_keeps_a_plain_scaler(contract, params):
    assert type(build_estimator(contract, params).named_steps["prepare"]).__name__ == "StandardScaler"
