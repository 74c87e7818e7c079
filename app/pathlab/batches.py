"""Batch assessment: cases chosen from the list, sent to the model in requests no larger than the
API's cap, with each request's outcome kept so that the job page shows progress and a failed
request can be tried again. Nothing is lost: a case is `waiting` until its assessment is
stored, `failed` (with the reason) if its request was refused, and a retry puts it back.

`run` is called by the app's batch worker (model_link.py), in a worker thread, with the API's
operations passed in, so it is tested here without a server."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pathlab import assessments, audit, cases, model_api
from pathlab.db import now_iso, transaction
from pathlab.model_api import Prediction

MAX_CASES = 500  # cases in one job: a few pages of the list

# How the API names a record's field in a 422's invalid_params (docs/api.qmd: records.0.mean_radius).
_RECORD_PARAM = re.compile(r"^records\.(\d+)(?:\.|$)")

Predict = Callable[[list[dict[str, float]]], list[Prediction]]


class BatchError(ValueError):
    """The selection cannot make a job; the message says why."""


@dataclass(frozen=True)
class Chunk:
    number: int | None  # None: not sent yet
    state: str
    accessions: list[str]
    error: str


@dataclass(frozen=True)
class Progress:
    job_id: int
    created_by: str
    created_at: str
    total: int
    assessed: int
    failed: int
    waiting: int
    chunks: list[Chunk]

    @property
    def finished(self) -> bool:
        return self.waiting == 0

    def summary(self) -> str:
        text = f"{self.assessed} of {self.total} case{'s' if self.total != 1 else ''} assessed"
        if self.failed:
            text += f", {self.failed} not assessed (the model's service refused or did not answer)"
        if self.waiting:
            text += f", {self.waiting} waiting"
        return text + "."

    def as_json(self) -> dict[str, object]:
        return {
            "job": self.job_id,
            "total": self.total,
            "assessed": self.assessed,
            "failed": self.failed,
            "waiting": self.waiting,
            "finished": self.finished,
            "summary": self.summary(),
        }


def create(conn: sqlite3.Connection, accessions: Sequence[str], username: str) -> int:
    """A job for the chosen cases (known ones, each once, in the order given)."""
    chosen = list(dict.fromkeys(a for a in accessions if a))
    if not chosen:
        raise BatchError("Select at least one case to assess")
    if len(chosen) > MAX_CASES:
        raise BatchError(f"Select at most {MAX_CASES} cases for one batch")
    marks = ",".join("?" * len(chosen))
    ids = {r[0]: r[1] for r in conn.execute(f"SELECT accession, id FROM cases WHERE accession IN ({marks})", chosen)}
    unknown = [a for a in chosen if a not in ids]
    if unknown:
        raise BatchError(f"There is no case {unknown[0]}: choose cases from the list")
    with transaction(conn):
        job = conn.execute(
            "INSERT INTO batch_jobs (created_by, created_at) VALUES (?, ?)", (username, now_iso())
        ).lastrowid
        assert job is not None
        # A case assessed already keeps its assessment: it counts as done at once.
        conn.executemany(
            "INSERT INTO batch_items (job_id, case_id, position, state) VALUES (?, ?, ?, "
            "CASE WHEN EXISTS (SELECT 1 FROM assessments WHERE case_id = ?) THEN 'assessed' ELSE 'waiting' END)",
            [(job, ids[a], i, ids[a]) for i, a in enumerate(chosen)],
        )
        audit.record(
            conn,
            actor=username,
            action="batch assessment asked",
            subject=f"batch {job}",
            detail=f"{len(chosen)} case(s)",
        )
    return int(job)


def progress(conn: sqlite3.Connection, job_id: int) -> Progress | None:
    job = conn.execute("SELECT id, created_by, created_at FROM batch_jobs WHERE id = ?", (job_id,)).fetchone()
    if job is None:
        return None
    rows = conn.execute(
        "SELECT c.accession, i.state, i.chunk, i.error FROM batch_items i JOIN cases c ON c.id = i.case_id "
        "WHERE i.job_id = ? ORDER BY i.chunk IS NULL, i.chunk, i.position",
        (job_id,),
    ).fetchall()
    chunks: list[Chunk] = []
    for row in rows:
        state = "waiting" if row["state"] == "sending" else row["state"]
        last = chunks[-1] if chunks else None
        if last is not None and last.number == row["chunk"] and last.state == state and last.error == row["error"]:
            last.accessions.append(row["accession"])
        else:
            chunks.append(Chunk(row["chunk"], state, [row["accession"]], row["error"]))
    count = {s: sum(len(c.accessions) for c in chunks if c.state == s) for s in ("assessed", "failed", "waiting")}
    return Progress(
        job["id"],
        job["created_by"],
        job["created_at"],
        len(rows),
        count["assessed"],
        count["failed"],
        count["waiting"],
        chunks,
    )


def retry(conn: sqlite3.Connection, job_id: int, username: str) -> int:
    """Put the job's failed cases back in the queue; returns how many."""
    with transaction(conn):
        n = conn.execute(
            "UPDATE batch_items SET state = 'waiting', chunk = NULL, error = '' WHERE job_id = ? AND state = 'failed'",
            (job_id,),
        ).rowcount
        if n:
            audit.record(
                conn,
                actor=username,
                action="batch assessment retried",
                subject=f"batch {job_id}",
                detail=f"{n} case(s)",
            )
    return n


def _has_waiting(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM batch_items WHERE state = 'waiting' LIMIT 1").fetchone() is not None


def release_interrupted(conn: sqlite3.Connection) -> None:
    """At start: cases left `sending` by a stopped app were never stored; they wait again."""
    with transaction(conn):
        conn.execute("UPDATE batch_items SET state = 'waiting', chunk = NULL WHERE state = 'sending'")


def _claim(conn: sqlite3.Connection, cap: int) -> tuple[int, int, str, list[tuple[int, str]]] | None:
    """The next request's cases (one job's, at most `cap`), marked `sending` under one chunk number."""
    with transaction(conn):
        first = conn.execute(
            "SELECT job_id FROM batch_items WHERE state = 'waiting' ORDER BY job_id, position LIMIT 1"
        ).fetchone()
        if first is None:
            return None
        job = int(first[0])
        owner = str(conn.execute("SELECT created_by FROM batch_jobs WHERE id = ?", (job,)).fetchone()[0])
        rows = conn.execute(
            "SELECT i.case_id, c.accession FROM batch_items i JOIN cases c ON c.id = i.case_id "
            "WHERE i.job_id = ? AND i.state = 'waiting' ORDER BY i.position LIMIT ?",
            (job, cap),
        ).fetchall()
        chunk = int(
            conn.execute("SELECT COALESCE(MAX(chunk), 0) + 1 FROM batch_items WHERE job_id = ?", (job,)).fetchone()[0]
        )
        conn.executemany(
            "UPDATE batch_items SET state = 'sending', chunk = ? WHERE job_id = ? AND case_id = ?",
            [(chunk, job, r["case_id"]) for r in rows],
        )
    return job, chunk, owner, [(int(r["case_id"]), str(r["accession"])) for r in rows]


def _fail(conn: sqlite3.Connection, job: int, chunk: int, exc: model_api.ModelApiError) -> None:
    reason = f"{exc.what} {exc.todo}"
    if isinstance(exc, model_api.Invalid) and exc.invalid_params:
        named = "; ".join(f"{p.get('name', '')}: {p.get('reason', '')}" for p in exc.invalid_params[:3])
        reason = f"{exc.what} ({named}) {exc.todo}"
    with transaction(conn):
        conn.execute(
            "UPDATE batch_items SET state = 'failed', error = ? WHERE job_id = ? AND chunk = ? AND state = 'sending'",
            (reason, job, chunk),
        )


def _refuse_records(
    conn: sqlite3.Connection, job: int, chunk: int, items: list[tuple[int, str]], exc: model_api.Invalid
) -> None:
    """A 422 refuses the whole request; when it names the records at fault, only those cases
    fail (with their field and reason) and the others wait for the next request."""
    named: dict[int, list[str]] = {}
    for param in exc.invalid_params:
        found = _RECORD_PARAM.match(str(param.get("name", "")))
        if found and int(found.group(1)) < len(items):
            named.setdefault(int(found.group(1)), []).append(f"{param.get('name')}: {param.get('reason', '')}")
    if not named:
        _fail(conn, job, chunk, exc)
        return
    with transaction(conn):
        for index, (case_id, _) in enumerate(items):
            if index in named:
                reason = f"{exc.what} ({'; '.join(named[index][:3])}) {exc.todo}"
                conn.execute(
                    "UPDATE batch_items SET state = 'failed', error = ? WHERE job_id = ? AND case_id = ?",
                    (reason, job, case_id),
                )
            else:
                conn.execute(
                    "UPDATE batch_items SET state = 'waiting', chunk = NULL WHERE job_id = ? AND case_id = ?",
                    (job, case_id),
                )


def run(conn: sqlite3.Connection, predict: Predict, cap: Callable[[], int]) -> int:
    """Send every waiting case, one request per chunk; returns how many requests were sent.
    A refused request marks its cases failed and the next chunk goes on: each chunk's outcome
    is its own, and the job page shows them all."""
    requests = 0
    while _has_waiting(conn):  # the cap is asked for only when there is something to send
        try:
            size = cap()
        except model_api.ModelApiError as exc:
            claimed = _claim(conn, MAX_CASES)  # nothing can be sent: the waiting cases say why
            if claimed is not None:
                _fail(conn, claimed[0], claimed[1], exc)
            continue
        claimed = _claim(conn, size)
        if claimed is None:
            break
        job, chunk, owner, items = claimed
        records = []
        for case_id, accession in items:
            case = cases.get_case(conn, accession)
            assert case is not None and case.id == case_id
            records.append({m.name: m.value for m in case.measurements})
        requests += 1
        try:
            predictions = predict(records)
        except model_api.Invalid as exc:
            _refuse_records(conn, job, chunk, items, exc)
            continue
        except model_api.ModelApiError as exc:
            _fail(conn, job, chunk, exc)
            continue
        if len(predictions) != len(items):
            _fail(conn, job, chunk, model_api.BadAnswer("one prediction per record was expected"))
            continue
        for (case_id, accession), prediction in zip(items, predictions, strict=True):
            assessments.store(conn, case_id, accession, prediction, owner)
        with transaction(conn):
            conn.execute(
                "UPDATE batch_items SET state = 'assessed', error = '' WHERE job_id = ? AND chunk = ?", (job, chunk)
            )
    return requests
