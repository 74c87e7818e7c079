"""Loading the lab's holding file (data/holding_cases.json) into the database.

Loading is idempotent: measurement wording is refreshed, and only cases not yet in the
database are added; a case already there is never changed by a reload.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from pathlab.db import now_iso, transaction


class SeedError(ValueError):
    """The holding file is missing or not in the expected shape."""


def _check(doc: Any, path: Path) -> None:
    def fail(why: str) -> None:
        raise SeedError(f"holding file {path}: {why}")

    if not isinstance(doc, dict):
        fail("not a JSON object")
    for key in ("source", "dataset", "diagnosis", "measurements", "cases"):
        if key not in doc:
            fail(f"no {key!r} entry")
    names = [m.get("name") for m in doc["measurements"] if isinstance(m, dict)]
    if len(names) != len(doc["measurements"]) or len(set(names)) != len(names) or not names:
        fail("'measurements' must be a non-empty list of objects with distinct names")
    for m in doc["measurements"]:
        if not all(isinstance(m.get(k), str) for k in ("name", "label", "unit", "description")):
            fail(f"measurement {m.get('name')!r} needs text name, label, unit and description")
    classes = doc["diagnosis"].get("classes") if isinstance(doc["diagnosis"], dict) else None
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) and c for c in classes):
        fail("'diagnosis.classes' must list at least two names")
    seen = set()
    for case in doc["cases"]:
        accession = case.get("accession") if isinstance(case, dict) else None
        if not isinstance(accession, str) or not accession or accession in seen:
            fail(f"every case needs a distinct accession (at {accession!r})")
        seen.add(accession)
        values = case.get("values")
        if not isinstance(values, dict) or set(values) != set(names):
            fail(f"case {accession} must give exactly one value per measurement")
        bad = [k for k, v in values.items() if not isinstance(v, int | float) or not math.isfinite(v)]
        if bad:
            fail(f"case {accession}: {', '.join(bad)} not a finite number")


def load_holding_file(conn: sqlite3.Connection, path: Path) -> int:
    """Load the file; returns how many cases were added."""
    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
    except FileNotFoundError:
        raise SeedError(f"holding file not found: {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SeedError(f"holding file {path} is not JSON: {exc}") from None
    _check(doc, path)
    digest = hashlib.sha256(raw).hexdigest()
    now = now_iso()
    with transaction(conn):
        for position, m in enumerate(doc["measurements"]):
            conn.execute(
                "INSERT INTO measurement_kinds (name, position, label, unit, description) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET position = excluded.position, label = excluded.label, "
                "unit = excluded.unit, description = excluded.description",
                (m["name"], position, m["label"], m["unit"], m["description"]),
            )
        wording = {
            "measurements_note": str(doc["dataset"].get("description", "")),
            "diagnosis_note": str(doc["diagnosis"].get("description", "")),
        }
        for key, text in wording.items():
            conn.execute(
                "INSERT INTO wording (key, text) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET text = excluded.text",
                (key, text),
            )
        for position, name in enumerate(doc["diagnosis"]["classes"]):
            conn.execute(
                "INSERT INTO diagnosis_classes (name, position) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                (name, position),
            )
        added = 0
        for case in doc["cases"]:
            cursor = conn.execute(
                "INSERT INTO cases (accession, source_row, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT(accession) DO NOTHING",
                (case["accession"], int(case.get("source_row", -1)), now),
            )
            if cursor.rowcount:
                added += 1
                conn.executemany(
                    "INSERT INTO measurements (case_id, kind, value) VALUES (?, ?, ?)",
                    [(cursor.lastrowid, name, float(value)) for name, value in case["values"].items()],
                )
        if not conn.execute("SELECT 1 FROM seed_loads WHERE file_sha256 = ?", (digest,)).fetchone():
            conn.execute(
                "INSERT INTO seed_loads (file_sha256, source, loaded_at, cases_added) VALUES (?, ?, ?, ?)",
                (digest, json.dumps(doc["source"], sort_keys=True), now, added),
            )
    return added
