"""The lab app (app/, run from its own app/.venv) against the real Ray Serve service, started the
project's way with access tokens that live a few seconds (MODELSHIP_AUTH__ACCESS_TTL_S), and a
client made the project's way (`python -m serve.auth create-client`, what `make client` runs).

The app is a subprocess: it only knows the service's URL, its client id and its secret (from the
environment). What the app did is read back from the service: the prediction and its feedback
through `GET /v1/predictions/{id}`, the renewals and rotations from the service's own
refresh-token records."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live.service import Served, run_service

pytestmark = [
    pytest.mark.live,
    pytest.mark.requirement("C10.2", "C10.3", "C10.4", "C10.6"),
    pytest.mark.catalogue(
        part="Lab app with the real service: assessment, feedback, model page, token renewal and rotation",
        scope="integration",
        strategy="behavioural",
        tool="pytest, httpx, Ray Serve, uvicorn",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "app"
APP_PY = APP_DIR / ".venv" / "bin" / "python"
ACCESS_TTL_S = 3
CLIENT_ID = "pathlab-e2e"
PASSWORD = "an end-to-end test passphrase"
# The operator's command, as `make client` runs it.
OPERATOR = [str(ROOT / ".venv" / "bin" / "python"), "-m", "serve.auth"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _Folder:
    """What run_service needs of pytest's tmp_path_factory, below a folder of this module's own,
    so that its Ray folder is apart from the session service's."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = self.base / name
        path.mkdir()
        return path

    def getbasetemp(self) -> Path:
        return self.base


@pytest.fixture(scope="module")
def service() -> Iterator[Served]:
    # Its own short folder: Ray's Unix sockets live below the Ray folder and must fit in 107
    # characters, which pytest's numbered temporary folders can exceed one level down.
    base = Path(tempfile.mkdtemp(prefix="ms-e2e-"))
    short = {"MODELSHIP_AUTH__ACCESS_TTL_S": str(ACCESS_TTL_S), "MODELSHIP_AUTH__LEEWAY_S": "0"}
    saved = {k: os.environ.get(k) for k in short}
    os.environ.update(short)  # read when the service starts (and by the client set-up in run_service)
    runner = run_service(_Folder(base))  # type: ignore[arg-type]
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


@pytest.fixture(scope="module")
def secret(service: Served) -> str:
    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "serve.auth",
            "--config",
            str(service.config_path),
            "create-client",
        ]
        + [CLIENT_ID, "--scopes", "predict,feedback"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MODELSHIP_AUTH__ACCESS_TTL_S": str(ACCESS_TTL_S)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def app(service: Served, secret: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert APP_PY.exists(), "the lab app's environment is missing: run `make app-setup`"
    folder = tmp_path_factory.mktemp("lab-app")
    settings = folder / "settings.toml"
    settings.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = 0\n[database]\npath = "{folder / "lab.sqlite3"}"\n'
        f'[cases]\nseed_file = "{APP_DIR / "data" / "holding_cases.json"}"\n'
        f'[model_api]\nenabled = true\nbase_url = "{service.base_url}"\nclient_id = "{CLIENT_ID}"\n'
        "renew_before_s = 1.0\ntimeout_s = 15.0\noutbox_interval_s = 1.0\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PATHLAB_SETTINGS": str(settings), "PATHLAB_MODEL_API_SECRET": secret}
    for args, stdin in ((["init-db"], ""), (["create-user", "lab", "--password-stdin"], PASSWORD + "\n")):
        done = subprocess.run(
            [str(APP_PY), "-m", "pathlab", *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    log = open(folder / "app.log", "w+", encoding="utf-8")
    process = subprocess.Popen([str(APP_PY), "-m", "pathlab", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
            log.seek(0)
            found = re.search(r"listening on (http://\S+?)/?$", log.read(), re.M)
        assert found, "the lab app did not start"
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.seek(0)
        assert secret not in log.read(), "the client secret reached the app's log"
        log.close()


@pytest.fixture(scope="module")
def lab(app: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app, timeout=60) as client:
        token = CSRF.search(client.get("/login").text)
        assert token
        signed = client.post("/login", data={"csrf_token": token.group(1), "username": "lab", "password": PASSWORD})
        assert signed.status_code == 303
        yield client


def _post(lab: httpx.Client, path: str, page: str, **fields: str) -> httpx.Response:
    token = CSRF.search(lab.get(page).text)
    assert token
    return lab.post(path, data={"csrf_token": token.group(1), **fields})


def _records(service: Served) -> list[sqlite3.Row]:
    with sqlite3.connect(service.state_dir / "auth.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(
            "SELECT family, used_at, revoked_at FROM refresh_tokens WHERE sub = ? ORDER BY issued_at, rowid",
            (CLIENT_ID,),
        ).fetchall()


def _own_token(service: Served, secret: str) -> str:
    answer = httpx.post(
        service.base_url + "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _case_ids(lab: httpx.Client) -> list[str]:
    return re.findall(r'href="/cases/(FNA-\d+)"', lab.get("/cases").text)


def test_assessment_and_feedback_reach_the_service(service: Served, secret: str, lab: httpx.Client) -> None:
    accession = _case_ids(lab)[0]
    page = f"/cases/{accession}"
    assert _post(lab, f"{page}/assess", page, based_on="").status_code == 303
    shown = lab.get(page).text
    prediction_id = re.search(r"<code>([0-9a-f]{32})</code>", shown)
    assert prediction_id and "Probability of malignancy" in shown and "v0001" in shown
    recorded = _post(lab, f"{page}/diagnosis", page, based_on="", diagnosis="malignant")
    assert recorded.status_code == 303
    # sent by the page, or by the outbox's loop that claimed it first: either way, once
    flash = re.search(r"It (was|is being) sent to the model&#39;s service.", lab.get(page).text)
    assert flash, "the diagnosis page does not say the feedback went out"
    headers = {"Authorization": f"Bearer {_own_token(service, secret)}"}
    deadline = time.monotonic() + 20
    while True:
        stored = httpx.get(f"{service.base_url}/v1/predictions/{prediction_id.group(1)}", headers=headers, timeout=30)
        assert stored.status_code == 200, stored.text
        if stored.json()["feedback_label"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    kept = stored.json()
    assert kept["feedback_label"] == "malignant" and kept["model_version"] == "v0001"
    assert f"{kept['probability']:.3f}" in shown


def test_the_app_keeps_working_across_several_token_expiries(service: Served, lab: httpx.Client) -> None:
    before = _records(service)
    cases = _case_ids(lab)[1:8]
    started = time.monotonic()
    answers: list[Any] = []
    for accession in cases:  # about 4 access-token lifetimes
        page = f"/cases/{accession}"
        answers.append(_post(lab, f"{page}/assess", page, based_on="").status_code)
        answers.append(lab.get("/model").status_code)
        time.sleep(1.5)
    assert answers == [303, 200] * len(cases), answers
    assert time.monotonic() - started > 3 * ACCESS_TTL_S
    after = _records(service)
    new = after[len(before) :]
    # renewals by refresh: each rotation issues one record in the session's family and uses up
    # the previous one; the session was never lost (no new family, nothing revoked)
    assert len(new) >= 3, f"{len(new)} renewals"
    family = {r["family"] for r in new}
    assert len(family) == 1
    chain = [r for r in after if r["family"] in family]
    assert all(r["used_at"] is not None for r in chain[:-1]) and chain[-1]["used_at"] is None
    assert all(r["revoked_at"] is None for r in chain)


def test_dropped_keys_the_app_signs_in_again(service: Served, secret: str, lab: httpx.Client) -> None:
    done = subprocess.run(
        [*OPERATOR, "--config", str(service.config_path), "rotate-keys", "--drop-previous"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    time.sleep(6)  # the service's processes read the key file again within 5 s (docs/auth.qmd)
    families = {r["family"] for r in _records(service)}
    # the app's tokens are all refused now: its access token (401), then its refresh token
    # (invalid_grant); it authenticates again with its credentials, and the page works
    assert lab.get("/model").status_code == 200
    new_families = {r["family"] for r in _records(service)} - families
    assert len(new_families) == 1
