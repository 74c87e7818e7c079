"""Cases: the list (search, sort, pages) and one case with its measurements."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, replace
from urllib.parse import urlencode

MAX_QUERY = 40


@dataclass(frozen=True)
class SortKey:
    label: str
    column: str


# Each key sorts on one SQL expression of the list query, then on the accession for a stable order.
SORT_KEYS = {
    "accession": SortKey("Accession number", "c.accession"),
    "status": SortKey("Status", "COALESCE(d.diagnosis, '')"),
    "recorded": SortKey("Date of diagnosis", "d.recorded_at"),
    "added": SortKey("Date added", "c.added_at"),
}
# Statuses a list can be narrowed to, besides each diagnosis class.
STATUSES = {"awaiting": "Awaiting diagnosis", "diagnosed": "Diagnosed"}
ORDERS = {"asc": "ascending", "desc": "descending"}


class QueryError(ValueError):
    """A list parameter has a value the list does not accept."""


@dataclass(frozen=True)
class ListQuery:
    q: str = ""
    status: str = ""
    sort: str = "accession"
    order: str = "asc"
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, str], classes: list[str]) -> ListQuery:
        q = params.get("q", "").strip()
        if len(q) > MAX_QUERY:
            raise QueryError(f"the search text is at most {MAX_QUERY} characters")
        status = params.get("status", "")
        if status and status not in STATUSES and status not in classes:
            raise QueryError(f"status must be one of {', '.join([*STATUSES, *classes])}, not {status!r}")
        sort = params.get("sort") or "accession"
        if sort not in SORT_KEYS:
            raise QueryError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
        order = params.get("order") or "asc"
        if order not in ORDERS:
            raise QueryError(f"order must be asc or desc, not {order!r}")
        raw_page = params.get("page") or "1"
        if not raw_page.isdigit() or int(raw_page) < 1 or len(raw_page) > 6:
            raise QueryError(f"page must be a whole number from 1, not {raw_page!r}")
        return cls(q, status, sort, order, int(raw_page))

    def url(self, **changes: object) -> str:
        query = replace(self, **changes)  # type: ignore[arg-type]
        params = {k: v for k, v in vars(query).items() if v not in ("", None) and (k, v) not in _DEFAULTS}
        return "/cases" + (f"?{urlencode(params)}" if params else "")


_DEFAULTS = {("sort", "accession"), ("order", "asc"), ("page", 1)}


@dataclass(frozen=True)
class CaseRow:
    accession: str
    added_at: str
    diagnosis: str | None
    recorded_by: str | None
    recorded_at: str | None


@dataclass(frozen=True)
class Page:
    rows: list[CaseRow]
    total: int
    pages: int
    query: ListQuery


# Each case with its current (latest) diagnosis, if any.
_FROM = "FROM cases c LEFT JOIN diagnoses d ON d.id = (SELECT MAX(id) FROM diagnoses WHERE case_id = c.id)"


def _where(query: ListQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if query.q:
        escaped = query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("c.accession LIKE ? ESCAPE '\\'")
        args.append(f"%{escaped}%")
    if query.status == "awaiting":
        clauses.append("d.id IS NULL")
    elif query.status == "diagnosed":
        clauses.append("d.id IS NOT NULL")
    elif query.status:
        clauses.append("d.diagnosis = ?")
        args.append(query.status)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def list_cases(conn: sqlite3.Connection, query: ListQuery, page_size: int) -> Page:
    where, args = _where(query)
    total = int(conn.execute(f"SELECT COUNT(*) {_FROM} {where}", args).fetchone()[0])
    pages = max(1, math.ceil(total / page_size))
    direction = "ASC" if query.order == "asc" else "DESC"
    rows = conn.execute(
        f"SELECT c.accession, c.added_at, d.diagnosis, d.recorded_by, d.recorded_at {_FROM} {where} "
        f"ORDER BY {SORT_KEYS[query.sort].column} {direction}, c.accession {direction} LIMIT ? OFFSET ?",
        [*args, page_size, (query.page - 1) * page_size],
    ).fetchall()
    return Page([CaseRow(**dict(r)) for r in rows], total, pages, query)


@dataclass(frozen=True)
class Measurement:
    name: str
    label: str
    unit: str
    description: str
    value: float


@dataclass(frozen=True)
class Case:
    id: int
    accession: str
    added_at: str
    measurements: list[Measurement]


def get_case(conn: sqlite3.Connection, accession: str) -> Case | None:
    row = conn.execute("SELECT id, accession, added_at FROM cases WHERE accession = ?", (accession,)).fetchone()
    if row is None:
        return None
    measurements = conn.execute(
        "SELECT k.name, k.label, k.unit, k.description, m.value FROM measurements m "
        "JOIN measurement_kinds k ON k.name = m.kind WHERE m.case_id = ? ORDER BY k.position",
        (row["id"],),
    ).fetchall()
    return Case(row["id"], row["accession"], row["added_at"], [Measurement(**dict(m)) for m in measurements])


def wording(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT text FROM wording WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else ""


def existing_accessions(conn: sqlite3.Connection, candidates: set[str]) -> set[str]:
    """Which of these audit subjects are cases (the others are accounts)."""
    if not candidates:
        return set()
    marks = ",".join("?" * len(candidates))
    return {r[0] for r in conn.execute(f"SELECT accession FROM cases WHERE accession IN ({marks})", list(candidates))}
