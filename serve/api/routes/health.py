"""GET /health/live and /health/ready: for load balancers and orchestrators; no token, no internals."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from serve.api.openapi import errors
from serve.model import ModelUnavailable
from serve.problems import ApiProblem
from serve.schemas import Health

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Health, summary="The process answers")
async def live() -> Any:
    return {"status": "ok"}


@router.get("/ready", response_model=Health, summary="A model is loaded", responses=errors(503))
async def ready(request: Request) -> Any:
    service = request.app.state.service
    ok = False
    if service is not None:
        try:
            ok = await asyncio.wait_for(service.backend.ready(), 2.0)
        except (TimeoutError, ModelUnavailable):
            ok = False
    if not ok:
        raise ApiProblem(503, "not-ready", "no model is loaded yet; retry shortly", headers={"Retry-After": "2"})
    return {"status": "ready"}
