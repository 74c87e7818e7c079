"""Recording the final diagnosis against the running app: validation tied to fields, changes
with a reason, stale forms, and the audit trail of who recorded what and when."""

from __future__ import annotations

import json
import re
import sqlite3

import httpx
import pytest

from pathlab import db
from pathlab.settings import PROJECT_DIR
from support import LiveApp, add_user, post_form

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(
        part="Lab app: diagnosis form and audit trail",
        scope="system",
        strategy="example-based",
        tool="pytest + httpx, uvicorn",
    ),
]

CASES = [c["accession"] for c in json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text())["cases"]]
_BASED_ON = re.compile(r'name="based_on" value="(\d*)"')


@pytest.fixture(scope="module")
def olga(live: LiveApp) -> httpx.Client:
    add_user(live.settings, "olga", "Olga Brandt")
    return live.sign_in("olga")


@pytest.fixture(scope="module")
def piet(live: LiveApp) -> httpx.Client:
    add_user(live.settings, "piet", "Piet Vos")
    return live.sign_in("piet")


def _record(client: httpx.Client, accession: str, **fields: str) -> httpx.Response:
    page = client.get(f"/cases/{accession}")
    based_on = _BASED_ON.search(page.text)
    assert based_on, page.text
    return post_form(
        client,
        f"/cases/{accession}/diagnosis",
        {"based_on": based_on.group(1), **fields},
        token_from=f"/cases/{accession}",
    )


def test_recording_a_diagnosis_shows_it_everywhere(live: LiveApp, olga: httpx.Client) -> None:
    accession = CASES[0]
    response = _record(olga, accession, diagnosis="malignant", comment="Nuclear pleomorphism.")
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{accession}"
    page = olga.get(f"/cases/{accession}").text
    done = f"The final diagnosis of case {accession} is recorded as malignant."
    assert f'<div class="notice" role="status"><p><strong>Done:</strong> {done}' in page
    assert "<strong>Malignant</strong>, recorded by olga on" in page
    assert "Comment: Nuclear pleomorphism." in page
    assert "Done:" not in olga.get(f"/cases/{accession}").text  # the status message is shown once
    listed = olga.get("/cases", params={"status": "malignant"}).text
    assert f'<a href="/cases/{accession}">' in listed and "by olga" in listed
    assert f'<a href="/cases/{accession}">' not in olga.get("/cases", params={"status": "awaiting"}).text
    trail = olga.get("/audit").text
    assert f'Diagnosis recorded: case <a href="/cases/{accession}">{accession}</a>, malignant' in trail


@pytest.mark.parametrize(
    ("fields", "field", "message", "status"),
    [
        ({}, "diagnosis", "Choose the final diagnosis: malignant or benign", 400),
        ({"diagnosis": "unsure"}, "diagnosis", "Choose the final diagnosis", 400),
        ({"diagnosis": "benign", "comment": "x" * 2001}, "comment", "2000 characters or fewer", 400),
    ],
)
def test_invalid_forms_are_refused_with_the_error_tied_to_its_field(
    olga: httpx.Client, fields: dict[str, str], field: str, message: str, status: int
) -> None:
    accession = CASES[1]
    response = _record(olga, accession, **fields)
    assert response.status_code == status
    page = response.text
    assert '<div class="error-summary" id="error-summary" tabindex="-1" autofocus' in page
    assert message in page
    assert re.search(rf'<p class="error-message" id="{field}-error"><strong>Error:</strong> [^<]*{message}', page)
    assert re.search(rf'aria-describedby="[^"]*{field}-error[^"]*"', page)
    assert "<title>Error: Case" in page
    if "comment" in fields:
        assert fields["comment"] in page  # what was typed is kept
    assert "Awaiting diagnosis" in olga.get(f"/cases/{accession}").text  # nothing was recorded


def test_changing_a_diagnosis_needs_a_reason_and_keeps_the_old_one(olga: httpx.Client, piet: httpx.Client) -> None:
    accession = CASES[2]
    assert _record(olga, accession, diagnosis="benign").status_code == 303
    same = _record(piet, accession, diagnosis="benign")
    assert same.status_code == 400 and "already recorded as benign" in same.text
    no_reason = _record(piet, accession, diagnosis="malignant")
    assert no_reason.status_code == 400 and "Say why the diagnosis changes from benign" in no_reason.text
    changed = _record(piet, accession, diagnosis="malignant", reason="Second reading of the slides.")
    assert changed.status_code == 303
    page = piet.get(f"/cases/{accession}").text
    assert "is changed to malignant" in page
    assert page.index("<strong>Malignant</strong> (current)") < page.index("<strong>Benign</strong>")
    assert "Reason for the change: Second reading of the slides." in page
    trail = piet.get("/audit").text
    assert f"{accession}</a>, benign to malignant; reason: Second reading of the slides." in trail


def test_a_form_opened_before_a_colleague_recorded_changes_nothing(olga: httpx.Client, piet: httpx.Client) -> None:
    accession = CASES[3]
    stale = olga.get(f"/cases/{accession}")
    based_on = _BASED_ON.search(stale.text)
    assert based_on and based_on.group(1) == ""
    assert _record(piet, accession, diagnosis="benign").status_code == 303
    late = post_form(
        olga,
        f"/cases/{accession}/diagnosis",
        {"based_on": "", "diagnosis": "malignant", "comment": "my notes"},
        token_from=f"/cases/{accession}",
    )
    assert late.status_code == 409
    assert "piet recorded this case as benign" in late.text and "my notes" in late.text
    assert "<strong>Benign</strong>, recorded by piet" in olga.get(f"/cases/{accession}").text


def test_sign_in_and_out_are_in_the_audit_trail(live: LiveApp) -> None:
    add_user(live.settings, "quinn")
    client = live.sign_in("quinn")
    post_form(client, "/logout", {}, token_from="/cases")
    conn = db.open_database(live.settings.database.path)
    actions = [r[0] for r in conn.execute("SELECT action FROM audit_events WHERE actor = 'quinn' ORDER BY id")]
    assert actions == ["signed in", "signed out"]


def test_recorded_diagnoses_cannot_be_edited_in_the_database(live: LiveApp, olga: httpx.Client) -> None:
    conn = db.open_database(live.settings.database.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE diagnoses SET diagnosis = 'benign'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM diagnoses")


def test_the_list_sorts_by_status_and_an_unknown_status_is_refused(olga: httpx.Client) -> None:
    first = olga.get("/cases", params={"sort": "status", "order": "desc"}).text
    assert first.index("Malignant") < first.index("Benign")  # diagnosed ones before the awaiting ones
    refused = olga.get("/cases", params={"status": "lost"})
    assert refused.status_code == 400 and "status must be one of awaiting, diagnosed, malignant, benign" in refused.text


def test_the_audit_page_refuses_a_bad_page_number(olga: httpx.Client) -> None:
    assert olga.get("/audit", params={"page": "0"}).status_code == 400
    assert olga.get("/audit", params={"page": "999"}).status_code == 404
