"""Compaction of the monitoring folder (serve/monitoring/compaction.py): real whylogs window
profiles of WDBC rows merged into hours, then days; every row kept once, across reruns, late
windows, retention and a process killed (SIGKILL) between any two steps (C11.2).

The profiles are real (modelship.profiling on the WDBC test split); only the clock is the
test's, passed to `maintain` as `now`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from api_support import CONTRACT, build_registry, settings_of
from pydantic import ValidationError

from modelship import profiling
from serve.monitoring import compaction
from serve.monitoring.buffer import Batch
from serve.monitoring.collector import Collector
from support import write_params

pytestmark = [
    pytest.mark.requirement("C11.2"),
    pytest.mark.catalogue(
        part="Monitoring: compaction and retention of the profile folder (serve.monitoring.compaction)",
        scope="integration",
        strategy="example-based, fault injection",
        tool="pytest, whylogs",
    ),
]

WINDOW_S = 600.0
DAY0 = 1_800_057_600.0  # a UTC midnight
HOUR = 3600.0
POLICY = compaction.Policy(window_s=WINDOW_S, retention_s=30 * 86_400, hourly_after_s=HOUR, daily_after_s=86_400)
STEPS = ("merged profile written", "manifest written", "source removed")


@pytest.fixture(scope="module")
def window_bytes(wdbc_split) -> list[tuple[bytes, int]]:
    """Eight real window profiles of 3 to 24 rows each (serialised), with their row counts."""
    test = wdbc_split.test
    out = []
    for i in range(8):
        rows = test.iloc[i * 13 : i * 13 + 3 + 3 * i]
        out.append((profiling.to_bytes(profiling.profile(rows)), len(rows)))
    return out


def lay_out(folder: Path, window_bytes, starts: list[float], tag: str = "c101") -> int:
    """Window profiles (and summaries) at these starts, as the collector names them; returns the rows."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i, start in enumerate(starts):
        data, rows = window_bytes[i % len(window_bytes)]
        name = compaction.name_of(start)
        (folder / f"{name}.{tag}.profile.bin").write_bytes(data)
        (folder / f"{name}.{tag}.summary.json").write_text(f'{{"rows": {rows}}}')
        total += rows
    return total


def counted_rows(folder: Path) -> int:
    return sum(
        profiling.row_count(profiling.read_profile(s.path), "mean_radius")
        for s in compaction.stored_profiles(folder, WINDOW_S)
    )


def levels(folder: Path) -> list[str]:
    return [s.level for s in compaction.stored_profiles(folder, WINDOW_S)]


# Two windows in each of hours 0-3 of day 0, one window in hour 1 of day 1.
STARTS = [DAY0 + h * HOUR + k * WINDOW_S for h in range(4) for k in (0, 3)] + [DAY0 + 86_400 + HOUR]


def test_windows_merge_into_hours_then_days_and_every_row_is_kept(tmp_path, window_bytes):
    folder = tmp_path / "m"
    total = lay_out(folder, window_bytes, STARTS)
    # Hours 0-3 of day 0 ended over an hour ago; day 1's window is in an hour not yet due.
    report = compaction.maintain(folder, DAY0 + 86_400 + 1000, POLICY)
    assert len(report.merged) == 4
    assert levels(folder) == [compaction.HOUR] * 4 + [compaction.WINDOW]
    assert counted_rows(folder) == total
    hour1 = next(s for s in compaction.stored_profiles(folder, WINDOW_S) if s.start == DAY0 + HOUR)
    expected = sum(window_bytes[i][1] for i in (2, 3))
    assert profiling.row_count(profiling.read_profile(hour1.path), "mean_radius") == expected
    assert len(list(folder.glob("*.c101.profile.bin"))) == 1  # the merged-away windows are gone
    assert len(list(folder.glob("*.summary.json"))) == len(STARTS)  # summaries stay per window
    # Day 0 ended a day ago: its hours become one day profile; day 1's hour is now due too.
    report = compaction.maintain(folder, DAY0 + 2 * 86_400 + 1, POLICY)
    assert levels(folder) == [compaction.DAY, compaction.HOUR]
    assert counted_rows(folder) == total
    assert not list(folder.glob("*.hour.json"))[1:]  # day 0's hour manifests went with their profiles
    day = compaction.stored_profiles(folder, WINDOW_S)[0]
    assert (day.start, day.end) == (DAY0, DAY0 + 86_400)
    assert sorted(p.name for p in folder.glob("*.profile.bin")) == sorted(
        s.path.name for s in compaction.stored_profiles(folder, WINDOW_S)
    )


def test_the_merged_profile_has_the_statistics_of_its_rows(tmp_path, window_bytes, wdbc_split):
    folder = tmp_path / "m"
    lay_out(folder, window_bytes, STARTS[:2])
    compaction.maintain(folder, DAY0 + 3 * HOUR, POLICY)
    [hour] = compaction.stored_profiles(folder, WINDOW_S)
    merged = profiling.summary(profiling.read_profile(hour.path))
    rows = np.r_[wdbc_split.test.iloc[0:3]["mean_radius"], wdbc_split.test.iloc[13:19]["mean_radius"]]
    assert merged.loc["mean_radius", "count"] == len(rows)
    assert merged.loc["mean_radius", "mean"] == pytest.approx(rows.mean())
    assert merged.loc["mean_radius", "max"] == pytest.approx(rows.max())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_second_run_changes_nothing(tmp_path, window_bytes):
    folder = tmp_path / "m"
    lay_out(folder, window_bytes, STARTS)
    compaction.maintain(folder, DAY0 + 2 * 86_400 + 1, POLICY)
    before = snapshot(folder)
    report = compaction.maintain(folder, DAY0 + 2 * 86_400 + 2, POLICY)
    assert report.merged == [] and report.removed == 0 and report.expired == 0
    assert snapshot(folder) == before


def test_a_late_window_joins_its_compacted_hour_and_day_as_a_new_generation(tmp_path, window_bytes):
    folder = tmp_path / "m"
    total = lay_out(folder, window_bytes, STARTS[:4])
    compaction.maintain(folder, DAY0 + 86_400 + 2 * HOUR, POLICY)
    first = {p.name for p in folder.glob(compaction.name_of(DAY0) + ".hour-*.profile.bin")}
    assert len(first) == 1
    total += lay_out(folder, window_bytes[5:], [DAY0 + 2 * WINDOW_S], tag="c202")  # e.g. another worker's
    compaction.maintain(folder, DAY0 + 86_400 + 2 * HOUR + 1, POLICY)
    assert counted_rows(folder) == total
    assert not first & {p.name for p in folder.glob("*.profile.bin")}  # the earlier generation went
    compaction.maintain(folder, DAY0 + 2 * 86_400 + 1, POLICY)
    late = DAY0 + HOUR + WINDOW_S
    total += lay_out(folder, window_bytes[6:], [late], tag="c303")  # after the day was compacted
    compaction.maintain(folder, DAY0 + 2 * 86_400 + 2, POLICY)
    assert levels(folder) == [compaction.DAY] and counted_rows(folder) == total


def test_retention_removes_every_level_once_its_period_is_past(tmp_path, window_bytes):
    folder = tmp_path / "m"
    total = lay_out(folder, window_bytes, STARTS)
    compaction.maintain(folder, DAY0 + 2 * 86_400 + 1, POLICY)  # day 0: a day; day 1: an hour
    recent = lay_out(folder, window_bytes[:1], [DAY0 + 40 * 86_400], tag="c404")
    short = compaction.Policy(WINDOW_S, 39 * 86_400, HOUR, 86_400)
    # The cutoff (39 days back) falls after day 0's end, before the end of day 1's hour; that
    # hour is merged into its day in the same run.
    report = compaction.maintain(folder, DAY0 + 40 * 86_400 + 2 * WINDOW_S, short)
    assert report.expired > 0
    assert levels(folder) == [compaction.DAY, compaction.WINDOW]
    assert counted_rows(folder) == total - sum(window_bytes[i][1] for i in range(8)) + recent
    assert not list(folder.glob(compaction.name_of(DAY0) + ".*"))


def crash_at(folder: Path, now: float, level: str, step: str) -> int:
    """Run `maintain` in a forked process killed with SIGKILL right after `step` of a merge into
    `level`; returns the signal that ended it."""

    def hook(merging: str, name: str) -> None:
        if (merging, name) == (level, step):
            os.kill(os.getpid(), signal.SIGKILL)

    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=compaction.maintain, args=(folder, now, POLICY, hook))
    proc.start()
    proc.join(60)
    return -proc.exitcode if proc.exitcode is not None else 0


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("level", ["hour", "day"])
def test_a_process_killed_between_steps_never_loses_nor_double_counts_a_row(tmp_path, window_bytes, step, level):
    folder = tmp_path / "m"
    total = lay_out(folder, window_bytes, STARTS)
    if level == "day":
        compaction.maintain(folder, DAY0 + 86_400 + 1000, POLICY)  # hours first; the kill comes in the day's merge
    now = DAY0 + 2 * 86_400 + 1
    assert crash_at(folder, now, level, step) == signal.SIGKILL
    assert counted_rows(folder) == total  # what a reader sees right after the crash
    compaction.maintain(folder, now, POLICY)
    assert counted_rows(folder) == total
    assert levels(folder) == [compaction.DAY, compaction.HOUR]
    assert sorted(p.name for p in folder.glob("*.profile.bin")) == sorted(
        s.path.name for s in compaction.stored_profiles(folder, WINDOW_S)
    )  # no orphan, no merged-away source left
    compaction.maintain(folder, now + 1, POLICY)
    assert counted_rows(folder) == total


def test_a_half_written_profile_or_temporary_file_is_ignored_then_removed(tmp_path, window_bytes):
    folder = tmp_path / "m"
    total = lay_out(folder, window_bytes, STARTS[:2])
    data = window_bytes[0][0]
    orphan = folder / f"{compaction.name_of(DAY0)}.hour-0badc0de.profile.bin"
    orphan.write_bytes(data[: len(data) // 2])  # killed mid-write without write_atomic: no manifest names it
    tmp = folder / f".{compaction.name_of(DAY0)}.hour.json.999.abcd1234.tmp"
    tmp.write_text('{"level": "hour", "sour')
    os.utime(tmp, (DAY0, DAY0))
    assert counted_rows(folder) == total
    compaction.maintain(folder, DAY0 + 3 * HOUR, POLICY)
    assert not orphan.exists() and not tmp.exists()
    assert counted_rows(folder) == total and levels(folder) == [compaction.HOUR]


def test_only_one_process_compacts_a_folder_at_a_time(tmp_path, window_bytes):
    folder = tmp_path / "m"
    lay_out(folder, window_bytes, STARTS[:2])
    with compaction._exclusive(folder) as mine:
        assert mine
        report = compaction.maintain(folder, DAY0 + 3 * HOUR, POLICY)
    assert report.skipped and levels(folder) == [compaction.WINDOW] * 2
    assert compaction.maintain(folder, DAY0 + 3 * HOUR, POLICY).merged


def test_the_collectors_tick_compacts_the_windows_it_closed(tmp_path, wdbc_split, contract):
    registry = build_registry(tmp_path / "registry", versions=1)
    params = write_params(tmp_path / "params.yaml", registry=str(tmp_path / "registry"), contract=str(CONTRACT))
    settings = settings_of(
        params=str(params),
        data_dir=str(tmp_path / "data"),
        window_s=WINDOW_S,
        compact_hourly_after_s=0,
        compact_daily_after_s=86_400,
    )
    now = [DAY0]
    collector = Collector(settings, contract, clock=lambda: now[0])
    assert registry.production()
    rows = wdbc_split.test.iloc[:12]
    for k, n in ((0, 5), (3, 7)):
        t = DAY0 + k * WINDOW_S + 1
        now[0] = t
        part = rows.iloc[:n]
        collector.ingest(
            Batch(
                replica="r1",
                sent_at=t,
                features=part[contract.feature_names].to_numpy(dtype=np.float64),
                probabilities=np.full(n, 0.2),
                thresholds=np.full(n, 0.5),
                versions=["v0001"] * n,
                times=np.full(n, t),
            )
        )
        now[0] = t + WINDOW_S + collector.grace_s
        collector.tick()
    # A request in the next hour; its window's close finds the first hour ended: compacted.
    now[0] = DAY0 + HOUR + 1
    empty = Batch("r1", now[0], np.empty((0, 30)), np.empty(0), np.empty(0), [], np.empty(0))
    empty.requests = [(now[0], "/v1/predict", 200, 0.001)]
    collector.ingest(empty)
    now[0] = DAY0 + HOUR + WINDOW_S + collector.grace_s
    collector.tick()
    stored = compaction.stored_profiles(settings.monitoring_dir, WINDOW_S)
    assert [s.level for s in stored] == [compaction.HOUR]
    assert profiling.row_count(profiling.read_profile(stored[0].path), "mean_radius") == 12


def test_days_before_hours_is_refused_and_the_defaults_are_an_hour_and_a_day():
    with pytest.raises(ValidationError, match="compact_daily_after_s"):
        settings_of(compact_hourly_after_s=7200, compact_daily_after_s=3600)
    m = settings_of().monitoring
    assert (m.compact_hourly_after_s, m.compact_daily_after_s) == (3600, 86_400)


def test_an_unreadable_window_profile_leaves_its_hour_alone_and_the_others_are_compacted(tmp_path, window_bytes):
    folder = tmp_path / "m"
    total = lay_out(folder, window_bytes, STARTS[:4])
    bad = folder / f"{compaction.name_of(STARTS[0])}.c101.profile.bin"
    bad.write_bytes(b"not a profile")
    report = compaction.maintain(folder, DAY0 + 3 * HOUR, POLICY)
    assert report.failed == [f"{compaction.name_of(DAY0)}.hour"] and len(report.merged) == 1
    assert levels(folder) == [compaction.WINDOW, compaction.WINDOW, compaction.HOUR]
    assert bad.exists()
    bad.write_bytes(window_bytes[0][0])  # repaired (e.g. restored): compacted at the next run
    assert compaction.maintain(folder, DAY0 + 3 * HOUR + 1, POLICY).merged
    assert counted_rows(folder) == total
