"""Fixtures: each test module gets its own database and, when it asks, its own running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pathlab.settings import Settings
from support import LiveApp, init_db, serve, write_settings


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app served for real, with its own migrated and seeded database."""
    path = write_settings(tmp_path_factory.mktemp("live"))
    init_db(path)
    with serve(path) as app:
        yield app


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return write_settings(tmp_path)


@pytest.fixture
def settings(settings_path: Path) -> Settings:
    return init_db(settings_path)
