"""Fixtures of the end-to-end tests: ONE real Ray Serve service for the whole folder, started
the project's way with access tokens that live a few seconds (MODELSHIP_AUTH__ACCESS_TTL_S), a
gate in front of it (tests/e2e/lab.py) and the lab app (app/, from its own app/.venv) talking
to the service through the gate, with a client made the project's way (`make client`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.e2e.lab import ACCESS_TTL_S, CLIENT_ID, Gate, LabApp, create_client, lab_app
from tests.live.service import Served, ShortFolders, run_service


@pytest.fixture(scope="session")
def service() -> Iterator[Served]:
    # Its own short folder: Ray's Unix sockets live below the Ray folder and must fit in 107
    # characters, which pytest's numbered temporary folders can exceed one level down.
    base = Path(tempfile.mkdtemp(prefix="ms-e2e-"))
    short = {"MODELSHIP_AUTH__ACCESS_TTL_S": str(ACCESS_TTL_S), "MODELSHIP_AUTH__LEEWAY_S": "0"}
    saved = {k: os.environ.get(k) for k in short}
    os.environ.update(short)  # read when the service starts (and by the client set-up in run_service)
    runner = run_service(ShortFolders(base))  # type: ignore[arg-type]
    try:
        served = next(runner)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield served
    finally:
        next(runner, None)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def secret(service: Served) -> str:
    return create_client(service.config_path, CLIENT_ID, "predict,feedback")


@pytest.fixture(scope="session")
def gate(service: Served) -> Iterator[Gate]:
    host, port = service.base_url.removeprefix("http://").rsplit(":", 1)
    g = Gate((host, int(port)))
    yield g
    g.close()


@pytest.fixture(autouse=True)
def _gate_open_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that takes the service down must not leave it down for the next one."""
    yield
    if "gate" in request.fixturenames:
        g: Gate = request.getfixturevalue("gate")
        g.release()
        if g._listener is None:
            g.open()


@pytest.fixture(scope="session")
def app(gate: Gate, secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabApp]:
    with lab_app(tmp_path_factory.mktemp("lab-app"), base_url=gate.url, client_id=CLIENT_ID, secret=secret) as a:
        yield a


@pytest.fixture(scope="session")
def lab(app: LabApp) -> Iterator[httpx.Client]:
    with closing(app.sign_in()) as client:
        yield client
