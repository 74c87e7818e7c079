"""What the page says, from real summaries of the API after real traffic (normal, then drifted,
then with labels), and from summaries carrying alerts in the agreed shape
(docs/monitoring.qmd; the alerts' states come from the alert rules) (C11.3, C11.6)."""

from __future__ import annotations

import copy

import pytest

from dashboard.view import ALERTING, NO_DATA, OK, WARNING, build_view
from tests.dashboard.conftest import DRIFTED, MIN_LABELS, ROWS

pytestmark = [
    pytest.mark.requirement("C11.3", "C11.6"),
    pytest.mark.catalogue(
        part="Monitoring dashboard: what it shows from the service's summary",
        scope="integration",
        strategy="example-based",
        tool="pytest, httpx, uvicorn (API app in a thread), whylogs",
    ),
]

DOCS = "/site/docs/"


def alert(rule: str, severity: str, state: str, runbook: str | None = None) -> dict:
    return {
        "rule": rule,
        "severity": severity,
        "state": state,
        "summary": f"{rule} crossed its threshold",
        "metric": "drifted_features",
        "comparison": ">=",
        "threshold": 2.0,
        "value": 4.0,
        "since": "2026-12-02T14:00:00Z",
        "window": "20261202T140000Z",
        "runbook": runbook if runbook is not None else f"monitoring.html#runbook-{rule}",
    }


def test_before_any_window_closed_there_is_no_data():
    view = build_view({"started_at": 0, "now": 1, "window_s": 1, "windows": [], "open": [], "counters": {}}, DOCS)
    assert view.status.key == NO_DATA and view.status.word == "No data yet"
    assert view.window is None and view.drift is None and not view.alerts_reported


def test_normal_traffic_makes_an_ok_window_with_every_part(stack):
    stack.predict()
    state = stack.wait_for_window(lambda w: w["rows"] == ROWS and w["drift"]["verdict"] == "no drift")
    view = build_view(state, DOCS, "malignant")
    assert view.status.key == OK, view.status
    assert view.window["model_version"] == "v0001" and view.window["replicas"] == 1
    assert len(view.drift["features"]) == len(stack.contract.feature_names) and view.drift["n_drifted"] == 0
    assert view.mix["reference"] is not None and sum(c for _, c in view.mix["histogram"]) == ROWS
    assert [q for q, _ in view.operations["latency"]] == ["p50", "p95", "p99"]
    assert all(v.endswith(" ms") for _, v in view.operations["latency"])
    assert view.performance["estimated_n"] == ROWS
    assert "Last window" in view.announcement and f"{ROWS} rows" in view.announcement


def test_drifted_traffic_makes_a_warning_with_the_drifted_features_first(stack):
    stack.predict(drifted=True)
    state = stack.wait_for_window(lambda w: w["rows"] == ROWS and w["drift"]["verdict"] == "drift")
    view = build_view(state, DOCS)
    # a warning: the window drifted, or the drift alert is pending (it fires on a second window)
    assert view.status.key == WARNING
    flagged = [f["feature"] for f in view.drift["features"] if f["drifted"]]
    assert flagged == [f["feature"] for f in view.drift["features"][: len(flagged)]]
    assert set(DRIFTED) & set(flagged)
    with_alerts = copy.deepcopy(state)
    with_alerts["alerts"] = {
        "active": [alert("quality", "warning", "pending"), alert("drift", "critical", "firing")],
        "resolved": [alert("latency", "warning", "resolved")],
    }
    view = build_view(with_alerts, DOCS)
    assert view.status.key == ALERTING and view.status.word == "Alerting"
    assert [a["rule"] for a in view.active] == ["drift", "quality"]  # most severe first
    assert view.active[0]["runbook"] == "/site/docs/monitoring.html#runbook-drift"
    assert view.resolved[0]["rule"] == "latency"
    assert "2 active alerts" in view.announcement


def test_labels_give_live_figures_with_wilson_intervals(stack):
    ids = stack.predict()
    stack.wait_for_window(lambda w: w["rows"] == ROWS)
    stack.feedback(ids[: MIN_LABELS + 5])
    stack.predict()
    state = stack.wait_for_window(lambda w: w["rows"] == ROWS and w["live_performance"]["status"] == "measured")
    p = build_view(state, DOCS).performance
    assert p["measured"] and p["n"] >= MIN_LABELS
    recall = p["rows"][0]
    assert recall["name"] == "Recall" and recall["live"]["value"].endswith("%")
    assert " to " in recall["live"]["interval"] and recall["estimated"].endswith("%")


def test_a_pending_alert_alone_is_a_warning_and_an_unsafe_runbook_gets_no_link(stack):
    state = copy.deepcopy(stack.summary())
    state["alerts"] = {"active": [alert("drift", "warning", "pending", runbook="javascript:alert(1)")], "resolved": []}
    view = build_view(state, DOCS)
    assert view.status.key == WARNING and view.active[0]["runbook"] is None
    state["alerts"] = {"active": [], "resolved": []}
    assert build_view(state, DOCS).alerts_reported
