"""The holding file: loaded once, reloaded without duplicates, refused when malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pathlab import cases, db, seed
from pathlab.settings import PROJECT_DIR

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(
        part="Lab app: the holding file and its loading", scope="unit", strategy="example-based", tool="pytest"
    ),
]

HOLDING = PROJECT_DIR / "data" / "holding_cases.json"


@pytest.fixture
def conn(tmp_path: Path):  # type: ignore[no-untyped-def]
    conn = db.connect(tmp_path / "seed.sqlite3")
    db.migrate(conn)
    yield conn
    conn.close()


def test_the_holding_file_records_where_its_cases_come_from() -> None:
    doc = json.loads(HOLDING.read_text(encoding="utf-8"))
    source = doc["source"]
    assert source["split"].startswith("test") and source["seed"] == 42 and source["test_size"] == 0.2
    assert source["rows"] == len(doc["cases"]) == 114
    assert len(source["snapshot_sha256"]) == 64
    assert "diagnosis" not in doc["cases"][0]  # the final diagnosis is recorded in the app


def test_loading_adds_every_case_with_its_wording_and_a_reload_adds_none(conn) -> None:  # type: ignore[no-untyped-def]
    assert seed.load_holding_file(conn, HOLDING) == 114
    assert seed.load_holding_file(conn, HOLDING) == 0
    assert conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 114
    assert conn.execute("SELECT COUNT(*) FROM seed_loads").fetchone()[0] == 1
    doc = json.loads(HOLDING.read_text(encoding="utf-8"))
    first = doc["cases"][0]
    case = cases.get_case(conn, first["accession"])
    assert case is not None
    assert [m.name for m in case.measurements] == [m["name"] for m in doc["measurements"]]
    assert {m.name: m.value for m in case.measurements} == first["values"]
    radius = case.measurements[0]
    assert (radius.label, radius.unit) == (doc["measurements"][0]["label"], doc["measurements"][0]["unit"])
    assert cases.wording(conn, "measurements_note") == doc["dataset"]["description"]


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "holding.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("cases"), "no 'cases' entry"),
        (lambda d: d["cases"][1].update(accession=d["cases"][0]["accession"]), "distinct accession"),
        (lambda d: d["cases"][0]["values"].pop("mean_radius"), "exactly one value per measurement"),
        (lambda d: d["cases"][0]["values"].update(mean_radius="big"), "mean_radius not a finite number"),
        (lambda d: d["diagnosis"].update(classes=["malignant"]), "at least two"),
    ],
)
def test_a_malformed_file_is_refused_and_loads_nothing(conn, tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(HOLDING.read_text(encoding="utf-8"))
    change(doc)
    with pytest.raises(seed.SeedError, match=message):
        seed.load_holding_file(conn, _write(tmp_path, doc))
    assert conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 0


def test_a_missing_or_broken_file_is_named(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(seed.SeedError, match="not found"):
        seed.load_holding_file(conn, tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(seed.SeedError, match="not JSON"):
        seed.load_holding_file(conn, tmp_path / "broken.json")
