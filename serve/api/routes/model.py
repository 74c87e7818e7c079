"""GET /v1/model: the served model's card."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from serve.api.deps import ModelReader, security, service_of
from serve.api.errors import model_unavailable
from serve.api.openapi import AUTHENTICATED, errors
from serve.model import ModelUnavailable
from serve.schemas import DECISION_SUPPORT, ModelCard

router = APIRouter(tags=["model"])


@router.get(
    "/v1/model",
    response_model=ModelCard,
    summary="The served model's card",
    responses=errors(*AUTHENTICATED, 503),
    openapi_extra=security("predict", "monitor", "admin"),
)
async def model_card(request: Request, principal: ModelReader) -> Any:
    """Version, evaluation metrics, threshold, training data hash and feature contract."""
    service = service_of(request)
    try:
        card = await asyncio.wait_for(service.backend.card(), service.settings.service.predict_timeout_s)
    except (TimeoutError, ModelUnavailable):
        raise model_unavailable("the model did not answer in time; retry shortly") from None
    return {**card, "notice": DECISION_SUPPORT}
