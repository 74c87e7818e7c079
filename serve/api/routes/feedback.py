"""POST /v1/feedback: the confirmed label of a past prediction, stored durably."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from serve.api.body import json_body, json_request
from serve.api.deps import FeedbackSender, security, service_of
from serve.api.openapi import AUTHENTICATED, errors
from serve.api.routes.predictions import find_prediction
from serve.problems import ApiProblem
from serve.schemas import ContractModels, FeedbackResponse
from serve.store import FeedbackExists


def router(models: ContractModels) -> APIRouter:
    feedback_request = models.feedback_request
    api = APIRouter(tags=["feedback"])

    @api.post(
        "/v1/feedback",
        response_model=FeedbackResponse,
        status_code=201,
        summary="Send the confirmed diagnosis for a prediction",
        responses=errors(*AUTHENTICATED, 404, 409, 415, 422),
        openapi_extra={**security("feedback"), **json_request(feedback_request)},
    )
    async def feedback(request: Request, principal: FeedbackSender) -> Any:
        """Once per prediction, by the client that made it; never overwritten (409 on a second try).
        Stored durably before the 201."""
        service = service_of(request)
        body = await json_body(request, feedback_request)
        pid, label = body.prediction_id, body.label  # type: ignore[attr-defined]
        await find_prediction(service, pid, principal.sub)
        try:
            recorded_at = await asyncio.to_thread(service.store.add_feedback, pid, principal.sub, label)
        except FeedbackExists:
            raise ApiProblem(
                409, "feedback-exists", "feedback for this prediction was already recorded; it is never overwritten"
            ) from None
        return {"prediction_id": pid, "label": label, "recorded_at": recorded_at}

    return api
