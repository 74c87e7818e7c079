"""The routes and their dependencies run on the event loop (serve/api/deps.py).

FastAPI runs a plain `def` route or dependency in a thread pool: one hand-off per request,
which on the Ray replicas costs a large share of the request. Every callable on the request
path must be a coroutine function."""

from __future__ import annotations

import inspect

import pytest
from api_support import CONTRACT
from fastapi.routing import APIRoute

from modelship.contract import load_contract
from serve.api.routes import admin, auth, feedback, health, model, predictions
from serve.schemas import contract_models

pytestmark = [
    pytest.mark.requirement("C9.2"),
    pytest.mark.catalogue(
        part="API: dependencies and route handlers (serve/api/deps.py, routes)",
        scope="unit",
        strategy="inspection",
        tool="pytest, FastAPI's dependency tree",
    ),
]


def _routes() -> list[APIRoute]:
    models = contract_models(load_contract(CONTRACT), 10)
    routers = [
        auth.router,
        predictions.router(models),
        feedback.router(models),
        model.router,
        admin.router,
        health.router,
    ]
    return [r for router in routers for r in router.routes if isinstance(r, APIRoute)]


def _calls(dependant) -> list:
    out = [dependant.call]
    for sub in dependant.dependencies:
        out += _calls(sub)
    return out


@pytest.mark.parametrize("route", _routes(), ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_every_handler_and_dependency_on_a_route_is_a_coroutine_function(route):
    blocking = [c.__qualname__ for c in _calls(route.dependant) if not inspect.iscoroutinefunction(c)]
    assert not blocking, f"{route.path} runs {blocking} in a thread pool"
