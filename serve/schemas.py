"""Request and response models. The record schema is generated from the data contract.

Nothing here restates the feature list: `record_model(contract)` turns each contract feature
into a strict, bounded pydantic field, so the OpenAPI document shows the same names, ranges,
units and descriptions as contracts/*.yaml.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from modelship.contract import Contract
from serve.auth import GRANT_TYPES

DECISION_SUPPORT = (
    "Decision support only: this prediction supports, and does not replace, the diagnosis of a pathologist."
)
ID_PATTERN = r"^[0-9a-f]{32}$"
VERSION_PATTERN = r"^v[0-9]{4,}$"


def _feature_field(feature: Any) -> tuple[Any, Any]:
    extra = {"x-unit": feature.unit} if feature.unit else None
    if feature.type == "category":
        choices = Literal[tuple(feature.categories)]  # type: ignore[valid-type]
        return choices, Field(description=feature.description, json_schema_extra=extra)
    py_type = int if feature.type == "int" else float
    return py_type, Field(
        ge=feature.min, le=feature.max, description=feature.description, allow_inf_nan=False, json_schema_extra=extra
    )


def record_model(contract: Contract) -> type[BaseModel]:
    """One case: every contract feature, required, strictly typed, within its bounds, nothing else."""
    fields = {f.name: _feature_field(f) for f in contract.features}
    doc = f"One case of {contract.title or contract.name}: {len(fields)} features from the data contract."
    # strict: `true` or "1.5" is not a number; extra="forbid": an unknown field is an error.
    config = ConfigDict(strict=True, extra="forbid", title="Record")
    model = create_model("Record", __config__=config, __doc__=doc, **fields)  # type: ignore[call-overload]
    return model


@dataclass(frozen=True)
class ContractModels:
    """The request bodies generated from the data contract, handed to the routers that read them."""

    contract: Contract
    predict_request: type[BaseModel]
    feedback_request: type[BaseModel]

    @property
    def bodies(self) -> list[type[BaseModel]]:
        """The bodies the routes read themselves, whose schemas the OpenAPI document must add."""
        return [self.predict_request, self.feedback_request, AdminModelRequest]


def contract_models(contract: Contract, max_rows: int) -> ContractModels:
    """The bodies of POST /v1/predict and POST /v1/feedback, for this contract and batch cap."""
    record = record_model(contract)
    # Literal, not Enum: strict mode accepts a JSON string for a Literal, never for an Enum.
    labels: Any = Literal[tuple(contract.target.classes)]
    predict = create_model(
        "PredictRequest",
        __config__=ConfigDict(strict=True, extra="forbid"),
        __doc__=f"One to {max_rows} cases to score.",
        records=(
            list[record],  # type: ignore[valid-type]
            Field(min_length=1, max_length=max_rows, description=f"The cases to score, at most {max_rows}."),
        ),
    )
    feedback = create_model(
        "FeedbackRequest",
        __config__=ConfigDict(strict=True, extra="forbid"),
        __doc__="The diagnosis confirmed for a past prediction (once per prediction).",
        prediction_id=(str, Field(pattern=ID_PATTERN, description="From a POST /v1/predict answer.")),
        label=(labels, Field(description="The confirmed class.")),
    )
    return ContractModels(contract, predict, feedback)


class Prediction(BaseModel):
    prediction_id: str = Field(
        pattern=ID_PATTERN, description="Keep it to read the prediction back or to send the confirmed diagnosis."
    )
    label: str = Field(description="The predicted class: the positive class when probability >= threshold.")
    probability: float = Field(ge=0, le=1, description="Estimated probability of the positive class.")
    threshold: float = Field(ge=0, le=1, description="The decision threshold of the model version.")
    model_version: str = Field(pattern=VERSION_PATTERN)


class PredictResponse(BaseModel):
    model_version: str = Field(pattern=VERSION_PATTERN, description="The model version that scored every record.")
    positive_label: str = Field(description="The class `probability` refers to.")
    predictions: list[Prediction]
    notice: str = Field(default=DECISION_SUPPORT)


class StoredPrediction(Prediction):
    created_at: str = Field(description="When the prediction was made (UTC, ISO 8601).")
    features: dict[str, Any] = Field(description="The record as it was scored.")
    feedback_label: str | None = Field(default=None, description="The confirmed label, once sent.")
    notice: str = Field(default=DECISION_SUPPORT)


class FeedbackResponse(BaseModel):
    prediction_id: str = Field(pattern=ID_PATTERN)
    label: str
    recorded_at: str = Field(description="When the feedback was stored (UTC, ISO 8601).")


class TokenResponse(BaseModel):
    """RFC 6749, section 5.1."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Lifetime of the access token, in seconds.")
    refresh_token: str
    scope: str = Field(description="The granted scopes, space-separated.")


class TokenRequest(BaseModel):
    """The token endpoint's parameters (RFC 6749). Sent as a form (standard) or as JSON.

    Absent and empty are the same; fields are plain strings (no null) because a form has no null."""

    # RFC 6749, section 3.2: unrecognised parameters are ignored, not refused.
    model_config = ConfigDict(extra="ignore")
    grant_type: Literal[GRANT_TYPES]  # type: ignore[valid-type]
    client_id: str = Field(default="", max_length=64)
    client_secret: str = Field(default="", max_length=256)
    username: str = Field(default="", max_length=64)
    password: str = Field(default="", max_length=256)
    scope: str = Field(default="", max_length=200, description="Space-separated; default: every granted scope.")
    refresh_token: str = Field(default="", max_length=4096, description="For the refresh_token grant.")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4096)


class RevokeRequest(BaseModel):
    """RFC 7009: the token to revoke (a refresh token; its whole family is revoked)."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=4096)
    token_type_hint: str = Field(default="", max_length=32, description="Accepted and ignored (RFC 7009, 2.1).")


class RevokeResponse(BaseModel):
    status: Literal["ok"] = "ok"


class AlertState(BaseModel):
    """One rule's alert (docs/monitoring.qmd, Alerts)."""

    rule: str = Field(description="The rule's id in the rules file (monitoring.alert_rules).")
    severity: Literal["warning", "critical"]
    state: Literal["pending", "firing", "resolved"]
    summary: str = Field(description="A plain sentence: the value against the threshold.")
    metric: str
    comparison: Literal[">", ">=", "<", "<="]
    threshold: float
    value: float | None = Field(description="The value of the last judged window; null before any.")
    samples: int = Field(description="What the value rests on (rows, requests or labels, as the metric counts).")
    min_samples: int
    since: str | None = Field(description="When it entered this state, ISO 8601 UTC.")
    window: str | None = Field(description="The window whose close last changed it.")
    runbook: str = Field(description="Its runbook entry in the documentation.")


class RuleState(BaseModel):
    rule: str
    severity: Literal["warning", "critical"]
    state: Literal["inactive", "pending", "firing"]
    value: float | None


class AlertsSummary(BaseModel):
    active: list[AlertState] = Field(description="Pending or firing, most severe first, firing before pending.")
    resolved: list[AlertState] = Field(description="The last resolved alerts, newest first.")
    rules: list[RuleState] = Field(description="Every rule's current state, in the rules file's order.")


class MonitoringSummary(BaseModel):
    """The collector's state; each window's figures are explained in docs/monitoring.qmd."""

    started_at: float = Field(description="When the collector (re)started, Unix time.")
    now: float = Field(description="The collector's clock when it answered, Unix time.")
    window_s: float = Field(description="Length of a window, seconds.")
    windows: list[dict[str, Any]] = Field(
        description="The last closed windows, oldest first: drift, quality, prediction_mix, "
        "estimated_performance, live_performance, operations."
    )
    alerts: AlertsSummary = Field(description="The alerts the rules raised at the window closes.")
    open: list[dict[str, Any]] = Field(description="Windows still collecting rows.")
    counters: dict[str, Any] = Field(description="Requests, latency, rejections and rows since the collector started.")


class ModelCard(BaseModel):
    version: str = Field(pattern=VERSION_PATTERN)
    created_at: str | None = None
    threshold: float
    positive_label: str
    negative_label: str
    metrics: dict[str, float] = Field(description="Evaluation metrics of this version (roc_auc, recall, ...).")
    data_sha256: str | None = Field(default=None, description="Hash of the training data snapshot.")
    model_sha256: str = Field(description="Checksum of the model file, verified before loading.")
    features: list[str] = Field(description="Feature order the model expects.")
    contract: dict[str, Any] = Field(description="The data contract the model was trained on.")
    notice: str = DECISION_SUPPORT


class AdminAction(enum.StrEnum):
    activate = "activate"
    rollback = "rollback"


class AdminModelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: AdminAction = Field(description="`activate` a registered version, or `rollback` to the previous one.")
    version: str | None = Field(
        default=None, pattern=VERSION_PATTERN, max_length=16, description="Required for `activate`."
    )
    reason: str = Field(default="", max_length=500, description="Kept in the registry's audit history.")


class AdminModelResponse(BaseModel):
    action: AdminAction
    production_version: str
    previous_version: str | None
    actor: str = Field(description="The `sub` of the token that asked.")
    served_version: str | None = Field(
        description="The version a model replica reported after the switch; "
        "every replica answers with it from its next request on."
    )


class Health(BaseModel):
    status: Literal["ok", "ready"]
