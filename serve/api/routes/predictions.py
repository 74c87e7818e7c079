"""POST /v1/predict and GET /v1/predictions/{id}: scoring cases, and reading a prediction back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Path, Request

from serve.api.body import json_body, json_request
from serve.api.deps import Predictor, security, service_of
from serve.api.errors import model_unavailable
from serve.api.openapi import AUTHENTICATED, errors
from serve.model import ModelUnavailable
from serve.problems import ApiProblem
from serve.ratelimit import retry_after_header
from serve.schemas import DECISION_SUPPORT, ID_PATTERN, ContractModels, PredictResponse, StoredPrediction
from serve.service import Service
from serve.store import PredictionRow, new_prediction_ids, prediction_id_age_s, utcnow


def not_found() -> ApiProblem:
    return ApiProblem(404, "not-found", "no prediction with this id was made by this client")


async def find_prediction(service: Service, prediction_id: str, client_id: str) -> tuple[PredictionRow, str | None]:
    """The prediction and its feedback label, wherever it was made; 404 unless `client_id` made it.

    Each ingress replica buffers its predictions for `prediction_flush_s` before writing them; an
    id issued moments ago by another replica may not be in the database yet, so a miss on a fresh
    id is retried until the other replica's flush must have landed. Old or invented ids: no wait."""
    flush_s = service.settings.service.prediction_flush_s
    patience_s = 1.0 + 4 * flush_s
    while True:
        found = await asyncio.to_thread(service.store.get_prediction, prediction_id)
        age = prediction_id_age_s(prediction_id)
        if found is not None or not -1.0 <= age <= patience_s:  # a future stamp was never issued
            break
        await asyncio.sleep(flush_s)
    if found is None or found[0].client_id != client_id:
        raise not_found()
    return found


def router(models: ContractModels) -> APIRouter:
    contract = models.contract
    predict_request = models.predict_request
    numeric = all(f.is_numeric for f in contract.features)
    feature_names = contract.feature_names
    int_features = {f.name for f in contract.features if f.type == "int"}
    positive, negative = contract.target.positive, contract.target.negative
    api = APIRouter(tags=["predict"])

    @api.post(
        "/v1/predict",
        response_model=PredictResponse,
        summary="Score one or more cases",
        responses=errors(*AUTHENTICATED, 415, 422, 503),
        openapi_extra={**security("predict"), **json_request(predict_request)},
    )
    async def predict(request: Request, principal: Predictor) -> Any:
        """Returns, per record, the probability of the positive class, the label at the model's
        threshold, and a prediction id for feedback. Supports, does not replace, a pathologist."""
        service = service_of(request)
        records = (await json_body(request, predict_request)).records  # type: ignore[attr-defined]
        _, quota = service.settings.limits.for_client(principal.sub)
        wait = service.rows.take(principal.sub, len(records), quota.limit, quota.window_s)
        if wait:
            raise ApiProblem(
                429,
                "quota-exceeded",
                f"row quota of {quota.limit} per {quota.window_s:g} s used up",
                headers=retry_after_header(wait),
            )
        # A record's fields are the contract's features, in contract order (serve/schemas.py).
        values = [list(r.__dict__.values()) for r in records]
        rows = np.array(values, dtype=np.float64 if numeric else object)
        try:
            scores = await asyncio.wait_for(service.backend.predict(rows), service.settings.service.predict_timeout_s)
        except (TimeoutError, ModelUnavailable):
            raise model_unavailable() from None
        now = utcnow()
        out, stored = [], []
        features = [r.tobytes() for r in rows] if numeric else [json.dumps(v) for v in values]
        for pid, p, row_features in zip(new_prediction_ids(len(values)), scores.probabilities, features, strict=True):
            label = positive if p >= scores.threshold else negative
            out.append(
                {
                    "prediction_id": pid,
                    "label": label,
                    "probability": p,
                    "threshold": scores.threshold,
                    "model_version": scores.version,
                }
            )
            stored.append(
                PredictionRow(pid, principal.sub, now, scores.version, label, p, scores.threshold, row_features)
            )
        service.store.add_predictions(stored)
        if service.monitor is not None:
            service.monitor.scored(rows, scores.probabilities, scores.version, scores.threshold)
        return {
            "model_version": scores.version,
            "positive_label": positive,
            "predictions": out,
            "notice": DECISION_SUPPORT,
        }

    @api.get(
        "/v1/predictions/{prediction_id}",
        response_model=StoredPrediction,
        summary="Read back one of your predictions",
        responses=errors(*AUTHENTICATED, 404, 422),
        openapi_extra=security("predict"),
    )
    async def get_prediction(
        request: Request, principal: Predictor, prediction_id: str = Path(pattern=ID_PATTERN)
    ) -> Any:
        """Visible only to the client that made it: any other caller gets 404, as if it did not exist."""
        row, feedback = await find_prediction(service_of(request), prediction_id, principal.sub)
        values = [int(v) if f in int_features else v for f, v in zip(feature_names, row.feature_values(), strict=True)]
        return {
            "prediction_id": row.id,
            "label": row.label,
            "probability": row.probability,
            "threshold": row.threshold,
            "model_version": row.model_version,
            "created_at": row.created_at,
            "features": dict(zip(feature_names, values, strict=True)),
            "feedback_label": feedback,
            "notice": DECISION_SUPPORT,
        }

    return api
