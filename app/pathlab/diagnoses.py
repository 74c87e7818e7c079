"""Recording a case's final diagnosis: the form's rules, the record, and its audit event."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pathlab import audit, outbox
from pathlab.db import now_iso, transaction

MAX_COMMENT = 2000
MAX_REASON = 500


@dataclass(frozen=True)
class Diagnosis:
    id: int
    diagnosis: str
    comment: str
    reason: str
    recorded_by: str
    recorded_at: str


class StaleForm(Exception):
    """Someone recorded a diagnosis for this case after the form was opened."""


def classes(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM diagnosis_classes ORDER BY position")]


def history(conn: sqlite3.Connection, case_id: int) -> list[Diagnosis]:
    """Every diagnosis of the case, the current one first."""
    rows = conn.execute(
        "SELECT id, diagnosis, comment, reason, recorded_by, recorded_at FROM diagnoses WHERE case_id = ? "
        "ORDER BY id DESC",
        (case_id,),
    ).fetchall()
    return [Diagnosis(**dict(row)) for row in rows]


def validate(form: dict[str, str], allowed: list[str], current: Diagnosis | None) -> dict[str, str]:
    """Field name -> what to fix; empty when the form can be recorded."""
    errors = {}
    choice = form.get("diagnosis", "")
    if choice not in allowed:
        errors["diagnosis"] = "Choose the final diagnosis: " + " or ".join(allowed)
    elif current is not None and choice == current.diagnosis:
        errors["diagnosis"] = f"The case is already recorded as {choice}: choose the other diagnosis to change it"
    if len(form.get("comment", "")) > MAX_COMMENT:
        errors["comment"] = f"The comment must be {MAX_COMMENT} characters or fewer"
    reason = form.get("reason", "").strip()
    if current is not None and not reason:
        errors["reason"] = f"Say why the diagnosis changes from {current.diagnosis}"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"The reason must be {MAX_REASON} characters or fewer"
    return errors


def record(
    conn: sqlite3.Connection,
    *,
    case_id: int,
    accession: str,
    diagnosis: str,
    comment: str,
    reason: str,
    username: str,
    based_on: int | None,
    prediction_id: str | None = None,
) -> Diagnosis:
    """Append the diagnosis and its audit event in one transaction.

    `based_on` is the diagnosis the form showed: if another one was recorded since, the
    form is stale and nothing is written, so no one overwrites a colleague's diagnosis unseen.
    With the `prediction_id` of the case's assessment, the diagnosis is queued for the model's
    service in the same transaction (outbox.py), so it cannot be recorded and not queued.
    """
    with transaction(conn):
        latest = conn.execute("SELECT MAX(id) FROM diagnoses WHERE case_id = ?", (case_id,)).fetchone()[0]
        if latest != based_on:
            raise StaleForm
        previous = conn.execute("SELECT diagnosis FROM diagnoses WHERE id = ?", (latest,)).fetchone()
        at = now_iso()
        cursor = conn.execute(
            "INSERT INTO diagnoses (case_id, diagnosis, comment, reason, recorded_by, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (case_id, diagnosis, comment.strip(), reason.strip(), username, at),
        )
        if prediction_id is not None:
            outbox.enqueue(conn, prediction_id=prediction_id, case_id=case_id, label=diagnosis)
        if previous is None:
            audit.record(conn, actor=username, action="diagnosis recorded", subject=accession, detail=diagnosis)
        else:
            audit.record(
                conn,
                actor=username,
                action="diagnosis changed",
                subject=accession,
                detail=f"{previous[0]} to {diagnosis}; reason: {reason.strip()}",
            )
    return Diagnosis(int(cursor.lastrowid or 0), diagnosis, comment.strip(), reason.strip(), username, at)
