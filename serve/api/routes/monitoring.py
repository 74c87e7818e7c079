"""GET /v1/monitoring/summary and /v1/monitoring/metrics: the collector's figures (monitor scope).

Both read the one collector's state (serve/monitoring/), so two calls answered by two replicas
agree. Prometheus scrapes `metrics` with a bearer token of a client holding the monitor scope.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serve.api.deps import MonitorReader, security, service_of
from serve.api.openapi import AUTHENTICATED, errors
from serve.monitoring.collector import KEPT_SUMMARIES
from serve.monitoring.exposition import CONTENT_TYPE, prometheus_text
from serve.problems import ApiProblem
from serve.schemas import MonitoringSummary
from serve.service import Service

router = APIRouter(tags=["monitoring"])
STATE_TIMEOUT_S = 5.0


async def collector_state(service: Service, windows: int) -> dict[str, Any]:
    if service.monitor is None:
        raise ApiProblem(
            404, "monitoring-off", "monitoring is turned off in this service's settings (monitoring.enabled)"
        )
    try:
        return await asyncio.wait_for(service.monitor.sink.state(windows), STATE_TIMEOUT_S)
    except Exception:  # the collector restarting or gone: the API itself is fine
        raise ApiProblem(
            503,
            "monitoring-unavailable",
            "the monitoring collector did not answer; retry shortly",
            headers={"Retry-After": "2"},
        ) from None


@router.get(
    "/v1/monitoring/summary",
    response_model=MonitoringSummary,
    summary="Monitoring figures: the last windows and the counters",
    responses=errors(*AUTHENTICATED, 404, 503),
    openapi_extra=security("monitor"),
)
async def monitoring_summary(request: Request, principal: MonitorReader) -> Any:
    """Per closed window: drift per feature, data quality, prediction mix, estimated and live
    performance, operations; the windows still open; counters since the collector started.
    Each figure is explained in docs/monitoring.qmd."""
    return await collector_state(service_of(request), KEPT_SUMMARIES)


@router.get(
    "/v1/monitoring/metrics",
    summary="The same figures in the Prometheus text format",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}, "description": "Metrics"},
        **errors(*AUTHENTICATED, 404, 503),
    },
    openapi_extra=security("monitor"),
)
async def monitoring_metrics(request: Request, principal: MonitorReader) -> Response:
    """For a Prometheus server: `authorization: {credentials_file: ...}` in its scrape config."""
    # Its gauges describe the last closed window only: the others need not cross the network.
    state = await collector_state(service_of(request), 1)
    return Response(await asyncio.to_thread(prometheus_text, state), media_type=CONTENT_TYPE)
