"""The collector: every replica's batches in, one profile and one set of metrics per window out.

One collector per application sees every replica's rows, so its figures are the service's, not
one replica's (a scrape through the shared port would reach a replica at random). It runs as a
detached Ray actor (serve/monitoring/sinks.py) or, outside Ray, in a thread of the process; in
both cases never on a replica's event loop.

A window [start, start + window_s) closes `grace_s` after its end, so that rows still in a
replica's buffer at the boundary (at most `handoff_s` old) land in it; a row arriving later
still is counted in the window that is open (and as late). At close the window's profile and
summary are written atomically under `monitoring_dir`, then compacted and expired (compaction.py).
A restart of the collector loses the open windows and its counters; closed windows are on disk,
and so is every alert's state (alert-state.json, written with each window), which a new
collector takes back: an alert firing before the restart is still firing after it, and is not
reported a second time.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from modelship import profiling
from modelship.contract import Contract
from modelship.fileio import write_atomic
from modelship.monitoring.alerts import ALERT_STATE_FILE, Alerts, load_rules
from modelship.monitoring.drift import NO_REFERENCE, DriftPolicy, DriftReport, assess_drift
from modelship.monitoring.mix import prediction_mix, reference_mix
from modelship.monitoring.performance import estimated_performance, live_performance
from modelship.monitoring.quality import Rejection, out_of_range, summarise_rejections
from modelship.registry import Registry, RegistryError
from serve.monitoring import compaction
from serve.monitoring.buffer import Batch
from serve.monitoring.notify import Notifier
from serve.settings import Settings

log = logging.getLogger("modelship.monitoring")

REFERENCE_FILE = "reference_profile.bin"
PROBABILITY = "probability"
# Seconds, for the latency histogram (Prometheus buckets: cumulative counts at or below each).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KEPT_SUMMARIES = 60
# A whylogs call costs a fixed amount whatever its size: a window's rows wait (as numpy, in the
# window) until this many are there, or the window closes, and are profiled in one call.
PROFILE_ROWS = 4096
# The route whose refusals are the data-quality rate (the others' 422s are not about features).
PREDICT_ROUTE = "/v1/predict"


def window_name(start: float) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Window:
    start: float
    end: float
    view: Any = None  # the merged profile of the rows profiled so far
    waiting: list[np.ndarray] = field(default_factory=list)  # rows not yet profiled, probability last
    probabilities: list[np.ndarray] = field(default_factory=list)
    thresholds: list[np.ndarray] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)
    out_of_range: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    predict_requests: int = 0
    replicas: set[str] = field(default_factory=set)
    rows: int = 0
    late_rows: int = 0


@dataclass(frozen=True)
class Reference:
    view: Any
    ranges: dict[str, tuple[float, float]]
    metadata: dict[str, Any]


class Collector:
    def __init__(self, settings: Settings, contract: Contract, clock: Any = time.time) -> None:
        self.cfg = settings.monitoring
        self.folder = settings.monitoring_dir
        self.registry = Registry(settings.paths.registry)
        self.store_path = settings.paths.store
        self.features = contract.feature_names
        self.numeric = [f.name for f in contract.features if f.is_numeric]
        self.positive = contract.target.positive
        self.policy = DriftPolicy(
            alpha=self.cfg.drift_alpha,
            min_rows=self.cfg.min_window_rows,
            min_statistic=self.cfg.drift_min_statistic,
            min_drifted_features=self.cfg.min_drifted_features,
        )
        self.grace_s = 2 * self.cfg.handoff_s + 1.0
        # In the file names: two collectors writing one folder (one per uvicorn worker, outside
        # Ray) must not replace each other's windows; a reader merges a window's files.
        self.tag = f"c{os.getpid()}"
        self.clock = clock
        self.started_at = clock()
        self._lock = threading.Lock()
        self._open: dict[float, Window] = {}
        self._references: dict[str, Reference | None] = {}
        self.summaries: deque[dict[str, Any]] = deque(maxlen=KEPT_SUMMARIES)
        # Since this collector started (Prometheus counters: a restart is a counter reset).
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency_buckets: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.rejections: Counter[tuple[int, str]] = Counter()
        self.rejected_fields: Counter[str] = Counter()
        self.rows_total = 0
        self.late_rows_total = 0
        self.dropped_by_replica: dict[str, int] = {}
        self.batches = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # A bad rules file stops the collector here, with the file and the rule in the message.
        self.alerts = Alerts(load_rules(settings.alert_rules_path))
        self._restore_alerts()
        self.notifier = Notifier(settings, self.folder)

    def _restore_alerts(self) -> None:
        path = self.folder / ALERT_STATE_FILE
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:  # unreadable: start afresh rather than not at all
            log.warning("alert states not restored from %s: %s", path, exc)
            return
        for reason in self.alerts.restore(saved):
            log.warning("alert state not restored from %s: %s", path, reason)

    # -- input -----------------------------------------------------------------------------
    def _window_for(self, t: float) -> tuple[Window, bool]:
        """The open window holding time t, opened if needed; late (True) when t's own window closed."""
        w = self.cfg.window_s
        start = float(np.floor(t / w) * w)
        late = False
        if start not in self._open and start + w + self.grace_s <= self.clock():
            late = True
            start = float(np.floor(self.clock() / w) * w)
        if start not in self._open:
            self._open[start] = Window(start, start + w)
        return self._open[start], late

    def ingest(self, batch: Batch) -> int:
        """Profile a replica's batch into its windows; returns the rows taken."""
        with self._lock:
            self.batches += 1
            self.dropped_by_replica[batch.replica] = batch.dropped_rows
            for t, route, status, seconds in batch.requests:
                window, _ = self._window_for(t)
                window.latencies.append(seconds)
                window.statuses[status] += 1
                window.predict_requests += route == PREDICT_ROUTE
                window.replicas.add(batch.replica)
                self._count_request(route, status, seconds)
            for r in batch.rejections:
                self._window_for(r.time)[0].rejections.append(r)
                self.rejections[(r.status, r.kind)] += 1
                self.rejected_fields.update(set(r.fields))
            if batch.rows:
                self._ingest_rows(batch)
            return batch.rows

    def _count_request(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        buckets = self.latency_buckets.setdefault(route, [0] * (len(LATENCY_BUCKETS) + 1))
        i = int(np.searchsorted(LATENCY_BUCKETS, seconds, side="left"))
        buckets[i] += 1
        self.latency_sum[route] = self.latency_sum.get(route, 0.0) + seconds

    def _ingest_rows(self, batch: Batch) -> None:
        w = self.cfg.window_s
        starts = np.floor(batch.times / w) * w
        for start in np.unique(starts):
            mask = starts == start
            window, late = self._window_for(float(start) + w / 2)
            rows = batch.features[mask]
            versions = [v for v, m in zip(batch.versions, mask, strict=True) if m]
            window.waiting.append(np.column_stack([rows, batch.probabilities[mask]]))
            if sum(len(w) for w in window.waiting) >= PROFILE_ROWS:
                self._profile_waiting(window)
            window.probabilities.append(batch.probabilities[mask])
            window.thresholds.append(batch.thresholds[mask])
            window.versions.update(versions)
            window.replicas.add(batch.replica)
            window.rows += len(rows)
            if late:
                window.late_rows += len(rows)
                self.late_rows_total += len(rows)
            self.rows_total += len(rows)
            reference = self._reference(Counter(versions).most_common(1)[0][0])
            if reference is not None and self.numeric:
                cols = [self.features.index(n) for n in self.numeric]
                window.out_of_range.update(out_of_range(rows[:, cols], self.numeric, reference.ranges))

    def _profile_waiting(self, window: Window) -> None:
        """The one costly step (a whylogs profile of the rows waiting): in the collector, never a replica."""
        if not window.waiting:
            return
        frame = pd.DataFrame(np.concatenate(window.waiting), columns=[*self.features, PROBABILITY])
        view = profiling.profile(frame)
        window.view = view if window.view is None else window.view.merge(view)
        window.waiting = []

    # -- references ------------------------------------------------------------------------
    def _reference(self, version: str) -> Reference | None:
        """The training data's profile and the evaluation's figures for `version` (cached)."""
        if version not in self._references:
            self._references[version] = self._load_reference(version)
        return self._references[version]

    def _load_reference(self, version: str) -> Reference | None:
        try:
            metadata = self.registry.metadata(version)
        except (RegistryError, OSError, ValueError):
            metadata = {}
        path = self.registry.version_dir(version) / REFERENCE_FILE
        if not path.is_file():
            log.warning("model %s has no %s: drift and range checks are off for it", version, REFERENCE_FILE)
            return Reference(None, {}, metadata) if metadata else None
        view = profiling.read_profile(path)
        return Reference(view, profiling.observed_ranges(view, self.numeric), metadata)

    # -- windows ---------------------------------------------------------------------------
    def tick(self) -> list[dict[str, Any]]:
        """Close every window whose grace period is over; returns their summaries."""
        now = self.clock()
        with self._lock:
            due = [w for s, w in sorted(self._open.items()) if w.end + self.grace_s <= now]
            for w in due:
                del self._open[w.start]
        closed = [self._close(w) for w in due]
        if closed:
            self._expire(now)
        return closed

    def _close(self, window: Window) -> dict[str, Any]:
        self._profile_waiting(window)  # out of every open list: no ingest touches it now
        summary = self.summarise(window)
        name = window_name(window.start)
        self.folder.mkdir(parents=True, exist_ok=True)
        # One lock hold from judging to the state: a reader never sees an alert moved by a window
        # that is not yet among the summaries, nor a summary whose files are not yet on disk.
        with self._lock:
            summary["alerts"], transitions = self.alerts.evaluate(summary, self.clock())
            if window.view is not None:
                write_atomic(self.folder / f"{name}.{self.tag}.profile.bin", profiling.to_bytes(window.view))
            write_atomic(self.folder / f"{name}.{self.tag}.summary.json", json.dumps(summary, indent=1))
            write_atomic(self.folder / ALERT_STATE_FILE, json.dumps(self.alerts.saved(), indent=1))
            self.summaries.append(summary)
        # After the write: a notification never names a window that is not on disk. The
        # notifier returns at once (the webhook has its own thread).
        self.notifier.notify(transitions)
        return summary

    def _expire(self, now: float) -> None:
        """Compaction and retention of the folder (serve/monitoring/compaction.py)."""
        compaction.maintain(self.folder, now, compaction.Policy.of(self.cfg))

    def summarise(self, window: Window) -> dict[str, Any]:
        """The metrics of one window (a JSON-able dict)."""
        version = window.versions.most_common(1)[0][0] if window.versions else None
        reference = self._reference(version) if version else None
        probs = np.concatenate(window.probabilities) if window.probabilities else np.empty(0)
        thresholds = np.concatenate(window.thresholds) if window.thresholds else np.empty(0)
        threshold = float(np.median(thresholds)) if len(thresholds) else None
        drift: DriftReport | None = None
        if window.view is not None and reference is not None and reference.view is not None:
            scores = profiling.drift_scores(window.view, reference.view, self.features)
            drift = assess_drift(scores, window.rows, self.policy)
        ref_mix = reference_mix(reference.metadata) if reference is not None else None
        rejections = summarise_rejections(window.rejections)
        latencies = np.array(window.latencies)
        requests = int(sum(window.statuses.values()))
        invalid = sum(1 for r in window.rejections if r.status == 422 and r.route == PREDICT_ROUTE)
        server_errors = sum(c for s, c in window.statuses.items() if s >= 500)
        return {
            "start": window_name(window.start),
            "collector": self.tag,
            "start_s": window.start,
            "end_s": window.end,
            "window_s": self.cfg.window_s,
            "model_version": version,
            "versions": dict(window.versions),
            "replicas": len(window.replicas),
            "rows": window.rows,
            "late_rows": window.late_rows,
            "drift": {
                "verdict": drift.verdict if drift is not None else NO_REFERENCE,
                "drifted": drift.drifted if drift is not None else [],
                "n_drifted": drift.n_drifted if drift is not None else 0,
                "policy": asdict(self.policy),
                "features": [asdict(f) for f in drift.features] if drift is not None else [],
            },
            "quality": {
                "requests": requests,
                "rejected": rejections.total,
                "rejected_share": rejections.total / requests if requests else None,
                "predict_requests": window.predict_requests,
                "invalid_share": invalid / window.predict_requests if window.predict_requests else None,
                "by_reason": [{"status": s, "reason": k, "count": c} for (s, k), c in rejections.by_reason.items()],
                "by_field": rejections.by_field,
                "out_of_range": dict(window.out_of_range),
                "out_of_range_rows_share": {k: v / window.rows for k, v in window.out_of_range.items() if window.rows},
            },
            "prediction_mix": {
                **asdict(prediction_mix(probs, thresholds if len(thresholds) else 0.5)),
                "threshold": threshold,
                "reference": asdict(ref_mix) if ref_mix is not None else None,
            },
            "estimated_performance": (asdict(estimated_performance(probs, thresholds)) if len(probs) else None),
            "live_performance": asdict(self.live_performance(window.end)),
            "operations": {
                "requests": requests,
                "requests_per_s": requests / self.cfg.window_s,
                "errors_by_status": {str(s): c for s, c in sorted(window.statuses.items()) if s >= 400},
                "server_error_share": server_errors / requests if requests else None,
                "latency_s": (
                    dict(zip(("p50", "p95", "p99"), np.quantile(latencies, [0.5, 0.95, 0.99]).tolist(), strict=True))
                    if len(latencies)
                    else None
                ),
            },
        }

    # -- labels ----------------------------------------------------------------------------
    def live_performance(self, until: float) -> Any:
        """Realised performance from the feedback recorded in the trailing period."""
        since = datetime.fromtimestamp(until, UTC) - timedelta(seconds=self.cfg.performance_period_s)
        actual: list[bool] = []
        predicted: list[bool] = []
        if self.store_path.exists():
            try:
                conn = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=5)
                try:
                    rows = conn.execute(
                        "SELECT p.label, f.label FROM feedback f JOIN predictions p ON p.id = f.prediction_id "
                        "WHERE f.recorded_at >= ?",
                        (since.isoformat(timespec="milliseconds"),),
                    ).fetchall()
                finally:
                    conn.close()
                predicted = [p == self.positive for p, _ in rows]
                actual = [a == self.positive for _, a in rows]
            except sqlite3.Error as exc:  # a store being created or locked: labels next window
                log.warning("cannot read feedback from the store: %s", exc)
        return live_performance(np.array(actual, bool), np.array(predicted, bool), self.cfg.min_labels)

    # -- output ----------------------------------------------------------------------------
    def state(self, windows: int = KEPT_SUMMARIES) -> dict[str, Any]:
        """What the metrics endpoints show: the last `windows` closed windows, the open ones, the counters."""
        with self._lock:
            return {
                "started_at": self.started_at,
                "now": self.clock(),
                "window_s": self.cfg.window_s,
                "windows": list(self.summaries)[-windows:] if windows > 0 else [],
                "alerts": self.alerts.snapshot(),
                "open": [
                    {"start": window_name(w.start), "rows": w.rows, "requests": int(sum(w.statuses.values()))}
                    for w in sorted(self._open.values(), key=lambda w: w.start)
                ],
                "counters": {
                    "batches": self.batches,
                    "rows": self.rows_total,
                    "late_rows": self.late_rows_total,
                    "dropped_rows": sum(self.dropped_by_replica.values()),
                    "requests": [{"route": r, "status": s, "count": c} for (r, s), c in sorted(self.requests.items())],
                    "latency": {
                        "buckets": list(LATENCY_BUCKETS),
                        "by_route": {
                            r: {"counts": list(b), "sum": self.latency_sum[r]} for r, b in self.latency_buckets.items()
                        },
                    },
                    "rejections": [{"status": s, "reason": k, "count": c} for (s, k), c in self.rejections.items()],
                    "rejected_fields": dict(self.rejected_fields),
                },
            }

    # -- lifetime --------------------------------------------------------------------------
    def start(self, period_s: float = 1.0) -> None:
        """Close windows on time from a thread of its own, with or without traffic."""

        def run() -> None:
            while not self._stop.wait(period_s):
                try:
                    self.tick()
                except Exception:  # a full disk must not stop the collector; the next tick retries
                    log.exception("closing a monitoring window failed")

        self._ticker = threading.Thread(target=run, name="monitoring-windows", daemon=True)
        self._ticker.start()

    def stop(self, flush: bool = True) -> None:
        """Stop the ticker; with `flush`, close the open windows now (a clean shutdown)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        if flush:
            with self._lock:
                due = sorted(self._open.values(), key=lambda w: w.start)
                self._open.clear()
            for w in due:
                self._close(w)
        self.notifier.close()
