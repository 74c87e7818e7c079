"""Batch assessment through the served app and the stub API (tests/stub_api.py, whose document
caps POST /v1/predict at 3 records): cases chosen on the list go in requests of at most the
documented cap, the job page shows the progress and each request's outcome, a failed request's
cases are kept and sent again on retry, and an empty selection is refused with the list shown."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from pathlab.settings import PROJECT_DIR
from stub_api import CLIENT_ID, SECRET, Injected, Stub, stub_api
from support import LiveApp, add_user, csrf_token, init_db, serve, write_settings

pytestmark = [
    pytest.mark.requirement("C10.4", "C10.5"),
    pytest.mark.catalogue(
        part="Lab app: batch assessment in requests within the API's cap",
        scope="integration",
        strategy="fault injection",
        tool="pytest, httpx, uvicorn, http.server",
    ),
]

CASES = [c["accession"] for c in json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text())["cases"]]


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    with stub_api() as s:
        yield s


@pytest.fixture(scope="module")
def client(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("batches")
    (folder / "secret").write_text(SECRET, encoding="utf-8")
    path = write_settings(
        folder,
        model_api={
            "enabled": True,
            "base_url": stub.url,
            "client_id": CLIENT_ID,
            "secret_file": str(folder / "secret"),
            "timeout_s": 2.0,
            "outbox_interval_s": 60.0,
        },
    )
    add_user(init_db(path), "bea", "Bea Lund")
    with serve(path) as live:
        c: httpx.Client = LiveApp.sign_in(live, "bea")
        yield c
        c.close()


def _start(client: httpx.Client, accessions: list[str]) -> httpx.Response:
    token = csrf_token(client, "/cases")
    return client.post(
        "/batches", data={"csrf_token": token, "back": "/cases", **{f"case:{a}": "1" for a in accessions}}
    )


def _wait(client: httpx.Client, job: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        progress: dict[str, object] = client.get(f"/batches/{job}/progress").json()
        if progress["finished"] or time.monotonic() > deadline:
            return progress
        time.sleep(0.1)


def _job(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/batches/(\d+)", response.headers["location"])
    assert found
    return found.group(1)


def test_a_batch_goes_in_requests_no_larger_than_the_documented_cap(client: httpx.Client, stub: Stub) -> None:
    chosen = CASES[:7]
    before = len(stub.state.requests)
    job = _job(_start(client, chosen))
    assert _wait(client, job) == {
        "job": int(job),
        "total": 7,
        "assessed": 7,
        "failed": 0,
        "waiting": 0,
        "finished": True,
        "summary": "7 of 7 cases assessed.",
    }
    sizes = [len(r.body["records"]) for r in stub.state.requests[before:] if r.path == "/v1/predict"]
    assert sizes == [3, 3, 1]
    assert [r.path for r in stub.state.requests].count("/openapi.json") == 1  # read once
    page = client.get(f"/batches/{job}").text
    assert '<progress id="batch-bar" max="7" value="7"' in page and "Finished: 7 of 7 cases assessed." in page
    assert 'id="refresh"' not in page  # nothing left to refresh for
    assert "Probability of malignancy" in client.get(f"/cases/{chosen[6]}").text


def test_a_failed_request_is_shown_kept_and_retried(client: httpx.Client, stub: Stub) -> None:
    chosen = CASES[10:16]
    stub.state.inject["/v1/predict"] = [Injected(503, {"Retry-After": "7"})]
    job = _job(_start(client, chosen))
    progress = _wait(client, job)
    assert (progress["assessed"], progress["failed"]) == (3, 3)
    page = client.get(f"/batches/{job}").text
    assert "Not assessed:</strong> The model&#39;s service is starting, restarting or overloaded." in page
    assert "Try again in 7 seconds" in page and "Try the cases not assessed again" in page
    token = csrf_token(client, f"/batches/{job}")
    assert client.post(f"/batches/{job}/retry", data={"csrf_token": token}).status_code == 303
    assert _wait(client, job)["assessed"] == 6
    page = client.get(f"/batches/{job}").text
    assert "sent to the model again" in page and "Not assessed:" not in page


def test_the_job_page_refreshes_under_the_user_s_control(client: httpx.Client, stub: Stub) -> None:
    stub.state.delay_s = 0.5
    try:
        job = _job(_start(client, CASES[20:29]))
        page = client.get(f"/batches/{job}").text
    finally:
        stub.state.delay_s = 0
    assert "http-equiv" not in page  # never a refresh the user did not ask for
    assert f'<a class="button secondary" id="refresh" href="/batches/{job}">Refresh the progress</a>' in page
    assert 'role="status" id="batch-summary">In progress:' in page
    assert '<label for="batch-bar">Cases assessed</label>' in page
    _wait(client, job)


def test_an_empty_selection_is_refused_with_the_list(client: httpx.Client) -> None:
    response = _start(client, [])
    assert response.status_code == 400
    assert "<title>Error: Cases, page 1" in response.text and "Select at least one case to assess" in response.text
    assert 'aria-describedby="cases-error" aria-invalid="true"' in response.text
    assert client.get("/batches/99999").status_code == 404


def test_a_422_naming_one_record_fails_that_case_only(client: httpx.Client, stub: Stub) -> None:
    chosen = CASES[40:43]
    named = {"status": 422, "detail": "bad", "invalid_params": [{"name": "records.1.mean_radius", "reason": "too big"}]}
    stub.state.inject["/v1/predict"] = [Injected(422, body=named)]
    job = _job(_start(client, chosen))
    progress = _wait(client, job)
    assert (progress["assessed"], progress["failed"]) == (2, 1)
    page = client.get(f"/batches/{job}").text
    failed = re.search(r"<strong>Not assessed:</strong>(.*?)</td>\s*<td>(.*?)</td>", page, re.S)
    assert failed and "records.1.mean_radius: too big" in failed.group(1)
    assert f">{chosen[1]}</a>" in failed.group(2) and chosen[0] not in failed.group(2)


def test_a_refused_request_fails_its_cases_with_the_reason(client: httpx.Client, stub: Stub) -> None:
    stub.state.inject["/v1/predict"] = [Injected(403)] * 2
    job = _job(_start(client, CASES[50:54]))
    progress = _wait(client, job)
    assert (progress["assessed"], progress["failed"]) == (0, 4)
    assert "lacks a permission (scope)" in client.get(f"/batches/{job}").text
