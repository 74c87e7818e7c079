"""The lab app (app/, run from its own app/.venv) against the real Ray Serve service, started the
project's way with access tokens that live a few seconds (MODELSHIP_AUTH__ACCESS_TTL_S), and a
client made the project's way (`python -m serve.auth create-client`, what `make client` runs).

The app is a subprocess: it only knows the service's URL, its client id and its secret (from the
environment). What the app did is read back from the service: the prediction and its feedback
through `GET /v1/predictions/{id}`, the renewals and rotations from the service's own
refresh-token records."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.e2e.lab import ACCESS_TTL_S, CLIENT_ID, OPERATOR, ROOT, case_ids, post
from tests.live.service import Served

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


def test_assessment_and_feedback_reach_the_service(service: Served, secret: str, lab: httpx.Client) -> None:
    accession = case_ids(lab)[0]
    page = f"/cases/{accession}"
    assert post(lab, f"{page}/assess", page, based_on="").status_code == 303
    shown = lab.get(page).text
    prediction_id = re.search(r"<code>([0-9a-f]{32})</code>", shown)
    assert prediction_id and "Probability of malignancy" in shown and "v0001" in shown
    recorded = post(lab, f"{page}/diagnosis", page, based_on="", diagnosis="malignant")
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
    cases = case_ids(lab)[1:8]
    started = time.monotonic()
    answers: list[Any] = []
    for accession in cases:  # about 4 access-token lifetimes
        page = f"/cases/{accession}"
        answers.append(post(lab, f"{page}/assess", page, based_on="").status_code)
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
