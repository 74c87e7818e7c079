"""Loading params.yaml, the single source of the pipeline's parameters, into a typed object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ModelName = Literal["logistic_regression", "random_forest", "hist_gradient_boosting"]
Calibration = Literal["sigmoid", "isotonic", "none"]
Combine = Literal["append", "feedback_only"]

Fraction = Field(ge=0, le=1)
OpenFraction = Field(gt=0, lt=1)
Positive = Field(gt=0)

# YAML 1.1 reads a number such as 1e-6 (no dot) as text; name the fix instead of "not a number"
_EXPONENT_WITHOUT_DOT = re.compile(r"^[+-]?\d+[eE][+-]?\d+$")


class ParamsError(ValueError):
    """params.yaml is missing a key, has an unknown one, or a value of the wrong type or range."""


class Params(BaseModel):
    """Every parameter of the pipeline. Strict: "42" is not an int, true is not a number."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    seed: int = Field(ge=0)

    # data: what to read and where derived data goes (paths relative to the repository root)
    contract: str
    snapshot: str
    manifest: str | None
    processed_dir: str
    test_size: float = OpenFraction

    # data checks (01)
    max_missing_fraction: float = Fraction
    max_duplicate_rows: int = Field(ge=0)
    min_class_fraction: float = Field(ge=0, le=0.5)
    similarity_alpha: float = OpenFraction
    max_dissimilar_fraction: float = Fraction

    # training (02)
    model: ModelName
    regularization_C: float = Positive
    calibration: Calibration
    cv_folds: int = Field(ge=2)

    # evaluation and gate (03)
    target_recall: float = Field(gt=0, le=1)
    gate_min_roc_auc: float = Fraction
    gate_min_recall: float = Fraction
    gate_min_precision: float = Fraction
    gate_max_brier: float = Fraction
    gate_max_regression: float = Fraction
    noise_scale: float = Field(ge=0)
    max_flip_rate: float = Fraction
    monotonic_tolerance: float = Field(ge=0)

    # retraining from the service's feedback (`make retrain`, modelship/feedback.py)
    feedback_dir: str
    retrain_combine: Combine
    retrain_min_rows: int = Field(ge=1)

    registry: str
    reports_dir: str

    @field_validator("*", mode="before")
    @classmethod
    def _exponent_needs_a_dot(cls, value: Any) -> Any:
        if isinstance(value, str) and _EXPONENT_WITHOUT_DOT.match(value.strip()):
            mantissa, exponent = re.split("[eE]", value.strip())
            raise ValueError(f"YAML reads {value!r} as text, not a number: write {mantissa}.0e{exponent}")
        return value

    def replace(self, **changes: Any) -> Params:
        """A copy with some values changed, validated like the file."""
        return _validate({**self.model_dump(), **changes}, "params")


MODELS: tuple[str, ...] = get_args(ModelName)
CALIBRATIONS: tuple[str, ...] = get_args(Calibration)


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(file)"
    kind = error["type"]
    if kind == "missing":
        return f"missing key {key!r}"
    if kind == "extra_forbidden":
        return f"unknown key {key!r}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{key}: {message} (got {error['input']!r})"


def _validate(values: Mapping[str, Any], source: str) -> Params:
    try:
        return Params.model_validate(dict(values))
    except ValidationError as exc:
        errors = exc.errors()
        text = f"{source}: " + "; ".join(_describe(e) for e in errors)
        if any(e["type"] in ("missing", "extra_forbidden") for e in errors):
            text += f" (every key is required, and only these: {', '.join(Params.model_fields)})"
        raise ParamsError(text) from None


def load_params(path: str | Path = "params.yaml", overrides: Mapping[str, Any] | None = None) -> Params:
    """Read params.yaml, apply overrides (e.g. from a notebook run), and validate."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ParamsError(f"params file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"params file {path} is not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise ParamsError(f"params file {path} must hold a mapping of keys to values")
    return _validate({**values, **(overrides or {})}, f"params file {path}")
