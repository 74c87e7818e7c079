"""The collector in process: batches of several replicas in, one profile and summary per window
out, written atomically, kept for the retention; the replica's buffer (C11.2, C11.6).

Real parts throughout: a registry with a fitted model and the training data's reference profile,
the SQLite store with feedback, whylogs profiles on disk; only the clock is the test's, so that
windows close when the test says.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from api_support import CONTRACT, build_registry, settings_of

from modelship import profiling
from modelship.monitoring.drift import DRIFT, NO_DRIFT
from modelship.monitoring.performance import MEASURED, NOT_ENOUGH_LABELS
from serve.monitoring.buffer import Batch, Buffer, assemble
from serve.monitoring.collector import PROFILE_ROWS, Collector, window_name
from serve.store import PredictionRow, Store, new_prediction_ids, utcnow
from support import write_params
from tests.monitoring.conftest import shifted

pytestmark = [
    pytest.mark.requirement("C11.2", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring: the collector and the replica buffer (serve.monitoring)",
        scope="integration",
        strategy="example-based, behavioural",
        tool="pytest, whylogs",
    ),
]

WINDOW_S = 10.0
T0 = 1_800_000_000.0  # a window boundary (a multiple of WINDOW_S)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup(tmp_path: Path, wdbc_split, contract):
    registry = build_registry(tmp_path / "registry", versions=1)
    profiling.write_profile(wdbc_split.reference, registry.version_dir("v0001") / "reference_profile.bin")
    registry.update_metadata("v0001", confusion={"tp": 40, "fp": 6, "tn": 66, "fn": 2})
    params = write_params(tmp_path / "params.yaml", registry=str(tmp_path / "registry"), contract=str(CONTRACT))
    settings = settings_of(
        params=str(params), data_dir=str(tmp_path / "data"), window_s=WINDOW_S, handoff_s=1.0, min_labels=5
    )
    clock = Clock(T0)
    return Collector(settings, contract, clock=clock), clock, settings, wdbc_split


def batch_of(frame, features, times, replica="r1", version="v0001", threshold=0.3, p=None) -> Batch:
    n = len(frame)
    return Batch(
        replica=replica,
        sent_at=float(times[-1]),
        features=frame[features].to_numpy(dtype=np.float64),
        probabilities=np.full(n, 0.2) if p is None else np.asarray(p, dtype=np.float64),
        thresholds=np.full(n, threshold),
        versions=[version] * n,
        times=np.asarray(times, dtype=np.float64),
    )


def test_two_replicas_rows_land_in_one_window_profile_written_atomically(setup):
    collector, clock, settings, data = setup
    half = len(data.test) // 2
    first, second = data.test.iloc[:half], data.test.iloc[half:]
    collector.ingest(batch_of(first, data.features, np.full(len(first), T0 + 1), replica="r1"))
    collector.ingest(batch_of(second, data.features, np.full(len(second), T0 + 2), replica="r2"))
    assert collector.tick() == []  # still open
    clock.t = T0 + WINDOW_S + collector.grace_s
    [summary] = collector.tick()
    assert summary["rows"] == len(data.test) and summary["replicas"] == 2
    name = window_name(T0)
    folder = settings.monitoring_dir
    view = profiling.read_profile(folder / f"{name}.{collector.tag}.profile.bin")
    assert profiling.row_count(view, "mean_radius") == len(data.test)
    assert profiling.row_count(view, "probability") == len(data.test)
    assert json.loads((folder / f"{name}.{collector.tag}.summary.json").read_text())["rows"] == len(data.test)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert summary["drift"]["verdict"] == NO_DRIFT
    assert summary["model_version"] == "v0001"
    assert summary["prediction_mix"]["reference"]["positive_share"] == pytest.approx(46 / 114)


def test_rows_wait_for_one_large_profile_call_and_none_is_lost_at_the_close(setup):
    collector, clock, settings, data = setup
    rows = data.test.sample(PROFILE_ROWS + 500, replace=True, random_state=0)
    cuts = [0, PROFILE_ROWS - 100, PROFILE_ROWS + 200, len(rows)]  # the second batch crosses the threshold
    for i in range(3):
        part = rows.iloc[cuts[i] : cuts[i + 1]]
        collector.ingest(batch_of(part, data.features, np.full(len(part), T0 + 1 + i)))
    [window] = collector._open.values()
    assert window.view is not None and profiling.row_count(window.view, "mean_radius") < len(rows)
    waiting = sum(len(w) for w in window.waiting)
    assert 0 < waiting < PROFILE_ROWS  # profiled once past the threshold, the rest waits
    clock.t = T0 + WINDOW_S + collector.grace_s
    [summary] = collector.tick()
    view = profiling.read_profile(settings.monitoring_dir / f"{window_name(T0)}.{collector.tag}.profile.bin")
    assert summary["rows"] == profiling.row_count(view, "mean_radius") == len(rows)


def test_shifted_rows_make_a_drifted_window(setup):
    collector, clock, _, data = setup
    scale = data.train[data.features].std()
    moved = shifted(data.test, ["mean_radius", "mean_texture", "worst_smoothness"], 1.0, scale)
    collector.ingest(batch_of(moved, data.features, np.full(len(moved), T0 + 3)))
    clock.t = T0 + 100
    [summary] = collector.tick()
    assert summary["drift"]["verdict"] == DRIFT
    assert {"mean_radius", "mean_texture", "worst_smoothness"} <= set(summary["drift"]["drifted"])
    assert len(summary["drift"]["features"]) == len(data.features)


def test_rows_are_split_by_their_own_time_and_late_rows_are_counted(setup):
    collector, clock, _, data = setup
    rows = data.test.iloc[:10]
    times = np.r_[np.full(5, T0 + 9.5), np.full(5, T0 + WINDOW_S + 0.5)]
    collector.ingest(batch_of(rows, data.features, times))
    clock.t = T0 + WINDOW_S + collector.grace_s
    [first] = collector.tick()
    assert first["rows"] == 5
    # A row stamped in the closed window, arriving after its close, goes to the open one.
    collector.ingest(batch_of(rows.iloc[:2], data.features, np.full(2, T0 + 1)))
    clock.t = T0 + 2 * WINDOW_S + collector.grace_s
    [second] = collector.tick()
    assert second["rows"] == 7 and second["late_rows"] == 2
    assert collector.state()["counters"]["late_rows"] == 2


def test_windows_close_without_traffic_and_old_files_expire(setup, tmp_path):
    collector, clock, settings, data = setup
    collector.ingest(batch_of(data.test.iloc[:3], data.features, np.full(3, T0 + 1)))
    clock.t = T0 + 60
    collector.tick()
    folder = settings.monitoring_dir
    assert len(list(folder.glob("*.summary.json"))) == 1
    clock.t = T0 + settings.monitoring.retention_s + 60
    collector.ingest(batch_of(data.test.iloc[:3], data.features, np.full(3, clock.t - 30)))
    clock.t += 60
    collector.tick()
    names = sorted(p.name.split(".")[0] for p in folder.glob("*.summary.json"))
    assert window_name(T0) not in names and len(names) == 1


def test_out_of_range_rows_and_operations_are_counted(setup):
    collector, clock, _, data = setup
    rows = data.test.iloc[:20].copy()
    high = data.train["mean_radius"].max()
    rows.loc[rows.index[:4], "mean_radius"] = high + 1.0
    batch = batch_of(rows, data.features, np.full(20, T0 + 1))
    batch.requests = [(T0 + 1, "/v1/predict", 200, 0.002)] * 9 + [(T0 + 1, "/v1/predict", 422, 0.001)]
    collector.ingest(batch)
    clock.t = T0 + 60
    [summary] = collector.tick()
    assert summary["quality"]["out_of_range"]["mean_radius"] == 4
    assert summary["quality"]["out_of_range_rows_share"]["mean_radius"] == pytest.approx(0.2)
    ops = summary["operations"]
    assert ops["requests"] == 10 and ops["errors_by_status"] == {"422": 1}
    assert ops["latency_s"]["p50"] == pytest.approx(0.002)
    assert ops["requests_per_s"] == pytest.approx(1.0)
    assert summary["estimated_performance"]["n"] == 20


def test_live_performance_reads_the_feedback_in_the_store(setup):
    collector, clock, settings, data = setup
    store = Store(settings.paths.store)
    ids = new_prediction_ids(8)
    m, b = "malignant", "benign"
    labels = [m, m, m, b, b, b, m, b]
    truth = [m, m, b, b, b, b, m, m]
    store.add_predictions(
        [PredictionRow(i, "clinic", utcnow(), "v0001", lab, 0.5, 0.3, b"") for i, lab in zip(ids, labels, strict=True)]
    )
    store.flush()
    assert collector.live_performance(time.time()).status == NOT_ENOUGH_LABELS
    for i, t in zip(ids, truth, strict=True):
        store.add_feedback(i, "clinic", t)
    store.close()
    live = collector.live_performance(time.time())
    assert live.status == MEASURED and live.n == 8
    assert live.recall.value == pytest.approx(3 / 4) and live.precision.value == pytest.approx(3 / 4)
    assert live.accuracy.value == pytest.approx(6 / 8)


def test_a_version_without_reference_is_not_judged(setup):
    collector, clock, _, data = setup
    collector.ingest(batch_of(data.test, data.features, np.full(len(data.test), T0 + 1), version="v0404"))
    clock.t = T0 + 60
    [summary] = collector.tick()
    assert summary["drift"]["verdict"] == "no reference" and summary["rows"] == len(data.test)


def test_the_buffer_joins_rows_only_when_taken_and_is_bounded(contract, wdbc_split):
    buffer = Buffer(len(contract.feature_names), max_rows=5)
    rows = wdbc_split.test[contract.feature_names].to_numpy(dtype=np.float64)
    buffer.add_scored(rows[:2], [0.1, 0.9], "v0001", 0.3)
    buffer.add_scored(rows[2:5], [0.2, 0.3, 0.4], "v0002", 0.4)
    buffer.add_scored(rows[5:7], [0.5, 0.6], "v0002", 0.4)  # over max_rows: dropped, counted
    buffer.add_request("/v1/predict", 200, 0.001)
    batch = assemble(*buffer.take())
    assert batch.rows == 5 and batch.dropped_rows == 2
    assert np.array_equal(batch.features, rows[:5])
    assert batch.versions == ["v0001"] * 2 + ["v0002"] * 3
    assert batch.thresholds.tolist() == [0.3, 0.3, 0.4, 0.4, 0.4]
    assert len(batch.requests) == 1 and not buffer.pending()
