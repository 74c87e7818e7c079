"""The only module that talks to whylogs.

whylogs 1.6.4 is the last release and is unmaintained; keeping it behind this
adapter means the rest of the project depends on a few functions that take and return plain
values (frames, bytes, dicts), not on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")  # before whylogs is imported

import whylogs as why  # noqa: E402
from whylogs.core import DatasetProfileView  # noqa: E402
from whylogs.core.preprocessing import ColumnProperties  # noqa: E402
from whylogs.core.schema import DatasetSchema  # noqa: E402
from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores  # noqa: E402

_SUMMARY_COLUMNS = {
    "counts/n": "count",
    "counts/null": "missing",
    "distribution/mean": "mean",
    "distribution/stddev": "std",
    "distribution/min": "min",
    "distribution/q_50": "median",
    "distribution/max": "max",
    "cardinality/est": "distinct (est.)",
}


def profile(frame: pd.DataFrame) -> DatasetProfileView:
    """A statistical profile of a frame (counts, distributions, cardinality per column)."""
    schema = _dense_schema(frame)
    return (why.log(frame) if schema is None else why.log(frame, schema=schema)).view()


def _dense_schema(frame: pd.DataFrame) -> DatasetSchema | None:
    """whylogs' path for columns declared homogeneous, when every column is numeric and every value
    finite: it skips the per-value checks for missing and infinite values (a Python call per value,
    most of the cost of a large frame), which find nothing here, so the profile is the same."""
    dtypes = frame.dtypes
    if frame.empty or not all(is_numeric_dtype(t) and not is_bool_dtype(t) for t in dtypes):
        return None
    if not np.isfinite(frame.to_numpy(dtype=np.float64)).all():
        return None
    return DatasetSchema(types={c: (dtypes[c], ColumnProperties.homogeneous) for c in frame.columns})


def write_profile(view: DatasetProfileView, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(view.serialize())  # the format DatasetProfileView.read takes
    return path


def read_profile(path: str | Path) -> DatasetProfileView:
    return DatasetProfileView.read(str(path))


def summary(view: DatasetProfileView) -> pd.DataFrame:
    """One row per column with the figures people read first."""
    raw = view.to_pandas()
    present = [c for c in _SUMMARY_COLUMNS if c in raw.columns]
    table = raw[present].rename(columns=_SUMMARY_COLUMNS)
    table.index.name = "column"
    return table.sort_index()


def to_bytes(view: DatasetProfileView) -> bytes:
    return bytes(view.serialize())


def from_bytes(data: bytes) -> DatasetProfileView:
    return DatasetProfileView.deserialize(data)


def merge(views: list[DatasetProfileView]) -> DatasetProfileView | None:
    """One profile of every row the views saw (None for no view): sketches merge exactly."""
    merged: DatasetProfileView | None = None
    for view in views:
        merged = view if merged is None else merged.merge(view)
    return merged


def row_count(view: DatasetProfileView, column: str) -> int:
    """How many values of `column` the profile saw (0 when it has no such column)."""
    col = view.get_column(column)
    counts = col.get_metric("counts") if col is not None else None
    return int(counts.n.value) if counts is not None else 0


def observed_ranges(view: DatasetProfileView, columns: list[str]) -> dict[str, tuple[float, float]]:
    """The smallest and largest value each numeric column took (columns without them are left out)."""
    out = {}
    for name in columns:
        col = view.get_column(name)
        dist = col.get_metric("distribution") if col is not None else None
        if dist is None or dist.kll.value.is_empty():
            continue
        summary = dist.to_summary_dict()
        out[name] = (float(summary["min"]), float(summary["max"]))
    return out


@dataclass(frozen=True)
class ColumnDrift:
    """whylogs' test of one column against the reference: KS on the quantile sketches of a
    numeric column, chi-square on the frequent items of a categorical one."""

    algorithm: str
    statistic: float
    p_value: float


def drift_scores(view: DatasetProfileView, reference: DatasetProfileView, columns: list[str]) -> dict[str, ColumnDrift]:
    """The drift test of each of `columns` present in both profiles (a column whose test cannot
    be computed, e.g. an empty one, is left out)."""
    raw: dict[str, Any] = calculate_drift_scores(target_view=view, reference_view=reference, with_thresholds=False)
    out = {}
    for name in columns:
        score = raw.get(name)
        if score and score.get("pvalue") is not None:
            out[name] = ColumnDrift(str(score["algorithm"]), float(score["statistic"]), float(score["pvalue"]))
    return out


def rows(view: DatasetProfileView) -> int:
    """How many rows the profile saw: the largest count of any of its columns."""
    return max((row_count(view, name) for name in view.get_columns()), default=0)
