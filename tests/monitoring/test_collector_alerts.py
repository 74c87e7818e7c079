"""The collector raises the committed alert rules at its window closes (C11.6, C11.10).

Real parts as in test_collector.py (a registry with the training data's reference profile,
whylogs profiles, the committed monitoring/alerts.yaml); only the clock is the test's. Held-out
WDBC rows, then the same rows with four features moved by one training standard deviation for
three windows, then held-out rows again: the drift alert goes pending, firing, resolved, each
once, on disk (alerts.jsonl, each window's summary), in the state and in the Prometheus text.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from api_support import CONTRACT, build_registry, settings_of
from prometheus_client.parser import text_string_to_metric_families

from modelship import profiling
from modelship.monitoring.alerts import ALERT_STATE_FILE, METRICS
from serve.monitoring.collector import Collector
from serve.monitoring.exposition import prometheus_text
from serve.monitoring.notify import ALERTS_FILE
from support import write_params
from tests.monitoring.conftest import shifted
from tests.monitoring.test_collector import T0, WINDOW_S, Clock, batch_of

pytestmark = [
    pytest.mark.requirement("C11.6", "C11.10"),
    pytest.mark.catalogue(
        part="Monitoring: the collector raises the alert rules (serve.monitoring.collector)",
        scope="integration",
        strategy="behavioural",
        tool="pytest, whylogs, prometheus_client parser",
    ),
]

MOVED = ["mean_radius", "mean_texture", "worst_smoothness", "mean_concavity"]


def new_collector(tmp, reference, contract):
    """A collector on a registry whose model has the training data's reference profile; its clock."""
    registry = build_registry(tmp / "registry", versions=1)
    profiling.write_profile(reference, registry.version_dir("v0001") / "reference_profile.bin")
    registry.update_metadata("v0001", confusion={"tp": 40, "fp": 6, "tn": 66, "fn": 2})
    params = write_params(tmp / "params.yaml", registry=str(tmp / "registry"), contract=str(CONTRACT))
    settings = settings_of(params=str(params), data_dir=str(tmp / "data"), window_s=WINDOW_S, handoff_s=1.0)
    clock = Clock(T0)
    return Collector(settings, contract, clock=clock), settings, clock


def close_window(collector, clock, i, frame, data):
    """Window i holds frame's rows; returns its summary once closed."""
    start = T0 + i * WINDOW_S
    times = start + np.linspace(0.1, WINDOW_S - 0.1, len(frame))
    p = data.model.predict_proba(frame[data.features].to_numpy())[:, 1]
    collector.ingest(batch_of(frame, data.features, times, p=p))
    clock.t = start + WINDOW_S + collector.grace_s
    [summary] = collector.tick()
    return summary


def moved_rows(data):
    return shifted(data.test, MOVED, 1.0, data.train[data.features].std())


@pytest.fixture(scope="module")
def run(tmp_path_factory, wdbc_split, contract):
    """Seven windows: normal, normal, drifted ×3, normal ×2; each window's summary."""
    data = wdbc_split
    collector, settings, clock = new_collector(tmp_path_factory.mktemp("collector-alerts"), data.reference, contract)
    moved = moved_rows(data)
    frames = [data.test, data.test, moved, moved, moved, data.test, data.test]
    summaries = [close_window(collector, clock, i, frame, data) for i, frame in enumerate(frames)]
    return collector, settings, summaries


def drift_of(summary):
    return next(e for e in summary["alerts"] if e["rule"] == "drift")


def test_the_drift_alert_goes_pending_firing_resolved_once_each(run):
    collector, settings, summaries = run
    breached = [drift_of(s)["breached"] for s in summaries]
    assert breached == [False, False, True, True, True, False, False]
    lines = [json.loads(x) for x in (settings.monitoring_dir / ALERTS_FILE).read_text(encoding="utf-8").splitlines()]
    drift = [(e["from"], e["state"], e["window"]) for e in lines if e["rule"] == "drift"]
    assert drift == [
        ("inactive", "pending", summaries[2]["start"]),
        ("pending", "firing", summaries[3]["start"]),
        ("firing", "resolved", summaries[5]["start"]),
    ]
    # No other rule fires on this traffic (the normal windows are held-out cases).
    assert {e["rule"] for e in lines} == {"drift"}
    state = collector.state()
    assert state["alerts"]["active"] == []
    (resolved,) = state["alerts"]["resolved"]
    assert resolved["rule"] == "drift" and resolved["summary"].endswith("features drifted (minimum 2)")


def test_each_window_summary_on_disk_holds_its_evaluations(run):
    _, settings, summaries = run
    files = sorted(settings.monitoring_dir.glob("*.summary.json"))
    on_disk = [json.loads(p.read_text(encoding="utf-8")) for p in files]
    assert [s["alerts"] for s in on_disk] == [s["alerts"] for s in summaries]
    assert drift_of(on_disk[3])["value"] >= 2 and drift_of(on_disk[3])["samples"] == on_disk[3]["rows"]


def test_the_prometheus_gauges_carry_what_the_rules_read(run):
    collector, _, summaries = run
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(collector.state(1)).decode())}

    def gauge(name, **labels):
        return [s.value for s in families[name].samples if s.labels == labels]

    last = summaries[-1]
    assert gauge("modelship_alert_state", rule="drift", severity="warning") == [0.0]
    assert gauge("modelship_drifted_features") == [METRICS["drifted_features"].value(last)]
    assert gauge("modelship_window_rows") == [METRICS["drifted_features"].count(last)]
    assert gauge("modelship_estimated_recall") == [METRICS["estimated_recall"].value(last)]
    assert gauge("modelship_window_requests") == [float(METRICS["latency_p95_s"].count(last))]
    shares = [s.value for s in families["modelship_out_of_range_share"].samples]
    assert max(shares) == METRICS["out_of_range_share"].value(last)


def transitions(settings, rule="drift"):
    lines = (settings.monitoring_dir / ALERTS_FILE).read_text(encoding="utf-8").splitlines()
    return [(e["from"], e["state"]) for e in map(json.loads, lines) if e["rule"] == rule]


def test_a_restarted_collector_keeps_a_firing_alert_and_does_not_report_it_again(tmp_path, wdbc_split, contract):
    data = wdbc_split
    first, settings, clock = new_collector(tmp_path, data.reference, contract)
    moved = moved_rows(data)
    for i, frame in enumerate([data.test, moved, moved]):
        close_window(first, clock, i, frame, data)
    assert transitions(settings) == [("inactive", "pending"), ("pending", "firing")]
    first.stop(flush=False)  # as if killed: nothing more from it

    second = Collector(settings, contract, clock=clock)
    [drift] = second.state()["alerts"]["active"]
    assert (drift["rule"], drift["state"]) == ("drift", "firing")
    close_window(second, clock, 3, moved, data)
    assert transitions(settings) == [("inactive", "pending"), ("pending", "firing")]
    close_window(second, clock, 4, data.test, data)
    assert transitions(settings) == [("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
    assert second.state()["alerts"]["active"] == []


def test_an_unreadable_alert_state_starts_afresh_and_says_so(tmp_path, wdbc_split, contract, caplog):
    first, settings, clock = new_collector(tmp_path, wdbc_split.reference, contract)
    first.stop(flush=False)
    (settings.monitoring_dir / ALERT_STATE_FILE).parent.mkdir(parents=True, exist_ok=True)
    (settings.monitoring_dir / ALERT_STATE_FILE).write_text("{ half-written", encoding="utf-8")
    second = Collector(settings, contract, clock=clock)
    assert {r["state"] for r in second.state()["alerts"]["rules"]} == {"inactive"}
    assert any("alert states not restored" in r.getMessage() for r in caplog.records)
