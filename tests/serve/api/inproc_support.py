"""Helpers of the in-process API tests (tests/serve/api): constants, a problem check, and the
two fakes for failures that only Ray can produce for real."""
from __future__ import annotations

import asyncio
from typing import Any

import httpx

from serve.model import ModelUnavailable, Scores
from serve.settings import Settings
from tests.api.conftest import problem_of

ALLOWED_ORIGIN = "http://app.modelship.test"
# Per-client overrides, so that the limit tests reach a limit in a few requests.
CLIENT_LIMITS = {
    "limited": {"rate_limit": {"limit": 3, "window_s": 3600}},
    "quota": {"row_quota": {"limit": 5, "window_s": 3600}},
}


# The cheapest argon2 the library accepts: the algorithm is real, only its cost is lowered.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}


def settings_of(**fields: Any) -> Settings:
    """Settings from fields named without their section (`max_batch_rows=7`, `state_dir=...`)."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in fields.items():
        section = next(name for name, info in Settings.model_fields.items()
                       if info.annotation is not None and hasattr(info.annotation, "model_fields")
                       and key in info.annotation.model_fields)
        sections.setdefault(section, {})[key] = value
    return Settings.from_args(sections)


class SlowModel:
    """A model deployment that does not answer in time (overloaded): a real one is never that slow
    on one row, so the delay is simulated. asyncio.wait_for cancels the sleep at the timeout."""

    async def predict(self, rows: Any) -> Scores:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")

    async def card(self) -> dict[str, Any]:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")

    async def refresh(self) -> str:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cancelled this")

    async def ready(self) -> bool:
        return True


class GoneModel:
    """What serve/app.py's HandleBackend raises when the model deployment died or shed the load
    (max_queued_requests): only Ray produces that, so it is simulated here."""

    async def predict(self, rows: Any) -> Scores:
        raise ModelUnavailable("BackPressureError")

    async def card(self) -> dict[str, Any]:
        raise ModelUnavailable("ActorDiedError")

    async def refresh(self) -> str:
        raise ModelUnavailable("ActorDiedError")

    async def ready(self) -> bool:
        raise ModelUnavailable("ActorDiedError")


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem document with this status and no internals; return its body."""
    body = problem_of(response, status)
    assert body["instance"] == response.request.url.path
    assert "Traceback" not in response.text and "File \"" not in response.text
    return body
