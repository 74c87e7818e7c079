"""POST /v1/admin/model: switch the production model, or roll back (audited in the registry)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request

from modelship.registry import IntegrityError, RegistryError
from serve.api.body import json_body, json_request
from serve.api.deps import Admin, security, service_of
from serve.api.openapi import AUTHENTICATED, errors
from serve.model import ModelUnavailable
from serve.problems import ApiProblem
from serve.schemas import AdminAction, AdminModelRequest, AdminModelResponse

log = logging.getLogger("modelship.api")
router = APIRouter(tags=["admin"])


def _invalid_version(detail: str, reason: str) -> ApiProblem:
    return ApiProblem(422, "validation-error", detail, invalid_params=[{"name": "version", "reason": reason}])


@router.post(
    "/v1/admin/model",
    response_model=AdminModelResponse,
    summary="Activate a registered model version, or roll back",
    responses=errors(*AUTHENTICATED, 409, 415, 422),
    openapi_extra={**security("admin"), **json_request(AdminModelRequest)},
)
async def admin_model(request: Request, principal: Admin) -> Any:
    """Switches production in the registry (audited there with the token's `sub` as actor);
    model replicas pick it up without downtime."""
    service = service_of(request)
    body = await json_body(request, AdminModelRequest)
    reg = service.registry
    previous = await asyncio.to_thread(reg.production)
    reason = body.reason or f"via POST /v1/admin/model by {principal.sub}"
    try:
        if body.action is AdminAction.activate:
            if not body.version:
                raise _invalid_version("`version` is required to activate", "required for activate")
            if body.version not in await asyncio.to_thread(reg.versions):
                raise _invalid_version(f"version {body.version} is not registered", "not a registered version")
            await asyncio.to_thread(reg.promote, body.version, actor=principal.sub, reason=reason)
            current = body.version
        else:
            current = await asyncio.to_thread(reg.rollback, actor=principal.sub, reason=reason)
    except IntegrityError:
        raise ApiProblem(
            409,
            "model-integrity",
            "the model file of that version does not match its recorded checksum; production "
            "is unchanged. Restore the file or retrain, then try again",
        ) from None
    except RegistryError:
        raise ApiProblem(
            409,
            "registry-conflict",
            "the registry refused: there is no earlier production version to roll back to"
            if body.action is AdminAction.rollback
            else "the registry refused this change",
        ) from None
    try:
        served: str | None = await asyncio.wait_for(
            service.backend.refresh(), service.settings.service.predict_timeout_s
        )
    except (TimeoutError, ModelUnavailable):
        served = None  # the replicas still follow the pointer on their own
    log.info("admin %s: production %s -> %s by %s", body.action.value, previous, current, principal.sub)
    return {
        "action": body.action,
        "production_version": current,
        "previous_version": previous,
        "actor": principal.sub,
        "served_version": served,
    }
