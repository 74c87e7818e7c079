"""Closing the loop: the service's labelled feedback as a versioned data snapshot, and the data to retrain on.

A labelled case is a stored prediction (its validated features, in contract order) joined with
the diagnosis a user confirmed through `POST /v1/feedback`. Both live in the service's SQLite
store (serve/store.py): features as float64 bytes for an all-numeric contract, JSON text
otherwise. The store is opened read-only, so an export never blocks or alters the service.

Each export is a CSV snapshot with a manifest like the embedded one (data/raw/): sha256, rows,
columns, contract, plus its source ("feedback"), the period its labels were recorded in and the
store it came from. The data a retraining run reads is another snapshot, the combination the
params name (`retrain_combine`), whose manifest lists the sha256 of each part: from a model's
metadata (`data_sha256`, the combined snapshot's) every part stays traceable.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .contract import Contract
from .features import stored_row
from .fileio import write_atomic
from .registry import sha256_file

FEEDBACK_SOURCE = "feedback"
COMBINED_SOURCE = "combined"


class FeedbackError(RuntimeError):
    """The feedback cannot be exported or used: no store, no labels, too few rows."""


@dataclass(frozen=True)
class Period:
    """Labels recorded in [since, until) (ISO 8601 UTC text as the store writes it); None is open."""

    since: str | None = None
    until: str | None = None

    def describe(self) -> str:
        return f"from {self.since or 'the first label'} to {self.until or 'the export'}"


def parse_time(text: str | None, name: str) -> str | None:
    """An ISO date or date-time as the store's UTC text (2026-12-01 → 2026-12-01T00:00:00.000+00:00)."""
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        example = "2026-12-01 or 2026-12-01T08:00"
        raise FeedbackError(f"{name} {text!r} is not an ISO date or date-time (e.g. {example})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _decode(blob: bytes | str, n_features: int) -> list[Any]:
    values = stored_row(blob)
    if len(values) != n_features:
        raise FeedbackError(f"a stored prediction has {len(values)} feature values, the contract {n_features}")
    return values


def read_labelled(store: str | Path, contract: Contract, period: Period = Period()) -> pd.DataFrame:
    """Every labelled prediction of the period: the contract's features, then its target (the
    confirmed label), then `prediction_id`, `model_version`, `predicted`, `recorded_at`."""
    store = Path(store)
    if not store.is_file():
        raise FeedbackError(
            f"prediction store not found: {store} (the service writes it under paths.data_dir of "
            "serve/config.yaml; name another with --store)"
        )
    query = (
        "SELECT p.id, p.model_version, p.label, p.features, f.label, f.recorded_at "
        "FROM feedback f JOIN predictions p ON p.id = f.prediction_id WHERE 1 = 1"
    )
    args: list[str] = []
    if period.since:
        query += " AND f.recorded_at >= ?"
        args.append(period.since)
    if period.until:
        query += " AND f.recorded_at < ?"
        args.append(period.until)
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute(query + " ORDER BY f.recorded_at, p.id", args).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise FeedbackError(f"{store} cannot be read as the service's prediction store: {exc}") from None
    names = contract.feature_names
    frame = pd.DataFrame([_decode(r[3], len(names)) for r in rows], columns=names)
    frame[contract.target.name] = [r[4] for r in rows]
    frame["prediction_id"] = [r[0] for r in rows]
    frame["model_version"] = [r[1] for r in rows]
    frame["predicted"] = [r[2] for r in rows]
    frame["recorded_at"] = [r[5] for r in rows]
    return frame


def _manifest(snapshot: Path, frame: pd.DataFrame, contract: Contract, **extra: Any) -> dict[str, Any]:
    return {
        "file": snapshot.name,
        "sha256": sha256_file(snapshot),
        "rows": int(len(frame)),
        "columns": list(frame.columns),
        "contract": f"{contract.name} v{contract.version}",
        **extra,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _write_snapshot(frame: pd.DataFrame, path: Path, manifest_extra: dict[str, Any], contract: Contract) -> Path:
    """The CSV, then its manifest beside it (`x.csv` → `x.manifest.json`); returns the manifest's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, frame.to_csv(index=False))
    manifest = path.with_suffix(".manifest.json")
    write_atomic(manifest, json.dumps(_manifest(path, frame, contract, **manifest_extra), indent=2) + "\n")
    return manifest


@dataclass(frozen=True)
class Export:
    snapshot: Path
    manifest: Path
    rows: int
    labels: dict[str, int]


def export_feedback(
    store: str | Path, contract: Contract, out_dir: str | Path, stamp: str, min_rows: int, period: Period = Period()
) -> Export:
    """Write the period's labelled cases as `feedback-<stamp>.csv` with its manifest, in contract columns."""
    labelled = read_labelled(store, contract, period)
    if labelled.empty:
        raise FeedbackError(
            f"no labelled prediction in {store} {period.describe()}: feedback comes from POST /v1/feedback "
            "(docs/api.qmd); nothing to retrain on"
        )
    if len(labelled) < min_rows:
        raise FeedbackError(
            f"only {len(labelled)} labelled prediction(s) in {store} {period.describe()}, fewer than "
            f"retrain_min_rows={min_rows} in the params file: wait for more feedback, or lower it"
        )
    target = contract.target.name
    unknown = sorted(set(labelled[target]) - set(contract.target.classes))
    if unknown:
        raise FeedbackError(f"feedback labels {unknown} are not classes of contract {contract.name}")
    snapshot = Path(out_dir) / f"feedback-{stamp}.csv"
    frame = labelled[contract.columns]
    recorded = labelled["recorded_at"]
    manifest = _write_snapshot(
        frame,
        snapshot,
        {
            "source": FEEDBACK_SOURCE,
            "store": str(store),
            "period": {"since": period.since, "until": period.until},
            "labels_recorded": {"first": recorded.min(), "last": recorded.max()},
            "model_versions": {str(k): int(v) for k, v in labelled["model_version"].value_counts().items()},
            "labels": {str(k): int(v) for k, v in frame[target].value_counts().items()},
        },
        contract,
    )
    return Export(snapshot, manifest, len(frame), {str(k): int(v) for k, v in frame[target].value_counts().items()})


@dataclass(frozen=True)
class Combined:
    snapshot: Path
    manifest: Path
    rows: int
    feedback_rows: int  # feedback rows kept
    dropped_duplicates: int  # feedback rows whose features already were in the data
    conflicting: int  # of those, how many carry another label than the row already there


def combine(
    original: pd.DataFrame,
    original_manifest: dict[str, Any] | None,
    original_snapshot: Path,
    export: Export,
    contract: Contract,
    mode: str,
    out_dir: str | Path,
    stamp: str,
) -> Combined:
    """The retraining data: `append` (the original snapshot, then the new feedback rows) or
    `feedback_only`. A feedback row whose features are already in the data (the same case sent
    again) is dropped, keeping the first: the data checks refuse duplicated feature vectors."""
    from .dataset import _dtypes  # the one reading of a snapshot's columns

    feedback = pd.read_csv(export.snapshot, dtype=_dtypes(contract))
    cols = contract.feature_names
    base = original[contract.columns] if mode == "append" else feedback.iloc[0:0]
    joined = pd.concat([base, feedback], ignore_index=True)
    repeated = joined.duplicated(subset=cols, keep="first")
    repeated_rows = joined[repeated]
    first = joined.drop_duplicates(subset=cols, keep="first").set_index(cols)[contract.target.name]
    keyed = repeated_rows.set_index(cols)[contract.target.name]
    conflicting = int((first.reindex(keyed.index).to_numpy() != keyed.to_numpy()).sum())
    frame = joined[~repeated].reset_index(drop=True)
    kept_feedback = len(frame) - len(base)
    if kept_feedback == 0 and mode == "append":
        raise FeedbackError(
            f"every one of the {export.rows} labelled case(s) is already in {original_snapshot} "
            "(same features): retraining on them would change nothing"
        )
    parts = [{"source": FEEDBACK_SOURCE, "file": str(export.snapshot), "sha256": sha256_file(export.snapshot),
              "rows": export.rows, "kept_rows": kept_feedback}]  # fmt: skip
    if mode == "append":
        parts.insert(
            0,
            {
                "source": (original_manifest or {}).get("source", "original snapshot"),
                "file": str(original_snapshot),
                "sha256": sha256_file(original_snapshot),
                "rows": int(len(base)),
            },
        )
    snapshot = Path(out_dir) / f"combined-{stamp}.csv"
    manifest = _write_snapshot(
        frame,
        snapshot,
        {
            "source": COMBINED_SOURCE,
            "combine": mode,
            "parts": parts,
            "dropped_duplicates": int(repeated.sum()),
            "conflicting_labels": conflicting,
        },
        contract,
    )
    return Combined(snapshot, manifest, len(frame), kept_feedback, int(repeated.sum()), conflicting)
