"""Alert rules on the window metrics, and the state of each alert from one window close to the next.

A rule (monitoring/alerts.yaml) says: `metric <comparison> threshold`, judged only on a window
with at least `min_samples` samples, must hold for `for_windows` consecutive judged windows.
Each rule's alert moves through

    inactive ──condition holds──► pending ──held for_windows windows──► firing
        ▲                            │                                    │
        └────condition fails─────────┘            condition fails ──► resolved (then inactive)

    any state ──window not judged (too few samples, no figure)──► the same state, same streak

(with `for_windows: 1` it goes from inactive to firing at once). A transition is reported once,
when it happens: an alert that stays firing for ten windows is one notification, not ten. A
window with too few samples, or without the figure (no reference profile, not enough labels),
cannot be judged: it neither confirms nor clears the alert, which keeps its state, its streak
and its last judged value; its evaluation says `breached: None`. Otherwise a quiet minute (only
the dashboard's polls or Prometheus's scrapes) would resolve a firing alert and the next busy
one fire it again. Only a judged window moves an alert. Prometheus holds the same way on the
last judged window's value, for a bounded lookback (serve/monitoring/promrules.py).

The state outlives the collector: `saved()` gives it as a dict the collector writes at each
window close, `restore()` takes it back at start, so a restarted collector neither forgets a
firing alert nor reports it firing a second time.

Pure logic: the window summaries come in as dicts (serve/monitoring/collector.py builds them),
the transitions go out as dicts; nothing here writes, sends or sleeps.
"""

from __future__ import annotations

import operator
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
# Most severe first: the order of the active list.
SEVERITIES = ("critical", "warning")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
# The Prometheus gauge modelship_alert_state takes these values.
STATE_VALUES = {INACTIVE: 0, PENDING: 1, FIRING: 2}
RUNBOOK_PAGE = "monitoring.html"
KEPT_RESOLVED = 20
# The append-only record of every transition, in the monitoring folder (serve/monitoring/notify.py
# writes it, modelship/monitoring/report.py reads it).
ALERTS_FILE = "alerts.jsonl"
# Every alert's state at the last window close, beside it (serve/monitoring/collector.py).
ALERT_STATE_FILE = "alert-state.json"
ALERT_STATE_FORMAT = 1
RULE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# A summary's placeholders take a plain number format (`.2f`) or a percentage (`.0%`): both
# have a Prometheus template equivalent (serve/monitoring/promrules.py).
FORMAT_SPEC = re.compile(r"^(\.\d+)?[f%]?$")
PLACEHOLDER = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")
TEMPLATE_FIELDS = ("value", "threshold", "min_samples")
RULE_FIELDS = (
    "id",
    "metric",
    "comparison",
    "threshold",
    "for_windows",
    "min_samples",
    "severity",
    "runbook",
    "summary",
)


class AlertRulesError(ValueError):
    """The rules file cannot be used; the message names the file, the rule and the remedy."""


def _get(summary: dict[str, Any], *keys: str) -> Any:
    node: Any = summary
    for key in keys:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return node


def _drifted(s: dict[str, Any]) -> float | None:
    # Only a judged window has a count: "not enough data" and "no reference" have none.
    if _get(s, "drift", "verdict") not in ("drift", "no drift"):
        return None
    return float(s["drift"]["n_drifted"])


def _worst_out_of_range(s: dict[str, Any]) -> float | None:
    shares = _get(s, "quality", "out_of_range_rows_share") or {}
    return max(shares.values()) if shares else None


def _mix_shift(s: dict[str, Any]) -> float | None:
    share = _get(s, "prediction_mix", "positive_share")
    reference = _get(s, "prediction_mix", "reference", "positive_share")
    return None if share is None or reference is None else abs(share - reference)


def _live_recall(s: dict[str, Any]) -> float | None:
    if _get(s, "live_performance", "status") != "measured":
        return None
    value = _get(s, "live_performance", "recall", "value")
    return None if value is None else float(value)


@dataclass(frozen=True)
class Metric:
    """A figure of a window summary that a rule can test, and the samples it rests on."""

    name: str
    description: str
    samples: str  # what min_samples counts
    value: Callable[[dict[str, Any]], float | None]
    count: Callable[[dict[str, Any]], int]


def _rows(s: dict[str, Any]) -> int:
    return int(s.get("rows") or 0)


def _requests(s: dict[str, Any]) -> int:
    return int(_get(s, "operations", "requests") or 0)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("drifted_features", "features drifted in the window", "rows", _drifted, _rows),
        Metric(
            "invalid_share",
            "share of the window's prediction requests refused as invalid (422)",
            "prediction requests",
            lambda s: _get(s, "quality", "invalid_share"),
            lambda s: int(_get(s, "quality", "predict_requests") or 0),
        ),
        Metric(
            "out_of_range_share",
            "largest share, over the features, of accepted rows outside the training range",
            "rows",
            _worst_out_of_range,
            _rows,
        ),
        Metric(
            "positive_share_shift",
            "distance between the share predicted positive and the test set's",
            "rows",
            _mix_shift,
            _rows,
        ),
        Metric(
            "latency_p95_s",
            "95th percentile of the window's request latencies, seconds",
            "requests",
            lambda s: _get(s, "operations", "latency_s", "p95"),
            _requests,
        ),
        Metric(
            "server_error_share",
            "share of the window's requests answered with a 5xx status",
            "requests",
            lambda s: _get(s, "operations", "server_error_share"),
            _requests,
        ),
        Metric(
            "live_recall",
            "recall on the positive class from feedback labels (trailing period)",
            "labels",
            _live_recall,
            lambda s: int(_get(s, "live_performance", "n") or 0),
        ),
        Metric(
            "estimated_recall",
            "recall expected from the window's probabilities (assumes calibration)",
            "rows",
            lambda s: _get(s, "estimated_performance", "recall"),
            _rows,
        ),
    )
}


@dataclass(frozen=True)
class Rule:
    id: str
    metric: str
    comparison: str
    threshold: float
    for_windows: int
    min_samples: int
    severity: str
    runbook: str
    summary: str

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOK_PAGE}#{self.runbook}"

    def judged(self, value: float | None, samples: int) -> bool:
        """Whether a window with this figure and sample count can be judged at all."""
        return value is not None and samples >= self.min_samples

    def breached(self, value: float | None, samples: int) -> bool | None:
        """Whether the condition holds; None when the window cannot be judged."""
        if value is None or not self.judged(value, samples):
            return None
        return COMPARISONS[self.comparison](float(value), self.threshold)

    def describe(self, value: float | None, samples: int) -> str:
        """The rule's summary sentence for this value; without a value, why there is none."""
        if value is None or not self.judged(value, samples):
            what = METRICS[self.metric].samples
            return f"{self.id}: not enough data ({samples} {what}, minimum {self.min_samples})"
        return self.summary.format(value=value, threshold=self.threshold, min_samples=self.min_samples)


def _check_template(where: str, template: str) -> None:
    for name, spec in PLACEHOLDER.findall(template.replace("{{", "").replace("}}", "")):
        if name not in TEMPLATE_FIELDS:
            raise AlertRulesError(f"{where}: summary uses {{{name}}}; the fields are {', '.join(TEMPLATE_FIELDS)}")
        if spec and not FORMAT_SPEC.match(spec):
            raise AlertRulesError(f"{where}: summary format {{{name}:{spec}}} is not one of .Nf or .N%")
    try:
        template.format(value=1.0, threshold=1.0, min_samples=1)
    except (ValueError, IndexError, KeyError) as exc:
        raise AlertRulesError(f"{where}: summary {template!r} is not a valid template ({exc})") from None


def _rule(where: str, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise AlertRulesError(f"{where}: a rule is a mapping with the fields {', '.join(RULE_FIELDS)}")
    missing = [k for k in RULE_FIELDS if k not in raw]
    unknown = sorted(set(raw) - set(RULE_FIELDS))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        raise AlertRulesError(f"{where}: {'; '.join(parts)} (fields: {', '.join(RULE_FIELDS)})")
    rule_id = raw["id"]
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise AlertRulesError(f"{where}: id {rule_id!r} must be lower case letters, digits and _")
    where = f"{where} ({rule_id})"
    if raw["metric"] not in METRICS:
        raise AlertRulesError(f"{where}: unknown metric {raw['metric']!r}; the metrics are {', '.join(METRICS)}")
    if raw["comparison"] not in COMPARISONS:
        raise AlertRulesError(f"{where}: comparison {raw['comparison']!r} is not one of {' '.join(COMPARISONS)}")
    if raw["severity"] not in SEVERITIES:
        raise AlertRulesError(f"{where}: severity {raw['severity']!r} is not one of {', '.join(SEVERITIES)}")
    threshold = raw["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise AlertRulesError(f"{where}: threshold {threshold!r} must be a number")
    for key in ("for_windows", "min_samples"):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AlertRulesError(f"{where}: {key} {value!r} must be a whole number of at least 1")
    if raw["runbook"] != f"runbook-{rule_id}":
        raise AlertRulesError(f"{where}: runbook must be runbook-{rule_id} (its anchor in docs/monitoring.qmd)")
    if not isinstance(raw["summary"], str) or not raw["summary"].strip():
        raise AlertRulesError(f"{where}: summary must be a sentence")
    _check_template(where, raw["summary"])
    return Rule(
        id=rule_id,
        metric=raw["metric"],
        comparison=raw["comparison"],
        threshold=float(threshold),
        for_windows=raw["for_windows"],
        min_samples=raw["min_samples"],
        severity=raw["severity"],
        runbook=raw["runbook"],
        summary=raw["summary"],
    )


def parse_rules(text: str, source: str = "<rules>") -> list[Rule]:
    """The rules of a rules file's text; AlertRulesError says what is wrong and where."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AlertRulesError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"rules"} or not isinstance(doc["rules"], list):
        raise AlertRulesError(f"{source}: expected one key, `rules:`, holding a list of rules")
    rules = [_rule(f"{source}: rule {i + 1}", raw) for i, raw in enumerate(doc["rules"])]
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise AlertRulesError(f"{source}: rule id {r.id!r} is used twice")
        seen.add(r.id)
    return rules


def load_rules(path: Path) -> list[Rule]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AlertRulesError(
            f"alert rules file not found: {path} (monitoring.alert_rules in the service settings)"
        ) from None
    return parse_rules(text, str(path))


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Alert:
    """One rule's alert between window closes."""

    rule: Rule
    state: str = INACTIVE
    streak: int = 0  # consecutive judged windows meeting the condition
    value: float | None = None  # of the last judged window
    samples: int = 0
    since: str | None = None
    window: str | None = None

    def as_dict(self, state: str | None = None) -> dict[str, Any]:
        r = self.rule
        return {
            "rule": r.id,
            "severity": r.severity,
            "state": state or self.state,
            "summary": r.describe(self.value, self.samples),
            "metric": r.metric,
            "comparison": r.comparison,
            "threshold": r.threshold,
            "value": self.value,
            "samples": self.samples,
            "min_samples": r.min_samples,
            "since": self.since,
            "window": self.window,
            "runbook": r.runbook_url,
        }


@dataclass
class Alerts:
    """Every rule's alert; `evaluate` takes each closed window's summary, in order."""

    rules: list[Rule]
    kept_resolved: int = KEPT_RESOLVED
    alerts: dict[str, Alert] = field(init=False)
    resolved: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.alerts = {r.id: Alert(r) for r in self.rules}
        self.resolved = deque(maxlen=self.kept_resolved)

    def evaluate(self, summary: dict[str, Any], at: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Judge one closed window (`summary`, closed at Unix time `at`). Returns the window's
        evaluations (one per rule; `breached` None where it could not be judged) and the
        transitions it caused (an Alert dict each, with `from`: the state it left)."""
        window = summary.get("start")
        evaluations: list[dict[str, Any]] = []
        transitions: list[dict[str, Any]] = []
        for alert in self.alerts.values():
            metric = METRICS[alert.rule.metric]
            value, samples = metric.value(summary), metric.count(summary)
            breached = alert.rule.breached(value, samples)
            if value is None or breached is None:
                # Not judged: the alert stays exactly as it was. Under min_samples a figure is not
                # one to show as if it meant something.
                evaluations.append({"rule": alert.rule.id, "value": None, "samples": samples, "breached": None})
                continue
            alert.value, alert.samples = float(value), samples
            evaluations.append({"rule": alert.rule.id, "value": alert.value, "samples": samples, "breached": breached})
            before = alert.state
            alert.streak = alert.streak + 1 if breached else 0
            after = self._next(alert, breached)
            if after == before:
                continue
            alert.since, alert.window = iso(at), window
            if after == RESOLVED:
                record = alert.as_dict(RESOLVED)
                self.resolved.appendleft(record)
                alert.state = INACTIVE
            else:
                alert.state = after
                record = alert.as_dict()
            transitions.append({**record, "from": before})
        return evaluations, transitions

    @staticmethod
    def _next(alert: Alert, breached: bool) -> str:
        if not breached:
            return {FIRING: RESOLVED, PENDING: INACTIVE}.get(alert.state, INACTIVE)
        if alert.streak >= alert.rule.for_windows:
            return FIRING
        return PENDING

    def saved(self) -> dict[str, Any]:
        """What `restore` takes back: each alert's state, streak and last judged figures."""
        return {
            "format": ALERT_STATE_FORMAT,
            "alerts": {
                rule: {k: getattr(a, k) for k in ("state", "streak", "value", "samples", "since", "window")}
                for rule, a in self.alerts.items()
            },
            "resolved": list(self.resolved),
        }

    def restore(self, saved: Any) -> list[str]:
        """Take back a `saved()` state. A rule no longer in the file is dropped, a new rule starts
        inactive; a malformed entry is skipped. Returns what was not restored, for the log."""
        if not isinstance(saved, dict) or saved.get("format") != ALERT_STATE_FORMAT:
            return ["the saved state is not in a known format"]
        skipped: list[str] = []
        entries = saved.get("alerts")
        for rule, entry in (entries if isinstance(entries, dict) else {}).items():
            alert = self.alerts.get(rule)
            if alert is None:
                skipped.append(f"{rule}: no such rule any more")
                continue
            try:
                state, streak = entry["state"], int(entry["streak"])
                if state not in STATE_VALUES or streak < 0:
                    raise ValueError(state)
                value = None if entry["value"] is None else float(entry["value"])
                samples = int(entry["samples"])
                since, window = entry["since"], entry["window"]
            except (KeyError, TypeError, ValueError):
                skipped.append(f"{rule}: malformed entry")
                continue
            alert.state, alert.streak, alert.value, alert.samples = state, streak, value, samples
            alert.since, alert.window = since, window
        resolved = saved.get("resolved")
        if isinstance(resolved, list):
            kept = [r for r in resolved[: self.kept_resolved] if isinstance(r, dict)]  # newest first
            self.resolved = deque(kept, maxlen=self.kept_resolved)
        return skipped

    def snapshot(self) -> dict[str, Any]:
        """The summary's `alerts`: the active (most severe, then firing, then oldest first), the
        last resolved (newest first), and every rule's state (for modelship_alert_state)."""
        active = [a for a in self.alerts.values() if a.state in (PENDING, FIRING)]
        active.sort(key=lambda a: (SEVERITIES.index(a.rule.severity), a.state != FIRING, a.since or ""))
        return {
            "active": [a.as_dict() for a in active],
            "resolved": list(self.resolved),
            "rules": [
                {"rule": a.rule.id, "severity": a.rule.severity, "state": a.state, "value": a.value}
                for a in self.alerts.values()
            ],
        }
