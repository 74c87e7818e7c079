"""Fixtures of the live tests: an HTTP client of the session's service (`served`, tests/conftest.py).

Every test here is marked `live`, so `-m "not live"` leaves the whole folder out."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.live.service import Served


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(__file__.rsplit("/", 1)[0]):
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="session")
def api(served: Served) -> Iterator[httpx.Client]:
    with served.client() as c:
        yield c
