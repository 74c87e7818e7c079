"""The only module that talks to whylogs.

whylogs 1.6.4 is the last release and is unmaintained; keeping it behind this
adapter means the rest of the project depends on three functions, not on it.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")  # before whylogs is imported

import whylogs as why  # noqa: E402
from whylogs.core import DatasetProfileView  # noqa: E402

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
    return why.log(frame).view()


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
