"""What the page shows, from the service's monitoring summary: plain values and sentences, so
that the templates only lay them out (and a test can read them without HTML).

The overall status is one of four, each with a word, an icon and a sentence (never a colour
alone): "no data" before any window closed, "alerting" while an alert fires, "warning" while one
is pending or the last window drifted, "ok" otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

OK, WARNING, ALERTING, NO_DATA = "ok", "warning", "alerting", "no-data"
STATUS_WORDS = {OK: "OK", WARNING: "Warning", ALERTING: "Alerting", NO_DATA: "No data yet"}
SEVERITY_ORDER = {"critical": 0, "warning": 1}
# A runbook is a page of the docs site and an anchor, nothing that could run or leave the site.
RUNBOOK = re.compile(r"^[A-Za-z0-9_-]+\.html(#[A-Za-z0-9_-]+)?$")
TESTS = {"ks": "Kolmogorov–Smirnov", "chi2": "chi-square", "chi-square": "chi-square"}
RESOLVED_SHOWN = 5


def utc(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(seconds: float | None) -> str:
    return "unknown" if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


def iso_time(text: str | None) -> str:
    """An alert's ISO 8601 time in the page's format."""
    if not text:
        return "unknown"
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return text


def percent(x: float | None, digits: int = 1) -> str:
    return "not available" if x is None else f"{100 * x:.{digits}f}%"


def number(x: float | None, digits: int = 3) -> str:
    return "not available" if x is None else f"{x:.{digits}f}"


def p_value(p: float | None) -> str:
    if p is None:
        return "not available"
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


def interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "not available"
    return f"{percent(low)} to {percent(high)}"


@dataclass
class Status:
    key: str
    word: str
    sentence: str


@dataclass
class View:
    status: Status
    alerts_reported: bool
    active: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    window: dict[str, Any] | None
    open_rows: int
    open_requests: int
    counters: dict[str, Any]
    drift: dict[str, Any] | None
    quality: dict[str, Any] | None
    mix: dict[str, Any] | None
    operations: dict[str, Any] | None
    performance: dict[str, Any] | None
    positive_label: str
    digest: str
    announcement: str
    latest: dict[str, Any] | None = None


def _alert(a: dict[str, Any], docs_url: str) -> dict[str, Any]:
    runbook = str(a.get("runbook") or "")
    return {
        "rule": str(a.get("rule", "")),
        "severity": str(a.get("severity", "")),
        "state": str(a.get("state", "")),
        "summary": str(a.get("summary", "")),
        "value": a.get("value"),
        "threshold": a.get("threshold"),
        "comparison": a.get("comparison", ""),
        "metric": a.get("metric", ""),
        "since": iso_time(a.get("since")),
        "runbook": urljoin(docs_url, runbook) if RUNBOOK.match(runbook) else None,
        "anchor_id": "runbook-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(a.get("rule", ""))),
    }


def _status(window: dict[str, Any] | None, active: list[dict[str, Any]]) -> Status:
    firing = [a for a in active if a["state"] == "firing"]
    if firing:
        n = len(firing)
        return Status(ALERTING, STATUS_WORDS[ALERTING], f"{n} alert{'s' if n != 1 else ''} firing: see Active alerts.")
    if active:
        return Status(WARNING, STATUS_WORDS[WARNING], f"{len(active)} alert(s) pending: not yet firing.")
    if window is None:
        return Status(
            NO_DATA,
            STATUS_WORDS[NO_DATA],
            "No rows have been scored in a closed window yet: the figures appear after the first one.",
        )
    if window["drift"]["verdict"] == "drift":
        n = window["drift"]["n_drifted"]
        return Status(
            WARNING, STATUS_WORDS[WARNING], f"The last window drifted: {n} features differ from the training data."
        )
    return Status(OK, STATUS_WORDS[OK], "The last window shows no drift and no alert is active.")


def _drift(w: dict[str, Any]) -> dict[str, Any]:
    d = w["drift"]
    rows = sorted(d.get("features") or [], key=lambda f: (not f["drifted"], f["adjusted_p_value"], f["feature"]))
    return {
        "verdict": d["verdict"],
        "n_drifted": d["n_drifted"],
        "policy": d.get("policy") or {},
        "features": [
            {
                "feature": f["feature"],
                "test": TESTS.get(f["algorithm"], f["algorithm"]),
                "statistic": number(f["statistic"]),
                "p_value": p_value(f["p_value"]),
                "adjusted": p_value(f["adjusted_p_value"]),
                "drifted": bool(f["drifted"]),
            }
            for f in rows
        ],
    }


def _quality(w: dict[str, Any]) -> dict[str, Any]:
    q = w["quality"]
    shares = q.get("out_of_range_rows_share") or {}
    return {
        "requests": q["requests"],
        "rejected": q["rejected"],
        "rejected_share": percent(q.get("rejected_share")),
        "by_reason": sorted(q.get("by_reason") or [], key=lambda r: -r["count"]),
        "by_field": sorted((q.get("by_field") or {}).items(), key=lambda kv: -kv[1]),
        "out_of_range": [
            (name, count, percent(shares.get(name)))
            for name, count in sorted((q.get("out_of_range") or {}).items(), key=lambda kv: -kv[1])
        ],
    }


def _mix(w: dict[str, Any]) -> dict[str, Any]:
    m = w["prediction_mix"]
    ref = m.get("reference") or None
    ci = m.get("positive_share_ci") or (None, None)
    hist = list(m.get("histogram") or [])
    bins = len(hist)
    labels = [f"{i / bins:.1f} to {(i + 1) / bins:.1f}" for i in range(bins)]
    peak = max(range(bins), key=lambda i: hist[i]) if bins and any(hist) else None
    described = (
        f"Bar chart of the {m['n']} probabilities of the window in {bins} bins; the most are in {labels[peak]} "
        f"({hist[peak]} cases). The table below gives every count."
        if peak is not None
        else "No probabilities in this window."
    )
    top = max(hist) if hist else 0
    return {
        "n": m["n"],
        "positive_share": percent(m.get("positive_share")),
        "positive_ci": interval(*ci),
        "mean_probability": number(m.get("mean_probability")),
        "threshold": number(m.get("threshold")),
        "reference": (
            {
                "n": ref["n"],
                "positive_share": percent(ref["positive_share"]),
                "actual": percent(ref["actual_positive_share"]),
            }
            if ref
            else None
        ),
        "histogram": list(zip(labels, hist, strict=True)),
        "bars": [(i, c, (c / top) if top else 0.0) for i, c in enumerate(hist)],
        "chart_text": described,
    }


def _operations(w: dict[str, Any]) -> dict[str, Any]:
    o = w["operations"]
    lat = o.get("latency_s") or {}
    return {
        "requests": o["requests"],
        "per_s": number(o.get("requests_per_s"), 2),
        "errors": sorted((o.get("errors_by_status") or {}).items()),
        "latency": [(q, "not available" if q not in lat else f"{1000 * lat[q]:.1f} ms") for q in ("p50", "p95", "p99")],
    }


def _rate(r: dict[str, Any] | None) -> dict[str, str]:
    if not r:
        return {"value": "not enough labels yet", "interval": "not available", "n": "0"}
    return {
        "value": percent(r.get("value")),
        "interval": interval(r.get("low"), r.get("high")),
        "n": str(r.get("n", 0)),
    }


def _performance(w: dict[str, Any]) -> dict[str, Any]:
    live = w.get("live_performance") or {}
    est = w.get("estimated_performance") or None
    measured = live.get("status") == "measured"
    rows = []
    for key, name in (("recall", "Recall"), ("precision", "Precision"), ("accuracy", "Accuracy")):
        rows.append(
            {
                "name": name,
                "live": _rate(live.get(key)) if measured else _rate(None),
                "estimated": percent(est.get(key)) if est else "not available",
            }
        )
    return {
        "measured": measured,
        "n": live.get("n", 0),
        "min_labels": live.get("min_labels"),
        "rows": rows,
        "estimated_n": est.get("n") if est else 0,
        "assumption": est.get("assumption") if est else None,
    }


def digest_of(summary: dict[str, Any]) -> str:
    """Changes when anything shown changes (the collector's clock is left out)."""
    shown = {k: v for k, v in summary.items() if k != "now"}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _window_info(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "start": utc(w["start_s"]),
        "end": utc(w["end_s"]),
        "span": f"{clock(w['start_s'])} to {clock(w['end_s'])} UTC",
        "length_s": f"{w['window_s']:g}",
        "rows": w["rows"],
        "requests": w["operations"]["requests"],
        "late_rows": w.get("late_rows", 0),
        "model_version": w.get("model_version") or "none",
        "versions": ", ".join(f"{v} ({n} rows)" for v, n in sorted((w.get("versions") or {}).items())),
        "replicas": w.get("replicas", 0),
    }


def build_view(summary: dict[str, Any], docs_url: str, positive_label: str = "positive class") -> View:
    """`latest`, the last closed window, gives traffic and quality (every request, the dashboard's
    own polls included, lands in a window); `scored`, the last window with scored rows, gives
    the model's figures: drift, prediction mix, performance."""
    windows = summary.get("windows") or []
    latest = windows[-1] if windows else None
    scored_windows = [w for w in windows if w.get("rows")]
    window = scored_windows[-1] if scored_windows else None
    alerts = summary.get("alerts")
    alerts_reported = isinstance(alerts, dict)
    active = [_alert(a, docs_url) for a in (alerts or {}).get("active", [])] if alerts_reported else []
    active.sort(key=lambda a: (SEVERITY_ORDER.get(a["severity"], 9), a["state"] != "firing", a["rule"]))
    resolved = (
        [_alert(a, docs_url) for a in (alerts or {}).get("resolved", [])][:RESOLVED_SHOWN] if alerts_reported else []
    )
    status = _status(window, active)
    open_windows = summary.get("open") or []
    info = _window_info(window) if window else None
    latest_info = _window_info(latest) if latest else None
    n_active = len(active)
    announcement = (
        f"Updated: status {status.word}. "
        + (f"{n_active} active alert{'s' if n_active != 1 else ''}. " if alerts_reported else "")
        + (f"Last window with scored rows {info['span']}, {info['rows']} rows." if info else "No rows scored yet.")
    )
    c = summary.get("counters") or {}
    performance = None
    if window is not None:
        performance = _performance({**window, "live_performance": (latest or window).get("live_performance")})
    return View(
        status=status,
        alerts_reported=alerts_reported,
        active=active,
        resolved=resolved,
        window=info,
        open_rows=sum(int(w.get("rows", 0)) for w in open_windows),
        open_requests=sum(int(w.get("requests", 0)) for w in open_windows),
        counters={
            "since": utc(summary.get("started_at")),
            "rows": c.get("rows", 0),
            "requests": sum(r["count"] for r in c.get("requests", [])),
            "late_rows": c.get("late_rows", 0),
            "dropped_rows": c.get("dropped_rows", 0),
        },
        drift=_drift(window) if window else None,
        quality=_quality(latest) if latest else None,
        mix=_mix(window) if window else None,
        operations=_operations(latest) if latest else None,
        performance=performance,
        positive_label=positive_label,
        digest=digest_of(summary),
        announcement=announcement,
        latest=latest_info,
    )
