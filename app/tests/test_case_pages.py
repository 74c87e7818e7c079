"""The list of cases (search, sort, pages) and a case's page, against the running app."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from pathlab.settings import PROJECT_DIR
from support import LiveApp, add_user

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(
        part="Lab app: list of cases and case page",
        scope="system",
        strategy="example-based",
        tool="pytest + httpx, uvicorn",
    ),
]

DOC = json.loads((PROJECT_DIR / "data" / "holding_cases.json").read_text(encoding="utf-8"))
ACCESSIONS = sorted(c["accession"] for c in DOC["cases"])
_ROW_LINK = re.compile(r'<td><a href="/cases/([^"]+)">')


@pytest.fixture(scope="module")
def client(live: LiveApp) -> httpx.Client:
    add_user(live.settings, "lists")
    return live.sign_in("lists")


def _listed(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return _ROW_LINK.findall(response.text)


def test_the_list_pages_through_every_case_in_order(client: httpx.Client) -> None:
    seen: list[str] = []
    for number in range(1, 7):
        seen += _listed(client.get("/cases", params={"page": number}))
    assert seen == ACCESSIONS  # 114 cases, 20 a page: six pages, each case once
    assert "page 6 of 6" in client.get("/cases?page=6").text


def test_sorting_descending_reverses_the_order(client: httpx.Client) -> None:
    assert _listed(client.get("/cases", params={"order": "desc"})) == ACCESSIONS[::-1][:20]
    page = client.get("/cases", params={"order": "desc"}).text
    assert 'aria-sort="descending">Accession' in page


def test_search_finds_cases_by_part_of_their_number(client: httpx.Client) -> None:
    part = ACCESSIONS[3][-3:]
    expected = [a for a in ACCESSIONS if part in a]
    assert _listed(client.get("/cases", params={"q": part})) == expected
    assert _listed(client.get("/cases", params={"q": ACCESSIONS[3].lower()})) == [ACCESSIONS[3]]
    none = client.get("/cases", params={"q": "%"})
    assert _listed(none) == [] and "No case matches" in none.text  # % is a character, not a wildcard


def test_page_links_keep_the_search_and_the_sort(client: httpx.Client) -> None:
    page = client.get("/cases", params={"order": "desc", "page": 2}).text
    assert 'href="/cases?order=desc&amp;page=3"' in page and 'href="/cases?order=desc"' in page
    assert 'aria-current="page"><span class="visually-hidden">Page </span>2<' in page


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"sort": "colour"}, 400, "sort must be one of"),
        ({"order": "up"}, 400, "order must be asc or desc"),
        ({"page": "0"}, 400, "page must be a whole number"),
        ({"page": "x"}, 400, "page must be a whole number"),
        ({"q": "x" * 41}, 400, "at most 40 characters"),
        ({"page": "7"}, 404, "There is no page 7 of this list: it has 6."),
    ],
)
def test_bad_list_parameters_get_a_clear_answer(client: httpx.Client, params: dict, status: int, message: str) -> None:
    response = client.get("/cases", params=params)
    assert response.status_code == status and message in response.text
    problem = client.get("/cases", params=params, headers={"accept": "application/json"})
    assert problem.headers["content-type"] == "application/problem+json" and message in problem.json()["detail"]


def test_a_case_page_shows_every_measurement_with_its_unit_and_wording(client: httpx.Client) -> None:
    case = DOC["cases"][0]
    page = client.get(f"/cases/{case['accession']}")
    assert page.status_code == 200
    assert f"<h1>Case {case['accession']}</h1>" in page.text
    for kind in DOC["measurements"]:
        value = f"{case['values'][kind['name']]:.6g}"
        row = f'<th scope="row">{kind["label"]}</th><td class="number">{value}</td><td>{kind["unit"]}</td>'
        assert row in page.text
        assert kind["description"].replace("'", "&#39;") in page.text
    assert DOC["dataset"]["description"] in page.text


def test_an_unknown_case_is_a_404_page(client: httpx.Client) -> None:
    response = client.get("/cases/FNA-9999")
    assert response.status_code == 404 and "no case with this accession number" in response.text


def test_an_error_page_keeps_the_signed_in_navigation(client: httpx.Client) -> None:
    page = client.get("/cases/FNA-9999").text
    assert '<nav aria-label="Main">' in page and "Signed in as" in page
    assert "<title>Page not found · " in page
