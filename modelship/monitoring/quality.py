"""Data quality of served traffic: what the API refused, and what it accepted but the model never saw.

The API refuses out-of-contract values with 422 (serve/schemas.py), so a broken upstream field
shows up here as rejections by field, not as odd values in the profiles. Values inside the
contract but outside the range the training data took are accepted and scored: the model
extrapolates there, so they are counted per feature.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

OTHER_FIELD = "other"


def field_key(name: str, known: frozenset[str]) -> str:
    """The field a validation error is about, without record indexes: `records.3.mean_radius`
    → `records.mean_radius`. A name the contract does not know (a client's extra key) becomes
    `other`, so that clients cannot create unbounded label values in the metrics."""
    parts = [p for p in name.split(".") if not p.isdigit()]
    if not parts:
        return OTHER_FIELD
    if parts[-1] in known:
        return ".".join(parts)
    return OTHER_FIELD


@dataclass(frozen=True)
class Rejection:
    """One refused request: where, its status and problem type, the fields it failed on (422)."""

    time: float
    route: str
    status: int
    kind: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class RejectionSummary:
    total: int
    by_reason: dict[tuple[int, str], int]
    by_field: dict[str, int]


def summarise_rejections(rejections: Iterable[Rejection]) -> RejectionSummary:
    """Counts by (status, problem type) and by field; a request failing on three fields counts
    once in `total` and once for each field."""
    by_reason: Counter[tuple[int, str]] = Counter()
    by_field: Counter[str] = Counter()
    total = 0
    for r in rejections:
        total += 1
        by_reason[(r.status, r.kind)] += 1
        by_field.update(set(r.fields))
    return RejectionSummary(total, dict(by_reason), dict(by_field))


def out_of_range(values: np.ndarray, columns: list[str], ranges: dict[str, tuple[float, float]]) -> dict[str, int]:
    """Per feature with a known range, how many of the rows (`values`, one column per name in
    `columns`) lie outside the range the training data took (strictly below its min or above
    its max)."""
    if values.ndim != 2 or values.shape[1] != len(columns):
        raise ValueError(f"values must have one column per name ({len(columns)}), not shape {values.shape}")
    out = {}
    for j, name in enumerate(columns):
        if name not in ranges:
            continue
        low, high = ranges[name]
        col = values[:, j].astype(np.float64)
        out[name] = int(np.count_nonzero((col < low) | (col > high)))
    return out
