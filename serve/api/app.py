"""The app factory: the routers, every error as problem+json, and the guard around it all.

`create_api(settings, contract, service)` builds the FastAPI app. serve/app.py runs it in each
Ray Serve ingress replica; bench/baseline.py under bare uvicorn; the OpenAPI export with no
service at all (the routes are the same, only the document is read). No Ray in this package.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from modelship.contract import Contract
from serve import problems
from serve.api import openapi
from serve.api.routes import admin, auth, feedback, health, model, monitoring, predictions
from serve.guard import Guard
from serve.schemas import DECISION_SUPPORT, contract_models
from serve.service import Service, lifespan
from serve.settings import Settings

API_VERSION = "1.0.0"


def create_api(settings: Settings, contract: Contract, service: Service | None = None) -> FastAPI:
    models = contract_models(contract, settings.service.max_batch_rows)
    app = FastAPI(
        title=settings.service.title,
        version=API_VERSION,
        summary=f"Scores {contract.title or contract.name} cases with the production model.",
        description=(
            f"{DECISION_SUPPORT}\n\nAuthenticate at `POST /v1/auth/token` (OAuth 2 client credentials, "
            "or password for people), then send `Authorization: Bearer <access token>`. Every error is "
            "`application/problem+json` (RFC 9457). See docs/api.qmd."
        ),
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # they load assets from a CDN
        openapi_url="/openapi.json",
        # One spelling per route: a slash redirect would build its Location from the Host header.
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.service = service
    monitor = service.monitor if service is not None else None
    problems.install(app, monitor.rejected if monitor is not None else None)
    routers = (
        auth.router,
        predictions.router(models),
        feedback.router(models),
        model.router,
        admin.router,
        monitoring.router,
        health.router,
    )
    for router in routers:
        # Flat, not include_router: an included router is one more matching level per request.
        app.router.routes.extend(router.routes)
    openapi.install(app, models.bodies)
    # The guard wraps the whole stack, outside Starlette's error middleware, so that even a
    # 500 answer carries the security headers.
    build_stack = app.build_middleware_stack

    def guarded_stack() -> ASGIApp:
        return Guard(
            build_stack(),
            max_body_bytes=settings.service.max_body_bytes,
            cors_origins=list(settings.service.cors_origins),
            on_request=monitor.request if monitor is not None else None,
            on_problem=monitor.rejected if monitor is not None else None,
        )

    app.build_middleware_stack = guarded_stack  # type: ignore[method-assign]
    return app
