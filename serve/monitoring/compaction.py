"""Compaction and retention of the monitoring folder: window profiles into hourly, then daily ones.

A window's profile (`<start>.<collector>.profile.bin`, serve/monitoring/collector.py) is merged
into its hour once the hour ended `compact_hourly_after_s` ago, and hours (with any window not
yet merged) into their UTC day once the day ended `compact_daily_after_s` ago. Sketches merge
exactly (modelship.profiling.merge), so a merged profile answers for its rows as its sources did.

Crash safety. A merged level is two files: its profile, `<start>.<level>-<token>.profile.bin`,
and its manifest, `<start>.<level>.json`, which names that profile and the files merged into
it. Each compaction of a period goes:

1. write the merged profile (atomic; a new token, so an earlier generation is never replaced);
2. write the manifest (atomic replace): the commit point;
3. remove the sources, then the lower manifests merged away.

A reader (`stored_profiles`) counts a window profile unless a manifest lists it as a source,
and a merged profile only while a manifest names it and no higher manifest lists it. A process
killed after step 1 leaves an orphan profile that no manifest names: not counted, removed by
the next run. Killed during step 3, it leaves sources that a manifest lists: not counted, and
removed by the next run before anything else. Rows are never lost nor counted twice.

Summaries (`.summary.json`) are small and stay one per window until the retention. Retention
applies to every level: a file goes once the end of its period is `retention_s` in the past.
One compactor at a time per folder (a lock file): outside Ray, every uvicorn worker has a
collector of its own, and they share the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelship import profiling
from modelship.fileio import write_atomic

log = logging.getLogger("modelship.monitoring")

WINDOW, HOUR, DAY = "window", "hour", "day"
LEVEL_SECONDS = {HOUR: 3600.0, DAY: 86_400.0}
PROFILE_SUFFIX = ".profile.bin"
SUMMARY_SUFFIX = ".summary.json"
LOCK_FILE = ".compaction.lock"
# A temporary file of write_atomic older than this was left by a process that died mid-write.
STALE_TMP_S = 3600.0
NAME_FORMAT = "%Y%m%dT%H%M%SZ"

# Called after each step with the level being merged and the step's name: tests kill the process there.
Hook = Callable[[str, str], None]


def start_of(name: str) -> float:
    """The epoch seconds a file name starts with (`20260101T120000Z.…`)."""
    return datetime.strptime(name.split(".", 1)[0], NAME_FORMAT).replace(tzinfo=UTC).timestamp()


def name_of(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime(NAME_FORMAT)


def period_start(t: float, level: str) -> float:
    if level == DAY:
        d = datetime.fromtimestamp(t, UTC)
        return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
    return float(int(t // LEVEL_SECONDS[level]) * LEVEL_SECONDS[level])


@dataclass(frozen=True)
class Stored:
    """One profile that counts: its file, its level and the period it covers."""

    path: Path
    level: str
    start: float
    end: float


@dataclass
class Listing:
    """What the folder holds, from the file names and the manifests."""

    windows: dict[str, float] = field(default_factory=dict)  # window profile name -> start
    merged: dict[str, str] = field(default_factory=dict)  # merged profile name -> level
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # manifest name -> content
    summaries: dict[str, float] = field(default_factory=dict)  # summary name -> start
    temporaries: list[str] = field(default_factory=list)

    def merged_away(self) -> set[str]:
        """Every profile some manifest lists as merged into its own."""
        out: set[str] = set()
        for m in self.manifests.values():
            out.update(m["sources"])
        return out


def _level_of_merged(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) == 4 and name.endswith(PROFILE_SUFFIX):
        level = parts[1].split("-", 1)[0]
        if level in LEVEL_SECONDS and parts[1].startswith(level + "-"):
            return level
    return None


def _manifest_level(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) == 3 and parts[2] == "json" and parts[1] in LEVEL_SECONDS else None


def list_folder(folder: Path) -> Listing:
    out = Listing()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return out
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            if name.endswith(".tmp"):
                out.temporaries.append(name)
            continue
        try:
            start = start_of(name)
        except ValueError:
            continue  # not ours (e.g. a README)
        if (level := _manifest_level(name)) is not None:
            try:
                manifest = json.loads(Path(entry.path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # write_atomic never leaves one half-written; a vanished one is gone
            if manifest.get("level") == level:
                out.manifests[name] = manifest
        elif _level_of_merged(name) is not None:
            out.merged[name] = _level_of_merged(name) or ""
        elif name.endswith(PROFILE_SUFFIX):
            out.windows[name] = start
        elif name.endswith(SUMMARY_SUFFIX):
            out.summaries[name] = start
    return out


def counted(listing: Listing, window_s: float) -> list[Stored]:
    """The profiles a reader must count, each once, from a listing."""
    away = listing.merged_away()
    named = {m["profile"]: (m["level"], m["start_s"], m["end_s"]) for m in listing.manifests.values()}
    out = [Stored(Path(n), WINDOW, s, s + window_s) for n, s in listing.windows.items() if n not in away]
    for name in listing.merged:
        if name in named and name not in away:
            level, start, end = named[name]
            out.append(Stored(Path(name), level, float(start), float(end)))
    return sorted(out, key=lambda s: (s.start, s.end))


def stored_profiles(folder: str | Path, window_s: float) -> list[Stored]:
    """Every profile in the monitoring folder that counts, oldest first, paths included.

    Read the folder through this, not by globbing `*.profile.bin`: during a compaction the same
    rows are for a moment in a source and in its merged profile."""
    folder = Path(folder)
    return [Stored(folder / s.path, s.level, s.start, s.end) for s in counted(list_folder(folder), window_s)]


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[bool]:
    """True when this process holds the folder's compaction lock (never waits for it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Policy:
    window_s: float
    retention_s: float
    hourly_after_s: float
    daily_after_s: float
    # Periods merged per run at most: a collector back after a long stop catches up over a few ticks.
    max_periods: int = 24

    @classmethod
    def of(cls, cfg: Any) -> Policy:
        """From the settings' monitoring section."""
        return cls(cfg.window_s, cfg.retention_s, cfg.compact_hourly_after_s, cfg.compact_daily_after_s)


@dataclass
class Report:
    merged: list[str] = field(default_factory=list)  # manifests written
    removed: int = 0
    expired: int = 0
    skipped: bool = False  # another process holds the lock
    failed: list[str] = field(default_factory=list)  # periods left as they were (a profile unreadable)


def maintain(folder: str | Path, now: float, policy: Policy, hook: Hook | None = None) -> Report:
    """Finish what an interrupted run left, compact what is due, expire what is past retention.

    Cheap when there is nothing to do: one listing of the folder and no profile read."""
    folder = Path(folder)
    step = hook or (lambda _level, _name: None)
    report = Report()
    with _exclusive(folder) as mine:
        if not mine:
            report.skipped = True
            return report
        listing = list_folder(folder)
        report.removed += _recover(folder, listing, now)
        budget = policy.max_periods
        for level in (HOUR, DAY):
            after = policy.hourly_after_s if level == HOUR else policy.daily_after_s
            for start in _due(listing, level, now - after, policy.window_s)[:budget]:
                budget -= 1
                try:
                    manifest = _compact(folder, listing, level, start, policy.window_s, step)
                except Exception as exc:  # an unreadable profile: its period stays as it is, the rest goes on
                    log.warning("monitoring: cannot compact the %s from %s: %s", level, name_of(start), exc)
                    report.failed.append(f"{name_of(start)}.{level}")
                    continue
                report.merged.append(manifest)
                report.removed += _remove_merged_away(folder, listing, functools.partial(step, level))
            if budget <= 0:
                break
        report.expired = _expire(folder, listing, now - policy.retention_s, policy.window_s)
    return report


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0


def _recover(folder: Path, listing: Listing, now: float) -> int:
    """Remove what a run killed part-way left: merged-away files, orphan profiles, stale temporaries."""
    removed = _remove_merged_away(folder, listing)
    named = {m["profile"] for m in listing.manifests.values()}
    for name in [n for n in listing.merged if n not in named]:
        removed += _unlink(folder / name)
        del listing.merged[name]
    for name in listing.temporaries:
        with contextlib.suppress(FileNotFoundError):
            if now - (folder / name).stat().st_mtime > STALE_TMP_S:
                removed += _unlink(folder / name)
    return removed


def _remove_merged_away(folder: Path, listing: Listing, step: Callable[[str], None] | None = None) -> int:
    """Step 3: sources first, then the lower manifests that named them (a manifest outlives the
    profile it names). A lower manifest naming another profile is a later generation: kept."""
    removed = 0
    for manifest in list(listing.manifests.values()):
        sources = set(manifest["sources"])
        for name in manifest["sources"]:
            if name not in listing.windows and name not in listing.merged:
                continue  # removed by an earlier run: no system call for it
            removed += _unlink(folder / name)
            listing.windows.pop(name, None)
            listing.merged.pop(name, None)
            if step is not None:
                step("source removed")
        for name in manifest.get("manifests", ()):
            lower = listing.manifests.get(name)
            if lower is not None and lower["profile"] in sources:
                removed += _unlink(folder / name)
                del listing.manifests[name]
    return removed


def _due(listing: Listing, level: str, ended_before: float, window_s: float) -> list[float]:
    """Starts of the periods of `level` that ended before `ended_before` and hold a lower-level profile."""
    length = LEVEL_SECONDS[level]
    starts = set()
    for s in counted(listing, window_s):
        if s.level == WINDOW or (level == DAY and s.level == HOUR):
            p = period_start(s.start, level)
            if p + length <= ended_before:
                starts.add(p)
    return sorted(starts)


def _compact(folder: Path, listing: Listing, level: str, start: float, window_s: float, step: Hook) -> str:
    """Merge every counted profile of the period (its earlier generation included) into one."""
    end = start + LEVEL_SECONDS[level]
    sources = [s for s in counted(listing, window_s) if start <= s.start and s.end <= end]
    views = [profiling.read_profile(folder / s.path) for s in sources]
    merged = profiling.merge(views)
    assert merged is not None  # _due only names periods with a profile
    manifest_name = f"{name_of(start)}.{level}.json"
    profile_name = f"{name_of(start)}.{level}-{secrets.token_hex(4)}{PROFILE_SUFFIX}"
    write_atomic(folder / profile_name, profiling.to_bytes(merged))
    step(level, "merged profile written")
    lower = [
        n for n, m in listing.manifests.items() if n != manifest_name and m["profile"] in {s.path.name for s in sources}
    ]
    manifest = {
        "level": level,
        "start": name_of(start),
        "start_s": start,
        "end_s": end,
        "profile": profile_name,
        "rows": profiling.rows(merged),
        "sources": sorted(s.path.name for s in sources),
        "manifests": sorted(lower),
        "written_at": time.time(),
    }
    write_atomic(folder / manifest_name, json.dumps(manifest, indent=1))
    step(level, "manifest written")
    listing.manifests[manifest_name] = manifest
    listing.merged[profile_name] = level
    return manifest_name


def _expire(folder: Path, listing: Listing, cutoff: float, window_s: float) -> int:
    """Delete every file whose period ended by `cutoff`: manifest first, so its profile becomes
    an orphan (not counted) rather than a manifest naming a missing file being read."""
    expired = 0
    for name, m in list(listing.manifests.items()):
        if float(m["end_s"]) <= cutoff:
            expired += _unlink(folder / name)
            expired += _unlink(folder / m["profile"])
            listing.merged.pop(m["profile"], None)
            del listing.manifests[name]
    for names in (listing.windows, listing.summaries):
        for name, start in list(names.items()):
            if start + window_s <= cutoff:
                expired += _unlink(folder / name)
                del names[name]
    return expired
