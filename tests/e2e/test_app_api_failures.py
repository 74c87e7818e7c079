"""The lab app's handling of the API's refusals, each one produced by the real service (no
stub, no mock) and seen by the app's own code: 401 (a client the operator disabled), 403 (a
client without the predict scope), 422 (a case whose stored measurements break the data
contract), 429 with Retry-After (a client with a tiny rate limit in the service's config), 503
with Retry-After (the service's model stalled on a registry that does not answer), a timeout
(the gate holding the traffic longer than the app waits), and the service down (the gate in
front of it closed). Each time the page says what happened and what to do, offers a retry,
answers with the right status, and keeps what the user typed.

Batch assessment against the real service: requests within the cap the app read from the
service's own /openapi.json, and a 422 that names one record fails that case only."""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest
from api_support import CLIENT_LIMITS, sample_records

from modelship.fileio import write_atomic
from modelship.registry import POINTER_FILE
from tests.e2e.lab import (
    ACCESS_TTL_S,
    CLIENT_ID,
    Gate,
    LabApp,
    case_ids,
    create_client,
    lab_app,
    operator,
    post,
    untouched,
    wait_for,
)
from tests.live.service import Served

pytestmark = [
    pytest.mark.live,
    pytest.mark.requirement("C10.2", "C10.4", "C10.5", "C10.6"),
    pytest.mark.catalogue(
        part="Lab app with the real service: refusals (401, 403, 422, 429, 503), timeout, down and batch assessment",
        scope="system",
        strategy="fault injection",
        tool="pytest, httpx, Ray Serve, uvicorn",
    ),
]

TYPED = "typed before the model was asked"


def _assess_typed(client: httpx.Client, accession: str) -> httpx.Response:
    page = f"/cases/{accession}"
    return post(client, f"{page}/assess", page, based_on="", diagnosis="benign", comment=TYPED)


def _kept(response: httpx.Response) -> None:
    """The page of a refused assessment: the message in an alert, a retry, and the typed form."""
    text = response.text
    assert 'role="alert"' in text and "The model could not assess this case" in text
    assert 'href="#assess">Try again' in text and 'id="assess"' in text
    assert f"{TYPED}</textarea>" in text and 'value="benign" checked' in text
    assert "<title>Error: Case" in text


def test_a_client_the_operator_disabled_is_a_clear_401(
    service: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = create_client(service.config_path, "pathlab-disabled", "predict,feedback")
    with lab_app(
        tmp_path_factory.mktemp("lab-401"), base_url=service.base_url, client_id="pathlab-disabled", secret=secret
    ) as app:
        with closing(app.sign_in()) as client:
            first, second = case_ids(client)[:2]
            assert post(client, f"/cases/{first}/assess", f"/cases/{first}", based_on="").status_code == 303
            operator(service.config_path, "disable-client", "pathlab-disabled")
            time.sleep(ACCESS_TTL_S + 0.5)  # the access token it holds has expired
            # refresh refused (revoked), credentials refused (401): once each, then the message
            response = _assess_typed(client, second)
    assert response.status_code == 502
    _kept(response)
    assert "did not accept the app&#39;s credentials" in response.text


@pytest.mark.parametrize(
    "scopes",
    [
        "feedback",  # a token without predict: POST /v1/predict answers 403 insufficient_scope
        "predict feedback",  # the app's default: the token endpoint answers 400 invalid_scope
    ],
)
def test_a_client_without_the_predict_scope_is_a_clear_403(
    scopes: str, service: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with lab_app(
        tmp_path_factory.mktemp("lab-403"),
        base_url=service.base_url,
        client_id="feedback-only",
        secret=service.secrets["feedback-only"],
        scopes=scopes,
    ) as app:
        with closing(app.sign_in()) as client:
            response = _assess_typed(client, case_ids(client)[0])
            model = client.get("/model")
    assert response.status_code == 502
    _kept(response)
    assert "not allowed to make it" in response.text and "lacks a permission (scope)" in response.text
    assert model.status_code == 502 and "cannot be shown now" in model.text


def test_a_tiny_rate_limit_is_a_429_with_its_wait(service: Served, tmp_path_factory: pytest.TempPathFactory) -> None:
    limit = CLIENT_LIMITS["limited"]["rate_limit"]["limit"]  # the service's config for this client
    with lab_app(
        tmp_path_factory.mktemp("lab-429"),
        base_url=service.base_url,
        client_id="limited",
        secret=service.secrets["limited"],
        scopes="predict",  # all this client was given
    ) as app:
        with closing(app.sign_in()) as client:
            cases = case_ids(client)
            for accession in cases[:limit]:
                page = f"/cases/{accession}"
                assert post(client, f"{page}/assess", page, based_on="").status_code == 303
            response = _assess_typed(client, cases[limit])
    assert response.status_code == 503
    _kept(response)
    wait = int(response.headers["retry-after"])  # the service's Retry-After, passed on
    assert wait >= 1 and f"Wait {wait} seconds, then try again." in response.text
    assert "too many requests from the app" in response.text


def test_a_case_out_of_the_contract_is_a_clear_422(app: LabApp, lab: httpx.Client) -> None:
    (accession,) = untouched(app.db_path, 1)
    where = "kind = 'mean_radius' AND case_id = (SELECT id FROM cases WHERE accession = ?)"
    with sqlite3.connect(app.db_path) as conn:  # as a bad import would have left it
        (kept,) = conn.execute(f"SELECT value FROM measurements WHERE {where}", (accession,)).fetchone()
        conn.execute(f"UPDATE measurements SET value = 500 WHERE {where}", (accession,))
    try:
        response = _assess_typed(lab, accession)
    finally:
        with sqlite3.connect(app.db_path) as conn:
            conn.execute(f"UPDATE measurements SET value = ? WHERE {where}", (kept, accession))
    assert response.status_code == 502
    _kept(response)
    assert "refused this case&#39;s measurements" in response.text
    assert "mean_radius: Input should be less than or equal to 50" in response.text  # the service's words


def test_the_service_down_keeps_the_typed_text_and_comes_back(app: LabApp, gate: Gate, lab: httpx.Client) -> None:
    (accession,) = untouched(app.db_path, 1)
    gate.close()
    response = _assess_typed(lab, accession)
    model = lab.get("/model")
    assert response.status_code == 503
    _kept(response)
    assert "could not reach the model&#39;s service: it seems to be down" in response.text
    assert model.status_code == 503 and 'href="/model">Try again' in model.text
    # the rest of the app works without it
    assert lab.get("/cases").status_code == 200
    gate.open()
    assert _assess_typed(lab, accession).status_code == 200  # typed text shown again, with the result
    assert "Probability of malignancy" in lab.get(f"/cases/{accession}").text


def test_a_service_slower_than_the_app_waits_is_a_clear_timeout_and_the_retry_works(
    gate: Gate, secret: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    timeout_s = 2.0  # the app's own setting ([model_api] timeout_s), well under the hold
    with lab_app(
        tmp_path_factory.mktemp("lab-timeout"),
        base_url=gate.url,
        client_id=CLIENT_ID,
        secret=secret,
        timeout_s=timeout_s,
        connect_timeout_s=1.0,
    ) as app:
        with closing(app.sign_in()) as client:
            (accession,) = untouched(app.db_path, 1)
            gate.hold()  # connections are accepted, nothing they carry gets through
            try:
                started = time.monotonic()
                response = _assess_typed(client, accession)
                waited = time.monotonic() - started
            finally:
                gate.release()
            assert response.status_code == 503
            _kept(response)
            assert "did not answer in time" in response.text and "Try again in a minute" in response.text
            # the app gave up at its own timeout (a token renewal and the predict call may each wait it)
            assert timeout_s <= waited < 3 * timeout_s + 5, waited
            with sqlite3.connect(app.db_path) as conn:
                stored = conn.execute(
                    "SELECT COUNT(*) FROM assessments WHERE case_id = (SELECT id FROM cases WHERE accession = ?)",
                    (accession,),
                ).fetchone()
            assert stored == (0,)  # nothing half-stored: the retry asks the model again
            retried = _assess_typed(client, accession)  # the page's retry: the same form, sent again
            assert retried.status_code == 200, retried.text
            assert f"{TYPED}</textarea>" in retried.text and "Probability of malignancy" in retried.text


def _start_batch(lab: httpx.Client, accessions: list[str]) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', lab.get("/cases").text)
    assert token
    answer = lab.post("/batches", data={"csrf_token": token.group(1), **{f"case:{a}": "1" for a in accessions}})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_a_batch_larger_than_the_cap_goes_in_several_requests_and_the_app_revokes_at_stop(
    service: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    document = httpx.get(service.base_url + "/openapi.json", timeout=30).json()
    cap = document["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"]
    secret = create_client(service.config_path, "pathlab-cap", "predict,feedback")
    # an app of its own: every holding case is still unassessed in its database
    with lab_app(
        tmp_path_factory.mktemp("lab-cap"), base_url=service.base_url, client_id="pathlab-cap", secret=secret
    ) as app:
        with sqlite3.connect(app.db_path) as conn:
            every = [r[0] for r in conn.execute("SELECT accession FROM cases ORDER BY accession")]
        assert len(every) > cap, "the holding file has too few cases to need two requests"
        chosen = every[: cap + 1]
        with closing(app.sign_in()) as lab:
            job = _start_batch(lab, chosen)
            progress = wait_for(lambda: (p := lab.get(f"{job}/progress").json())["finished"] and p, timeout_s=60)
        with sqlite3.connect(app.db_path) as conn:
            sizes = conn.execute(
                "SELECT chunk, COUNT(*) FROM batch_items WHERE job_id = ? GROUP BY chunk ORDER BY chunk",
                (int(job.rsplit("/", 1)[1]),),
            ).fetchall()
    assert progress and progress["assessed"] == len(chosen) and progress["failed"] == 0, progress
    assert [n for _, n in sizes] == [cap, 1]  # the service would have refused cap + 1 in one request (422)
    # stopping the app gave its refresh token back (POST /v1/auth/revoke): its session is over
    with sqlite3.connect(service.state_dir / "auth.sqlite3") as conn:
        kept = conn.execute("SELECT revoked_at FROM refresh_tokens WHERE sub = 'pathlab-cap'").fetchall()
    assert kept and all(revoked is not None for (revoked,) in kept), kept


def test_a_batch_with_a_case_out_of_the_contract_fails_that_case_only(app: LabApp, lab: httpx.Client) -> None:
    chosen = untouched(app.db_path, 3)
    with sqlite3.connect(app.db_path) as conn:  # stays broken: the case is in a batch, so no test picks it again
        conn.execute(
            "UPDATE measurements SET value = -1 WHERE kind = 'mean_texture' "
            "AND case_id = (SELECT id FROM cases WHERE accession = ?)",
            (chosen[1],),
        )
    job = _start_batch(lab, chosen)
    progress = wait_for(lambda: (p := lab.get(f"{job}/progress").json())["finished"] and p, timeout_s=60)
    assert progress and (progress["assessed"], progress["failed"]) == (2, 1), progress
    page = lab.get(job).text
    failed = re.search(r"<strong>Not assessed:</strong>(.*?)</td>\s*<td>(.*?)</td>", page, re.S)
    assert failed, "no failed request on the job page"
    assert "records.1.mean_texture" in failed.group(1)  # the service's name for the field at fault
    assert f">{chosen[1]}</a>" in failed.group(2) and chosen[0] not in failed.group(2)
    assert "Try the cases not assessed again" in page


def test_a_503_the_service_answers_itself_is_shown_with_its_retry_after_and_keeps_the_typed_text(
    service: Served, app: LabApp, lab: httpx.Client, secret: str
) -> None:
    """The service's own 503: its replicas re-read the registry's production pointer when it
    changes, before scoring (serve/model.py). The pointer is replaced by a FIFO, so that the
    read blocks as on a registry share that stopped answering: each predict waits past the
    service's predict_timeout_s and the service answers 503 model-unavailable with Retry-After.
    Restoring: the pointer's own bytes back (a new file, as the registry writes it), then the
    FIFO's writer closed, so that the blocked reads get an empty pointer, which the replicas
    refuse, keeping their model (serve/model.py: "cannot read the production pointer"). No
    version is loaded, no replica restarts, and only the 503 window's predictions fail. Last in
    the module: every predict of the shared service fails for that window."""
    (accession,) = untouched(app.db_path, 1)
    replicas = sorted(service.replica_pids(service.model_deployment))
    pointer = service.registry_root / POINTER_FILE
    kept = pointer.read_bytes()
    version = json.loads(kept)["version"]
    fifo = pointer.with_name(".production.fifo")
    os.mkfifo(fifo)
    os.replace(fifo, pointer)
    writer = None
    try:
        # A writer can open a FIFO without waiting only once a reader has: a replica is blocked on
        # it. The writer is then kept open, so that the readers wait for data until it closes.
        deadline = time.monotonic() + 20
        while writer is None and time.monotonic() < deadline:
            try:
                writer = os.open(pointer, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO, exc
                time.sleep(0.1)
        assert writer is not None, "no replica read the replaced production pointer"
        time.sleep(1.0)  # the other replica's poller, every 0.5 s here, is blocked on it too
        with ThreadPoolExecutor(1) as pool:  # the service's own answer, seen beside the app's
            direct = pool.submit(_predict_directly, service.base_url, secret)
            response = _assess_typed(lab, accession)
            answer = direct.result(timeout=60)
    finally:
        write_atomic(pointer, kept)  # the registry's way of writing its pointer
        if writer is not None:
            os.close(writer)
    assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/model-unavailable"), answer.text
    wait = answer.headers["retry-after"]
    # the app's page: its 503 with the service's Retry-After, the message and the typed text
    assert response.status_code == 503
    _kept(response)
    assert response.headers["retry-after"] == wait
    assert "starting, restarting or overloaded" in response.text
    assert f"Try again in {wait} second{'s' if wait != '1' else ''} or so." in response.text
    # restored: the same pointer, the same version answering, the retry works
    assert pointer.read_bytes() == kept
    retried = wait_for(lambda: (r := _assess_typed(lab, accession)).status_code == 200 and r, timeout_s=30)
    assert retried, "the service did not come back after the pointer was restored"
    assert f"{TYPED}</textarea>" in retried.text and "Probability of malignancy" in retried.text
    assert f"<dd>{version} (" in retried.text  # the version the pointer names, still answering
    card = lab.get("/model")
    assert card.status_code == 200 and version in card.text
    assert sorted(service.replica_pids(service.model_deployment)) == replicas  # none restarted


def _predict_directly(base_url: str, secret: str) -> httpx.Response:
    """POST /v1/predict to the service itself, with the app's client (a token asked each time:
    they live a few seconds here)."""
    token = httpx.post(
        base_url + "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret},
        timeout=30,
    )
    assert token.status_code == 200, token.text
    return httpx.post(
        base_url + "/v1/predict",
        json={"records": sample_records(1)},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=60,
    )
