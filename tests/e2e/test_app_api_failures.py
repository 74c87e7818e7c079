"""The lab app's handling of the API's refusals, each one produced by the real service (no
stub, no mock) and seen by the app's own code: 401 (a client the operator disabled), 403 (a
client without the predict scope), 422 (a case whose stored measurements break the data
contract), 429 with Retry-After (a client with a tiny rate limit in the service's config), and
the service down (the gate in front of it closed). Each time the page says what happened and
what to do, offers a retry, answers with the right status, and keeps what the user typed.

Batch assessment against the real service: requests within the cap the app read from the
service's own /openapi.json, and a 422 that names one record fails that case only."""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import closing

import httpx
import pytest
from api_support import CLIENT_LIMITS

from tests.e2e.lab import (
    ACCESS_TTL_S,
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
        part="Lab app with the real service: refusals (401, 403, 422, 429, down) and batch assessment",
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
