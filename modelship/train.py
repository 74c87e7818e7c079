"""Building, cross-validating, fitting and registering a candidate model."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tqdm import tqdm  # plain text bar: readable in a terminal, a notebook and a log

from . import __version__
from .contract import Contract
from .features import target, to_matrix
from .params import CALIBRATIONS, MODELS, Params
from .registry import Registry

OOF_FILE = "oof_predictions.csv"


class TrainingError(ValueError):
    """The training parameters do not describe a model this project can build."""


def _classifier(params: Params) -> ClassifierMixin:
    name, seed = params.model, params.seed
    if name == "logistic_regression":
        return LogisticRegression(C=params.regularization_C, max_iter=5000)
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=300, min_samples_leaf=3, random_state=seed, n_jobs=1)
    if name == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, random_state=seed)
    raise TrainingError(f"unknown model {name!r}: choose one of {MODELS}")


def _column_steps(contract: Contract) -> list[tuple[str, Any, list[int]]]:
    """One ColumnTransformer step per (kind, imputation) group of features, in contract order."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, feat in enumerate(contract.features):
        groups.setdefault(("numeric" if feat.is_numeric else "categories", feat.impute), []).append(i)
    steps = []
    for (kind, impute), columns in groups.items():
        if kind == "numeric":
            encode: Any = StandardScaler()
        else:
            encode = OneHotEncoder(categories=[list(contract.features[i].categories) for i in columns],
                                   handle_unknown="ignore")
        if impute is not None:  # the contract allows these features to be missing and says how to fill them
            encode = Pipeline([("impute", SimpleImputer(strategy=impute)), ("encode", encode)])
        steps.append((kind if impute is None else f"{kind}_{impute}", encode, columns))
    return steps


def _preprocessing(contract: Contract) -> Any:
    """Scaling for numbers, one-hot for categories, imputation where the contract allows missing values."""
    if not contract.categorical_features and not any(f.missing_allowed for f in contract.features):
        return StandardScaler()
    return ColumnTransformer(_column_steps(contract))


def build_estimator(contract: Contract, params: Params) -> ClassifierMixin:
    """Preprocessing from the contract, the classifier from params, calibrated if asked."""
    if params.calibration not in CALIBRATIONS:
        raise TrainingError(f"unknown calibration {params.calibration!r}: choose one of {CALIBRATIONS}")
    model: ClassifierMixin = Pipeline([("prepare", _preprocessing(contract)), ("classify", _classifier(params))])
    if params.calibration != "none":
        folds = StratifiedKFold(n_splits=params.cv_folds, shuffle=True, random_state=params.seed)
        model = CalibratedClassifierCV(model, method=params.calibration, cv=folds)
    return model


def require_planned_missing(frame: pd.DataFrame, contract: Contract) -> None:
    """Missing values only where the contract says how to impute them, and never in the label."""
    unplanned = [f.name for f in contract.features if not f.missing_allowed and frame[f.name].isna().any()]
    if unplanned:
        raise TrainingError(f"missing values in {unplanned}, which the contract does not allow to be missing: "
                            "run the data checks, then fix the rows or set "
                            "`missing: {allowed: true, impute: median}` on each of these features")
    if frame[contract.target.name].isna().any():
        raise TrainingError(f"missing labels in {contract.target.name!r}: run the data checks and fix the rows")


@dataclass(frozen=True)
class CVResult:
    oof_proba: np.ndarray  # out-of-fold probability of the positive class, per training row
    y: np.ndarray
    folds: pd.DataFrame  # one row per fold: sizes, ROC AUC, Brier score

    @property
    def mean_roc_auc(self) -> float:
        return float(self.folds.roc_auc.mean())


def cross_validate(estimator: ClassifierMixin, X: np.ndarray, y: np.ndarray, folds: int, seed: int,
                   progress: bool = True) -> CVResult:
    """Stratified k-fold; keeps out-of-fold probabilities for threshold selection later."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = np.full(len(y), np.nan)
    rows = []
    for k, (fit_idx, val_idx) in enumerate(tqdm(splitter.split(X, y), total=folds, desc="cross-validation",
                                                  disable=not progress), start=1):
        model = clone(estimator).fit(X[fit_idx], y[fit_idx])
        oof[val_idx] = model.predict_proba(X[val_idx])[:, 1]
        rows.append({"fold": k, "train_rows": len(fit_idx), "validation_rows": len(val_idx),
                     "roc_auc": roc_auc_score(y[val_idx], oof[val_idx]),
                     "brier": brier_score_loss(y[val_idx], oof[val_idx])})
    return CVResult(oof_proba=oof, y=y, folds=pd.DataFrame(rows))


def git_commit() -> str:
    """The commit of this package's code, with '-dirty' when the tree has changes.

    Asked in the package's folder, not the working directory: a notebook run from another
    folder (nbval runs them where they were written) must record the same code version.
    """
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10, cwd=here).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10, cwd=here).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def library_versions() -> dict[str, str]:
    import skops

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "skops": skops.__version__,
            "modelship": __version__}


@dataclass(frozen=True)
class TrainResult:
    version: str
    model: ClassifierMixin
    cv: CVResult
    metadata: dict[str, Any]
    reused: bool = False  # an identical candidate was already registered as `version`


def _array_sha256(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


def fingerprint(metadata: dict[str, Any], oof_proba: np.ndarray, fitted_proba: np.ndarray) -> str:
    """What makes two training runs the same candidate.

    The model file cannot serve: skops writes zip timestamps and object addresses into it,
    so its sha256 changes on every run. This digest covers the inputs (data, contract,
    training params), the code (git commit and library versions) and the outputs (out-of-fold
    probabilities and the final model's probabilities on the training rows), so an
    uncommitted code change that alters the model still changes it.
    """
    parts = {key: metadata[key] for key in ("data_sha256", "contract", "params", "libraries", "git_commit")}
    parts["oof_proba"] = _array_sha256(oof_proba)
    parts["fitted_proba"] = _array_sha256(fitted_proba)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def train_candidate(train: pd.DataFrame, contract: Contract, params: Params, registry: Registry,
                    data_sha256: str, extra_files: dict[str, Path] | None = None,
                    progress: bool = True) -> TrainResult:
    """Cross-validate, fit on the whole training split, and register the result as a candidate.

    A run identical to a registered version (see `fingerprint`) registers nothing: the result
    names that version, with reused=True. progress also says so on the terminal.
    """
    require_planned_missing(train, contract)
    X, y = to_matrix(train, contract), target(train, contract)
    estimator = build_estimator(contract, params)
    cv = cross_validate(estimator, X, y, params.cv_folds, params.seed, progress=progress)
    model = clone(estimator).fit(X, y)
    metadata = {
        "data_sha256": data_sha256,
        "train_rows": int(len(train)),
        "features": contract.feature_names,
        "contract": contract.to_dict(),
        "positive_label": contract.target.positive,
        "negative_label": contract.target.negative,
        "params": params.model_dump(include={"seed", "model", "regularization_C", "calibration", "cv_folds",
                                             "test_size"}),
        "cv": {"roc_auc_mean": cv.mean_roc_auc, "roc_auc_std": float(cv.folds.roc_auc.std()),
               "brier_mean": float(cv.folds.brier.mean())},
        "libraries": library_versions(),
        "git_commit": git_commit(),
    }
    metadata["fingerprint"] = fingerprint(metadata, cv.oof_proba, model.predict_proba(X)[:, 1])
    with tempfile.TemporaryDirectory() as tmp:
        oof_path = Path(tmp) / OOF_FILE
        pd.DataFrame({"row": train.index, "y": y, "oof_proba": cv.oof_proba}).to_csv(oof_path, index=False)
        files = {OOF_FILE: oof_path, **(extra_files or {})}
        version, reused = registry.register_candidate(model, metadata, extra_files=files)
    if reused and progress:
        print(f"identical to registered {version} (same data, params, code and predictions): "
              "nothing new registered")
    return TrainResult(version=version, model=model, cv=cv, metadata=registry.metadata(version), reused=reused)


def read_oof(registry: Registry, version: str) -> pd.DataFrame:
    return pd.read_csv(registry.version_dir(version) / OOF_FILE)


def compare_settings(train: pd.DataFrame, contract: Contract, params: Params,
                     strengths: tuple[float, ...] = (0.03, 0.3, 3.0)) -> pd.DataFrame:
    """Cross-validated ROC AUC and Brier score around the chosen settings, on the same folds."""
    X, y = to_matrix(train, contract), target(train, contract)
    grid = [{"regularization_C": c} for c in strengths] if params.model == "logistic_regression" else [{}]
    rows = []
    for setting in grid:
        for calibration in ("none", "sigmoid"):
            trial = params.replace(**setting, calibration=calibration)
            cv = cross_validate(build_estimator(contract, trial), X, y, params.cv_folds, params.seed,
                                progress=False)
            rows.append({"model": params.model, "C": trial.regularization_C if setting else None,
                         "calibration": calibration, "roc_auc": cv.mean_roc_auc,
                         "brier": float(cv.folds.brier.mean()),
                         "chosen": trial.calibration == params.calibration
                         and trial.regularization_C == params.regularization_C})
    return pd.DataFrame(rows)
