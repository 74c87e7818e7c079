"""serve/service.py: the service build_service assembles, and what the API answers when its
model is slow, gone or broken, or the service is not built yet (C9.3 API4, C9.6).

In process only: the model backend is replaced by a fake (a slow, shedding or dead model
deployment is something only Ray produces for real; tests/live/test_faults.py kills a real
replica), or the app is built without its service, as while a replica starts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from api_support import GoneModel, SlowModel, problem

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.6"),
    pytest.mark.catalogue(
        part="API under faults: slow, missing or broken model; the service not built yet",
        scope="integration",
        strategy="fault injection",
        tool="pytest + Starlette TestClient, API app in-process",
    ),
]


class SlowToBeReady(SlowModel):
    """A model that does not even answer the readiness check in time."""

    async def ready(self) -> bool:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")


class BrokenModel(GoneModel):
    async def predict(self, rows: Any) -> Any:
        raise RuntimeError("an internal detail that must not reach the client")


def test_a_model_slower_than_the_timeout_gives_503_with_retry_after_not_a_hang(make_api):
    api = make_api(backend=SlowModel(), predict_timeout_s=0.1)
    start = time.monotonic()
    r = api.predict("clinic")
    assert time.monotonic() - start < 3
    assert problem(r, 503)["type"].endswith("/model-unavailable") and r.headers["retry-after"] == "1"


def test_an_unreachable_or_shedding_model_gives_503_with_retry_after(make_api):
    api = make_api(backend=GoneModel())
    r = api.predict("clinic")
    body = problem(r, 503)
    assert body["type"].endswith("/model-unavailable") and r.headers["retry-after"] == "1"
    assert "retry" in body["detail"]


def test_an_unexpected_error_is_a_500_problem_without_internals(make_api):
    api = make_api(backend=BrokenModel(), raise_server_exceptions=False)
    r = api.predict("clinic")
    body = problem(r, 500)
    assert "internal detail" not in r.text and "RuntimeError" not in r.text
    assert "retry later" in body["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("backend", [SlowToBeReady, GoneModel])
def test_readiness_is_503_while_the_model_does_not_answer_and_liveness_stays_200(make_api, backend):
    api = make_api(backend=backend(), predict_timeout_s=0.1)
    problem(api.client.get("/health/ready"), 503)
    assert api.client.get("/health/live").status_code == 200


@pytest.mark.catalogue(strategy="example-based")
@pytest.mark.requirement("C9.2", "C9.5", "C9.10")
def test_every_route_answers_503_not_ready_before_the_service_is_built(make_api):
    api = make_api(service=False)
    r = api.client.post("/v1/auth/token", data={"grant_type": "client_credentials"})
    assert problem(r, 503)["type"].endswith("/not-ready") and r.headers["retry-after"] == "2"
    problem(api.client.get("/v1/model"), 503)
