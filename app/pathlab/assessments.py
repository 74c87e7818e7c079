"""The model's assessment of a case, kept with the case: shown again, never asked again."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pathlab import audit
from pathlab.db import now_iso, transaction
from pathlab.model_api import Prediction


@dataclass(frozen=True)
class Assessment:
    prediction_id: str
    probability: float
    label: str
    threshold: float
    model_version: str
    positive_label: str
    notice: str
    assessed_by: str
    assessed_at: str


def get(conn: sqlite3.Connection, case_id: int) -> Assessment | None:
    row = conn.execute(
        "SELECT prediction_id, probability, label, threshold, model_version, positive_label, notice, assessed_by, "
        "assessed_at FROM assessments WHERE case_id = ?",
        (case_id,),
    ).fetchone()
    return Assessment(**dict(row)) if row else None


def assessed_accessions(conn: sqlite3.Connection, accessions: list[str]) -> set[str]:
    if not accessions:
        return set()
    marks = ",".join("?" * len(accessions))
    rows = conn.execute(
        f"SELECT c.accession FROM assessments a JOIN cases c ON c.id = a.case_id WHERE c.accession IN ({marks})",
        accessions,
    )
    return {r[0] for r in rows}


def store(conn: sqlite3.Connection, case_id: int, accession: str, p: Prediction, username: str) -> Assessment:
    """Keep the first assessment of the case; a concurrent second one is dropped, the first shown."""
    with transaction(conn):
        cursor = conn.execute(
            "INSERT OR IGNORE INTO assessments (case_id, prediction_id, probability, label, threshold, model_version, "
            "positive_label, notice, assessed_by, assessed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                case_id,
                p.prediction_id,
                p.probability,
                p.label,
                p.threshold,
                p.model_version,
                p.positive_label,
                p.notice,
                username,
                now_iso(),
            ),
        )
        if cursor.rowcount:
            audit.record(
                conn,
                actor=username,
                action="case assessed by the model",
                subject=accession,
                detail=f"{p.label}, probability {p.probability:.3f}, model {p.model_version}, "
                f"prediction {p.prediction_id}",
            )
    found = get(conn, case_id)
    assert found is not None
    return found
