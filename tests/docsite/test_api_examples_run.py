"""The API reference's examples, run as a reader would: the page's own curl commands and Python
snippets, copied out of the generated page, against the project's app served by uvicorn on
127.0.0.1 (a real registry, model, client database and store in a temporary folder; no Ray).

Only the base URL differs from the published page (the server's free port): the page takes it as
a parameter. The examples that name sample ids (a prediction, a version) are checked for their
shape by test_api_reference.py instead.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from api_support import CHEAP_ARGON2, CONTRACT, build_registry, settings_of

from docsite.api_reference import render
from modelship.contract import load_contract
from serve.api import create_api
from serve.model import LocalBackend, ModelHolder
from serve.service import build_service
from support import write_params
from tests.docsite.test_api_reference import SPEC_FILE, blocks, sections

pytestmark = [
    pytest.mark.slow,  # fits the registry's model and starts a server
    pytest.mark.requirement("C9.8", "C9.10"),
    pytest.mark.catalogue(
        part="Docs: the API reference's curl and Python examples, run against the app",
        scope="integration",
        strategy="example-based",
        tool="pytest, curl and httpx, API app under uvicorn in-process (no Ray)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app on a free loopback port, and the secret of the examples' client `clinic-app`."""
    tmp = tmp_path_factory.mktemp("examples-run")
    build_registry(tmp / "registry", versions=1)
    params = write_params(tmp / "params.yaml", registry=str(tmp / "registry"), contract=str(CONTRACT))
    settings = settings_of(params=str(params), state_dir=str(tmp / "state"), data_dir=str(tmp / "data"), **CHEAP_ARGON2)
    contract = load_contract(CONTRACT)
    backend = LocalBackend(ModelHolder(tmp / "registry", feature_order=contract.feature_names))
    service = build_service(settings, backend, contract)
    secret = service.auth.create_client("clinic-app", ["predict", "feedback"])
    config = uvicorn.Config(create_api(settings, contract, service), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", secret
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive()


def environment(**values: str) -> dict[str, str]:
    """The reader's variables, and no proxy: the server is on loopback."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, "NO_PROXY": "*", **values}


def run(command: list[str], source: str, **values: str) -> str:
    done = subprocess.run(command, input=source, text=True, capture_output=True, env=environment(**values), timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_token_predict_model_and_health_examples_work_as_printed(served) -> None:
    base_url, secret = served
    text = render(json.loads(SPEC_FILE.read_text(encoding="utf-8")), base_url, ROOT)
    found = sections(text)

    def curl(name: str, **values: str) -> dict:
        (command,) = blocks(found[name], "bash")
        return json.loads(run(["bash"], command, **values))

    def python(name: str, **values: str) -> dict:
        (source,) = blocks(found[name], "python")
        return ast.literal_eval(run([sys.executable, "-"], source, **values))  # it prints the parsed answer

    pair = curl("POST /v1/auth/token", CLIENT_SECRET=secret)
    assert pair["token_type"] == "Bearer" and set(pair["scope"].split()) == {"predict", "feedback"}
    renewed = curl("POST /v1/auth/refresh", REFRESH_TOKEN=pair["refresh_token"])
    assert renewed["access_token"] != pair["access_token"]
    token = renewed["access_token"]

    example = json.loads((ROOT / "examples" / "predict-request.json").read_text(encoding="utf-8"))
    for answer in (curl("POST /v1/predict", ACCESS_TOKEN=token), python("POST /v1/predict", ACCESS_TOKEN=token)):
        assert answer["model_version"] == "v0001"
        assert len(answer["predictions"]) == len(example["records"])
        assert 0 <= answer["predictions"][0]["probability"] <= 1
    assert python("POST /v1/auth/token", CLIENT_SECRET=secret)["token_type"] == "Bearer"
    assert curl("GET /v1/model", ACCESS_TOKEN=token)["version"] == "v0001"
    assert curl("GET /health/live") == {"status": "ok"}
    assert curl("POST /v1/auth/revoke", REFRESH_TOKEN=renewed["refresh_token"]) == {"status": "ok"}
