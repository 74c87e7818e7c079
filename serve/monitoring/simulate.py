"""The sandbox's traffic simulator (C11.5): normal, drifted, then normal traffic against a running
service, and the timeline of what monitoring made of it, window by window.

It is a client of the API like any other: held-out cases go to POST /v1/predict, the confirmed
diagnosis of a share of them to POST /v1/feedback, and what monitoring concluded is read from
GET /v1/monitoring/summary (monitor scope). Each phase covers whole windows, so that every closed
window belongs to one phase:

- normal: the held-out rows, replayed in a shuffled cycle; labels for `label_share` of them;
- drift: the same rows with some features shifted by a multiple of their training standard
  deviation and others rescaled (kept inside the contract's bounds, so they are accepted), plus
  a share of requests carrying one broken feature out of its contract (refused with 422);
- recovery: normal again.

A poller thread reads the summary while the traffic runs, so that alert transitions (pending,
firing, resolved, each tagged with the window whose close made it) are all seen, and the
timeline joins them with the window figures and the webhook deliveries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd

from dashboard.view import ALERTING
from modelship.contract import Contract
from modelship.monitoring.drift import DRIFT, NOT_ENOUGH_DATA
from modelship.monitoring.performance import MEASURED

WARMUP, NORMAL, DRIFTED, RECOVERY = "warm-up", "normal", "drift", "recovery"
PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
# Requests stay this far inside their window, so that a row stamped near a boundary cannot fall
# into the neighbouring window (of another phase).
EDGE_S = 0.25
# Half a 2-second window: each close is read at least once (a transition carries its window, so
# a late read still places it); the summary is not small, and reading it costs the service.
POLL_S = 1.0
# Alerts on how this machine serves (latency), not on what the traffic is: reported in the
# timeline, left out of the checks on the traffic's alerts (a shared 2-core machine is slow at times).
MACHINE_RULES = frozenset({"latency_p95"})
# Alerts on the feedback of the trailing performance period (30 days by default), which on a
# shared service holds other clients' labels too: reported, left out of the checks, and not
# waited for before the scenario starts (the scenario's own labels are the true diagnoses).
HISTORY_RULES = frozenset({"live_recall"})
UNCHECKED_RULES = MACHINE_RULES | HISTORY_RULES

Headers = Callable[[], dict[str, str]]


@dataclass(frozen=True)
class Scenario:
    """What the simulator sends; the defaults are the sandbox's."""

    # normal traffic, shown and not judged: a service just started answers its first requests
    # slowly (connections, caches, the collector loading the reference), so its first window may
    # hold too few rows to be judged
    warmup_windows: int = 1
    normal_windows: int = 5
    drift_windows: int = 4
    recovery_windows: int = 4
    # enough requests and rows in a 2-second window for the quality and drift rules' minimum samples
    requests_per_s: float = 24.0
    rows_per_request: int = 6
    # concurrent requests: the model deployment batches them, so a slow (shared) machine still
    # gets the window its requests
    senders: int = 16
    label_share: float = 0.1
    # drift: moved by shift_std training standard deviations; multiplied by rescale_by
    shifted: tuple[str, ...] = ("mean_radius", "mean_texture", "mean_concavity", "worst_area")
    shift_std: float = 0.75
    rescaled: tuple[str, ...] = ("mean_smoothness", "worst_symmetry")
    rescale_by: float = 1.3
    # an upstream fault: this feature arrives as a sentinel outside its contract in every
    # broken_every-th request of the drift phase
    broken: str = "mean_fractal_dimension"
    broken_value: float = -1.0
    broken_every: int = 3
    seed: int = 7

    def phases(self) -> list[tuple[str, int]]:
        return [
            (WARMUP, self.warmup_windows),
            (NORMAL, self.normal_windows),
            (DRIFTED, self.drift_windows),
            (RECOVERY, self.recovery_windows),
        ]


def drifted(rows: pd.DataFrame, scenario: Scenario, scale: pd.Series, contract: Contract) -> pd.DataFrame:
    """The rows with the scenario's features shifted and rescaled, clipped into the contract."""
    out = rows.copy()
    for name in scenario.shifted:
        out[name] = out[name] + scenario.shift_std * scale[name]
    for name in scenario.rescaled:
        out[name] = out[name] * scenario.rescale_by
    for feat in contract.features:
        if feat.name in scenario.shifted + scenario.rescaled:
            out[feat.name] = out[feat.name].clip(feat.min, feat.max)
    return out


def broken(rows: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    out = rows.copy()
    out[scenario.broken] = scenario.broken_value
    return out


@dataclass
class Window:
    """One planned window and what the simulator sent in it."""

    phase: str
    start_s: float
    end_s: float
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    rows_sent: int = 0
    labels_sent: int = 0


@dataclass
class Observed:
    """What the poller read: the closed windows' summaries and every alert transition."""

    summaries: dict[float, dict[str, Any]] = field(default_factory=dict)
    transitions: set[tuple[str, str, str]] = field(default_factory=set)  # (rule, state, window)
    # the active alerts at the first read after a window's close (a pending alert that goes back
    # to inactive leaves the active list without a resolution)
    active_at: dict[float, list[str]] = field(default_factory=dict)
    active_now: list[dict[str, Any]] = field(default_factory=list)
    alerts_reported: bool = False  # the summary carries an `alerts` key
    last: dict[str, Any] = field(default_factory=dict)
    errors: int = 0


def window_name(start: float) -> str:
    # the collector's name of a window (serve/monitoring/collector.py)
    return datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%SZ")


class Simulator:
    def __init__(
        self,
        base_url: str,
        traffic_headers: Headers,
        monitor_headers: Headers,
        held_out: pd.DataFrame,
        contract: Contract,
        train_scale: pd.Series,
        scenario: Scenario = Scenario(),
        deliveries: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.base_url = base_url
        self.traffic_headers = traffic_headers
        self.monitor_headers = monitor_headers
        self.contract = contract
        self.features = contract.feature_names
        self.target = contract.target.name
        self.scenario = scenario
        self.scale = train_scale
        self.deliveries = deliveries
        self.rng = np.random.default_rng(scenario.seed)
        self.held_out = held_out.reset_index(drop=True)
        self._order = self.rng.permutation(len(self.held_out))
        self._cursor = 0
        self.observed = Observed()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._labels = ThreadPoolExecutor(2, thread_name_prefix="sandbox-labels")

    # -- reading the service ---------------------------------------------------------------
    def summary(self, client: httpx.Client) -> dict[str, Any] | None:
        r = client.get("/v1/monitoring/summary", headers=self.monitor_headers())
        return r.json() if r.status_code == 200 else None  # 503: the collector restarting

    def _poll_once(self, client: httpx.Client) -> None:
        try:
            state = self.summary(client)
        except httpx.HTTPError:
            state = None
        if state is None:
            self.observed.errors += 1
            return
        obs = self.observed
        obs.last = state
        alerts = state.get("alerts")
        if alerts is not None:
            obs.alerts_reported = True
            obs.active_now = list(alerts.get("active", []))
            for a in obs.active_now + list(alerts.get("resolved", [])):
                obs.transitions.add((a["rule"], a["state"], a["window"]))
        for w in state.get("windows", []):
            start = round(float(w["start_s"]), 3)
            if start not in obs.summaries and alerts is not None:
                obs.active_at[start] = sorted(a["rule"] for a in obs.active_now)
            obs.summaries[start] = w

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self._stop.wait(POLL_S):
                self._poll_once(client)

    def wait_quiet(self, client: httpx.Client, timeout_s: float) -> float:
        """Wait until the collector answers with no active alert that the scenario checks (a
        shared service may hold one raised by another test's traffic); returns the window length.
        A window too small to judge leaves an alert as it is, so waiting alone would not clear
        one: while any is active, one window of normal traffic is sent, as recovery would."""
        deadline = time.monotonic() + timeout_s
        with ThreadPoolExecutor(self.scenario.senders, thread_name_prefix="sandbox-settle") as pool:
            while True:
                state = self.summary(client)
                alerts = (state or {}).get("alerts", {}).get("active", [])
                active = [a for a in alerts if a["rule"] not in UNCHECKED_RULES]
                if state is not None and not active:
                    return float(state["window_s"])
                if time.monotonic() > deadline:
                    left = active if state else "no answer"
                    raise TimeoutError(f"monitoring was not quiet after {timeout_s:.0f} s: {left}")
                if state is None:
                    time.sleep(POLL_S)
                    continue
                window_s = float(state["window_s"])
                start = (np.floor(time.time() / window_s) + 1) * window_s
                self._run_window(client, pool, Window(WARMUP, start, start + window_s))

    # -- sending ---------------------------------------------------------------------------
    def _next_rows(self, n: int) -> pd.DataFrame:
        with self._lock:
            idx = [self._order[(self._cursor + i) % len(self._order)] for i in range(n)]
            self._cursor += n
        return self.held_out.iloc[idx]

    def _records(self, rows: pd.DataFrame) -> list[dict[str, float]]:
        return [{f: float(v) for f, v in zip(self.features, r, strict=True)} for r in rows[self.features].to_numpy()]

    def _send(self, client: httpx.Client, window: Window, is_broken: bool) -> None:
        if time.time() >= window.end_s - EDGE_S:  # too late for its window: not sent
            return
        sc = self.scenario
        rows = self._next_rows(sc.rows_per_request)
        is_drift = window.phase == DRIFTED
        if is_drift:
            rows = drifted(rows, sc, self.scale, self.contract)
            if is_broken:
                rows = broken(rows, sc)
        r = client.post("/v1/predict", json={"records": self._records(rows)}, headers=self.traffic_headers())
        with self._lock:
            window.requests += 1
            window.statuses[r.status_code] = window.statuses.get(r.status_code, 0) + 1
        if r.status_code != 200:
            return
        with self._lock:
            window.rows_sent += len(rows)
        if is_drift:  # confirmed diagnoses arrive later than drift; only the stable phases get labels
            return
        with self._lock:
            labelled = self.rng.random(len(rows)) < sc.label_share
        for prediction, label, chosen in zip(r.json()["predictions"], rows[self.target], labelled, strict=True):
            if chosen:
                self._labels.submit(self._label, client, window, prediction["prediction_id"], str(label))

    def _label(self, client: httpx.Client, window: Window, prediction_id: str, label: str) -> None:
        f = client.post(
            "/v1/feedback", json={"prediction_id": prediction_id, "label": label}, headers=self.traffic_headers()
        )
        with self._lock:
            window.labels_sent += f.status_code == 201

    def _run_window(self, client: httpx.Client, pool: ThreadPoolExecutor, window: Window) -> None:
        """Requests at a steady rate from a few threads (one thread alone would slow down with the
        service's latency); in the drift phase every `broken_every`-th request is broken."""
        interval = 1.0 / self.scenario.requests_per_s
        t = window.start_s + EDGE_S
        futures = []
        while t < window.end_s - EDGE_S:
            delay = t - time.time()
            if delay > 0:
                time.sleep(delay)
            self._sent += 1
            is_broken = self._sent % self.scenario.broken_every == 0
            futures.append(pool.submit(self._send, client, window, is_broken))
            t += interval
        for f in futures:
            f.result()

    # -- the scenario ----------------------------------------------------------------------
    def run(self, quiet_timeout_s: float = 90.0, close_timeout_s: float = 60.0) -> Timeline:
        """Send every phase, wait for its windows to close, return the timeline."""
        started = time.monotonic()
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            window_s = self.wait_quiet(client, quiet_timeout_s)
            first = (np.floor(time.time() / window_s) + 1) * window_s
            plan: list[Window] = []
            for phase, count in self.scenario.phases():
                for _ in range(count):
                    start = first + len(plan) * window_s
                    plan.append(Window(phase, start, start + window_s))
            poller = threading.Thread(target=self._poll, name="sandbox-poller", daemon=True)
            poller.start()
            try:
                with ThreadPoolExecutor(self.scenario.senders, thread_name_prefix="sandbox-traffic") as pool:
                    for window in plan:
                        self._run_window(client, pool, window)
                self._labels.shutdown(wait=True)
                deadline = time.monotonic() + close_timeout_s
                # closed, then one more poll so that the last close's alert transitions are read
                while round(plan[-1].start_s, 3) not in self.observed.summaries:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the last window ({window_name(plan[-1].start_s)}) did not close")
                    time.sleep(POLL_S)
                time.sleep(2 * POLL_S)
                self._poll_once(client)
            finally:
                self._labels.shutdown(wait=False, cancel_futures=True)
                self._stop.set()
                poller.join(timeout=10)
        deliveries = self.deliveries() if self.deliveries is not None else None
        return build_timeline(plan, self.observed, deliveries, time.monotonic() - started)


# -- the timeline --------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    phase: str
    window: str
    start_s: float
    end_s: float
    rows: int | None  # rows the collector profiled in the window; None: the window never closed
    sent_rows: int
    requests: int
    rejected: int | None  # refused with 422 (the contract), from the window's quality figures
    statuses: dict[int, int]  # what the simulator's prediction requests got in this window
    verdict: str | None
    n_drifted: int | None
    drifted: list[str]
    pending: list[str]
    fired: list[str]
    resolved: list[str]
    active: list[str]  # after this window's close
    webhook: list[str]  # deliveries about this window's transitions, as rule:state
    labels_sent: int
    live: dict[str, Any] | None


@dataclass(frozen=True)
class Timeline:
    rows: list[Row]
    alerts_reported: bool
    deliveries: list[dict[str, Any]] | None
    final_active: list[dict[str, Any]]
    live_performance: dict[str, Any] | None
    wall_s: float

    def phase(self, name: str) -> list[Row]:
        return [r for r in self.rows if r.phase == name]


def build_timeline(
    plan: list[Window], observed: Observed, deliveries: list[dict[str, Any]] | None, wall_s: float
) -> Timeline:
    by_window: dict[str, dict[str, list[str]]] = {}
    for rule, state, window in observed.transitions:
        by_window.setdefault(window, {}).setdefault(state, []).append(rule)
    hooks: dict[str, list[str]] = {}
    for d in deliveries or []:
        alert = d.get("alert") or {}
        if "window" in alert:
            hooks.setdefault(alert["window"], []).append(f"{alert.get('rule')}:{alert.get('state')}")
    rows: list[Row] = []
    active: set[str] = set()
    for w in plan:
        name = window_name(w.start_s)
        s = observed.summaries.get(round(w.start_s, 3))
        changes = by_window.get(name, {})
        active |= set(changes.get(PENDING, [])) | set(changes.get(FIRING, []))
        active -= set(changes.get(RESOLVED, []))
        active = set(observed.active_at.get(round(w.start_s, 3), active))
        drift = (s or {}).get("drift") or {}
        rows.append(
            Row(
                phase=w.phase,
                window=name,
                start_s=w.start_s,
                end_s=w.end_s,
                rows=s["rows"] if s else None,
                sent_rows=w.rows_sent,
                requests=w.requests,
                rejected=sum(r["count"] for r in s["quality"]["by_reason"] if r["status"] == 422) if s else None,
                statuses=dict(sorted(w.statuses.items())),
                verdict=drift.get("verdict") if s else None,
                n_drifted=drift.get("n_drifted") if s else None,
                drifted=list(drift.get("drifted", [])),
                pending=sorted(changes.get(PENDING, [])),
                fired=sorted(changes.get(FIRING, [])),
                resolved=sorted(changes.get(RESOLVED, [])),
                active=sorted(active),
                webhook=sorted(hooks.get(name, [])),
                labels_sent=w.labels_sent,
                live=s.get("live_performance") if s else None,
            )
        )
    last = next((r.live for r in reversed(rows) if r.live), None)
    return Timeline(rows, observed.alerts_reported, deliveries, observed.active_now, last, wall_s)


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def _rate(live: dict[str, Any] | None) -> str:
    if not live:
        return "-"
    if live.get("status") != MEASURED or not live.get("recall") or live["recall"].get("value") is None:
        return f"n={live.get('n', 0)} (<{live.get('min_labels')})"
    r = live["recall"]
    return f"{r['value']:.2f} [{r['low']:.2f}-{r['high']:.2f}] n={live['n']}"


def render(timeline: Timeline) -> str:
    """The timeline as a plain-text table, one line per window (times in UTC)."""
    header = (
        "phase",
        "window (UTC)",
        "rows",
        "requests sent",
        "422",
        "drift verdict",
        "drifted",
        "alerts: pending / fired / resolved",
        "active after close",
        "webhook",
        "live recall",
    )
    lines = []
    for r in timeline.rows:
        changes = " / ".join(", ".join(x) or "-" for x in (r.pending, r.fired, r.resolved))
        lines.append(
            (
                r.phase,
                f"{_clock(r.start_s)}-{_clock(r.end_s)}",
                "-" if r.rows is None else str(r.rows),
                " ".join(f"{n}x{code}" for code, n in r.statuses.items()) or "-",
                "-" if r.rejected is None else str(r.rejected),
                r.verdict or "not closed",
                "-" if r.n_drifted is None else str(r.n_drifted),
                changes if timeline.alerts_reported else "(no alerts in the summary)",
                ", ".join(r.active) or "-",
                ", ".join(r.webhook) or "-",
                _rate(r.live),
            )
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, lines)])


# -- the checks ----------------------------------------------------------------------------
NOT_RUN = None


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool | None  # None: not run (what it needs is missing), said in `detail`
    detail: str


def false_alarms(timeline: Timeline) -> int:
    """Normal-phase windows judged drift, or that raised an alert on the traffic (pending or firing)."""
    return sum(
        r.verdict == DRIFT or any(a not in UNCHECKED_RULES for a in r.pending + r.fired) for r in timeline.phase(NORMAL)
    )


def _first(rows: list[Row], rule: str, attr: str) -> int | None:
    return next((i for i, r in enumerate(rows) if rule in getattr(r, attr)), None)


@dataclass(frozen=True)
class DashboardRead:
    """One read of the dashboard's page: its overall state and the alerts its table lists."""

    at: float
    state: str  # ok, warning, alerting, no-data, or the problem's state (down, signed-out…)
    active: dict[str, str]  # rule -> pending | firing


def checks(
    timeline: Timeline,
    drift_rule: str = "drift",
    quality_rule: str = "invalid_requests",
    min_labels: int = 30,
    prometheus: list[tuple[float, str]] | None = None,
    dashboard: list[DashboardRead] | None = None,
) -> list[Check]:
    """The sandbox's verdict, one check per claim; `prometheus` is the drift alert's states as
    Prometheus recorded them (time, pending|firing|inactive), `dashboard` the dashboard's reads
    through the scenario, the last one after it; each None when it was not run."""
    normal, drift, recovery = (timeline.phase(p) for p in (NORMAL, DRIFTED, RECOVERY))
    judged = normal + drift + recovery
    unjudged = [r for r in judged if r.verdict in (None, NOT_ENOUGH_DATA)]
    out = [
        Check(
            "every window closed and was judged",
            not unjudged,
            ", ".join(f"{r.window}: {r.verdict or 'not closed'} ({r.rows} rows)" for r in unjudged)
            or f"{len(judged)} windows after the warm-up, {min(r.rows or 0 for r in judged)} rows or more each",
        ),
        Check(
            "normal traffic: no window judged drift",
            all(r.verdict != DRIFT for r in normal + recovery),
            f"{sum(r.verdict == DRIFT for r in normal)} of {len(normal)} normal, "
            f"{sum(r.verdict == DRIFT for r in recovery)} of {len(recovery)} recovery windows judged drift",
        ),
        Check(
            "drifted traffic: every window judged drift",
            all(r.verdict == DRIFT for r in drift),
            ", ".join(f"{r.window}: {r.n_drifted} drifted" for r in drift),
        ),
        Check(
            "the broken feature: 422s in the drift phase only",
            all((r.rejected or 0) > 0 for r in drift) and all(r.rejected == 0 for r in normal + recovery),
            f"{sum(r.rejected or 0 for r in drift)} refused in the drift phase, "
            f"{sum(r.rejected or 0 for r in normal + recovery)} otherwise",
        ),
    ]
    live = timeline.live_performance or {}
    labelled = sum(r.labels_sent for r in timeline.rows)
    out.append(
        Check(
            "live recall computed from the feedback labels",
            live.get("status") == MEASURED and live.get("n", 0) >= min(min_labels, labelled) and labelled > 0,
            f"{labelled} labels sent; the service: {_rate(live)}",
        )
    )
    if not timeline.alerts_reported:
        reason = "the summary has no `alerts` key (the alerts work is not in this service)"
        out += [Check(n, NOT_RUN, reason) for n in _ALERT_CHECKS]
    else:
        out += _alert_checks(timeline, normal, drift, recovery, drift_rule, quality_rule)
    out.append(_prometheus_check(prometheus, drift_rule))
    out.append(_dashboard_check(dashboard, (drift_rule, quality_rule)))
    return out


_ALERT_CHECKS = (
    "no alert during normal traffic",
    "drift and quality alerts fire during the drift phase",
    "both resolve in the recovery phase, nothing left active",
    "the webhook received each firing and resolution",
)


def _alert_checks(
    timeline: Timeline, normal: list[Row], drift: list[Row], recovery: list[Row], drift_rule: str, quality_rule: str
) -> list[Check]:
    def traffic(rules: list[str]) -> list[str]:
        return [r for r in rules if r not in UNCHECKED_RULES]

    noisy = [f"{r.window}: {traffic(r.pending + r.fired)}" for r in normal if traffic(r.pending + r.fired)]
    machine = sorted({a for r in timeline.rows for a in r.pending + r.fired if a in UNCHECKED_RULES})
    left = [a["rule"] for a in timeline.final_active if a["rule"] not in UNCHECKED_RULES]
    fired = {rule: _first(drift, rule, "fired") for rule in (drift_rule, quality_rule)}
    pending_first = _first(drift, drift_rule, "pending")
    resolved = {rule: _first(recovery, rule, "resolved") for rule in (drift_rule, quality_rule)}
    wanted = {f"{rule}:{state}" for rule in (drift_rule, quality_rule) for state in (FIRING, RESOLVED)}
    got = {h for r in timeline.rows for h in r.webhook}
    return [
        Check(
            _ALERT_CHECKS[0],
            not noisy,
            ("; ".join(noisy) or f"0 alerts over {len(normal)} normal windows")
            + (f" (not counted, on the machine's speed or past labels: {', '.join(machine)})" if machine else ""),
        ),
        Check(
            _ALERT_CHECKS[1],
            all(i is not None for i in fired.values())
            and pending_first is not None
            and pending_first <= (fired[drift_rule] or 0),
            ", ".join(f"{rule} fired at {drift[i].window if i is not None else 'never'}" for rule, i in fired.items())
            + f"; {drift_rule} pending at {drift[pending_first].window if pending_first is not None else 'never'}",
        ),
        Check(
            _ALERT_CHECKS[2],
            all(i is not None for i in resolved.values()) and not left,
            ", ".join(
                f"{rule} resolved at {recovery[i].window if i is not None else 'never'}" for rule, i in resolved.items()
            )
            + f"; active at the end: {[a['rule'] for a in timeline.final_active] or 'none'}",
        ),
        Check(
            _ALERT_CHECKS[3],
            timeline.deliveries is not None and wanted <= got,
            f"received {sorted(got) or 'nothing'}; expected {sorted(wanted)}",
        ),
    ]


def _prometheus_check(states: list[tuple[float, str]] | None, rule: str) -> Check:
    name = f"Prometheus: the {rule} alert went pending, firing, then inactive"
    if states is None:
        return Check(name, NOT_RUN, "no Prometheus server was given")
    order: list[str] = []
    for _, state in states:
        if not order or order[-1] != state:
            order.append(state)
    seen = " -> ".join(order) or "no sample"
    try:
        i = order.index("pending")
        ok = "firing" in order[i:] and order[-1] == "inactive" and order.index("firing", i) < len(order) - 1
    except ValueError:
        ok = False
    return Check(name, ok, seen)


def _dashboard_check(reads: list[DashboardRead] | None, rules: tuple[str, ...]) -> Check:
    name = f"the dashboard showed {' and '.join(rules)} firing, then neither"
    if reads is None:
        return Check(name, NOT_RUN, "no dashboard was given")
    if not reads:
        return Check(name, False, "the dashboard was never read")
    shown = next((r for r in reads if r.state == ALERTING and all(r.active.get(x) == FIRING for x in rules)), None)
    last = reads[-1]
    left = [x for x in rules if x in last.active]
    detail = (
        f"alerting with {', '.join(f'{k} {v}' for k, v in shown.active.items())} at {_clock(shown.at)}"
        if shown
        else f"never both firing in {len(reads)} reads"
    )
    detail += f"; at the end: {last.state}, " + (f"{', '.join(left)} still listed" if left else "neither listed")
    return Check(name, shown is not None and not left, detail)


def render_checks(results: list[Check]) -> str:
    mark = {True: "PASS", False: "FAIL", None: "NOT RUN"}
    return "\n".join(f"{mark[c.passed]:7}  {c.name}: {c.detail}" for c in results)


def verdict_ok(results: list[Check]) -> bool:
    """True when no check failed (a check not run is reported, not counted as a pass)."""
    return not any(c.passed is False for c in results)
