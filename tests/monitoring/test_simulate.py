"""The sandbox's simulator without a service (C11.5): the drifted rows stay inside the contract and
the broken ones do not, the webhook receiver records what is posted to it, and the verdict fails
each claim on a timeline built to break it. The scenario itself runs on the live service
(tests/live/test_sandbox.py)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from modelship.monitoring.drift import DRIFT, NO_DRIFT, NOT_ENOUGH_DATA
from serve.monitoring.simulate import (
    DRIFTED,
    NORMAL,
    RECOVERY,
    WARMUP,
    DashboardRead,
    Row,
    Scenario,
    Timeline,
    broken,
    checks,
    drifted,
    false_alarms,
    render,
    render_checks,
    verdict_ok,
)
from serve.monitoring.webhook_receiver import WebhookReceiver
from serve.schemas import record_model

pytestmark = [
    pytest.mark.requirement("C11.5"),
    pytest.mark.catalogue(
        part="Monitoring: the sandbox's traffic simulator, timeline and verdict (serve.monitoring.simulate)",
        scope="unit",
        strategy="example-based",
        tool="pytest, pydantic, http.server",
    ),
]

SCENARIO = Scenario()
LIVE = {"status": "measured", "n": 40, "min_labels": 30, "recall": {"value": 0.97, "low": 0.9, "high": 0.99, "n": 30}}


def test_drifted_rows_are_accepted_by_the_contract_and_broken_ones_refused(wdbc_split, contract):
    record = record_model(contract)
    scale = wdbc_split.train[wdbc_split.features].std()
    moved = drifted(wdbc_split.test, SCENARIO, scale, contract)
    assert (moved[list(SCENARIO.shifted)] > wdbc_split.test[list(SCENARIO.shifted)]).all().all()
    for values in moved[wdbc_split.features].to_dict("records"):
        record(**values)  # inside every bound: served, not refused
    bad = broken(moved.head(1), SCENARIO)[wdbc_split.features].to_dict("records")[0]
    with pytest.raises(ValidationError, match=SCENARIO.broken):
        record(**bad)


def test_the_webhook_receiver_records_json_bodies_and_refuses_others():
    with WebhookReceiver() as hook:
        assert hook.url.startswith("http://127.0.0.1:")
        assert httpx.post(hook.url, json={"text": "[FIRING] drift", "alert": {"rule": "drift"}}).status_code == 200
        assert httpx.post(hook.url, content=b"not json").status_code == 400
        [got] = hook.received()
    assert got["alert"] == {"rule": "drift"} and got["received_at"] > 0


def row(phase: str, i: int, verdict: str = NO_DRIFT, rejected: int = 0, **alerts) -> Row:
    fields = {"pending": [], "fired": [], "resolved": [], "active": [], "webhook": []} | alerts
    return Row(
        phase=phase,
        window=f"W{i}",
        start_s=1_800_000_000.0 + 2 * i,
        end_s=1_800_000_002.0 + 2 * i,
        rows=150,
        sent_rows=150,
        requests=25,
        rejected=rejected,
        statuses={200: 20, 422: rejected} if rejected else {200: 25},
        verdict=verdict,
        n_drifted=6 if verdict == DRIFT else 0,
        drifted=["mean_radius"] if verdict == DRIFT else [],
        labels_sent=5,
        live=LIVE,
        **fields,
    )


def good_rows() -> list[Row]:
    hooks = ["drift:firing", "invalid_requests:firing"]
    return [
        row(NORMAL, 0),
        row(NORMAL, 1),
        row(DRIFTED, 2, DRIFT, 5, pending=["drift", "invalid_requests"]),
        row(DRIFTED, 3, DRIFT, 5, fired=["drift", "invalid_requests"], webhook=hooks),
        row(
            RECOVERY, 4, resolved=["drift", "invalid_requests"], webhook=["drift:resolved", "invalid_requests:resolved"]
        ),
    ]


def timeline(rows: list[Row], alerts: bool = True, final_active=()) -> Timeline:
    deliveries = [{"alert": {}}] * 4
    return Timeline(rows, alerts, deliveries, list(final_active), LIVE, 30.0)


PROMETHEUS = [(1.0, "inactive"), (2.0, "pending"), (3.0, "firing"), (4.0, "firing"), (5.0, "inactive")]
DASHBOARD = [
    DashboardRead(1.0, "ok", {}),
    DashboardRead(2.0, "warning", {"drift": "pending", "invalid_requests": "pending"}),
    DashboardRead(3.0, "alerting", {"drift": "firing", "invalid_requests": "firing"}),
    DashboardRead(5.0, "ok", {}),
]
DASHBOARD_CHECK = "the dashboard showed drift and invalid_requests firing, then neither"


def test_a_timeline_as_the_scenario_wants_it_passes_every_check():
    results = checks(timeline(good_rows()), prometheus=PROMETHEUS, dashboard=DASHBOARD)
    assert all(c.passed for c in results), render_checks(results)
    assert verdict_ok(results) and false_alarms(timeline(good_rows())) == 0
    table = render(timeline(good_rows())).splitlines()
    assert len(table) == 2 + 5 and "drift, invalid_requests" in table[4]


def failed(rows: list[Row], **kwargs) -> set[str]:
    return {
        c.name
        for c in checks(
            timeline(rows, **{k: v for k, v in kwargs.items() if k not in ("prometheus", "dashboard")}),
            prometheus=kwargs.get("prometheus", PROMETHEUS),
            dashboard=kwargs.get("dashboard", DASHBOARD),
        )
        if c.passed is False
    }


def test_an_alert_during_normal_traffic_fails_the_verdict():
    rows = good_rows()
    rows[1] = row(NORMAL, 1, pending=["drift"])
    assert failed(rows) == {"no alert during normal traffic"}
    assert false_alarms(timeline(rows)) == 1


def test_a_normal_window_judged_drift_is_a_false_alarm():
    rows = good_rows()
    rows[0] = row(NORMAL, 0, DRIFT)
    assert "normal traffic: no window judged drift" in failed(rows)


def test_a_drift_window_not_judged_or_without_refusals_fails():
    rows = good_rows()
    rows[2] = row(DRIFTED, 2, NOT_ENOUGH_DATA, 0, pending=["drift", "invalid_requests"])
    assert {
        "every window closed and was judged",
        "drifted traffic: every window judged drift",
        "the broken feature: 422s in the drift phase only",
    } <= failed(rows)


def test_an_alert_that_never_fires_or_never_resolves_fails():
    rows = good_rows()
    rows[3] = row(DRIFTED, 3, DRIFT, 5, fired=["drift"], webhook=["drift:firing"])
    rows[4] = row(RECOVERY, 4, resolved=["drift"], webhook=["drift:resolved"])
    assert {
        "drift and quality alerts fire during the drift phase",
        "both resolve in the recovery phase, nothing left active",
        "the webhook received each firing and resolution",
    } <= failed(rows)
    assert "both resolve in the recovery phase, nothing left active" in failed(
        good_rows(), final_active=[{"rule": "x"}]
    )


def test_prometheus_must_show_pending_then_firing_then_inactive():
    name = "Prometheus: the drift alert went pending, firing, then inactive"
    assert name in failed(good_rows(), prometheus=[(1.0, "firing"), (2.0, "inactive")])
    assert name in failed(good_rows(), prometheus=[(1.0, "pending"), (2.0, "firing")])
    results = checks(timeline(good_rows()))
    assert next(c for c in results if c.name == name).passed is None  # not run, and not a failure
    assert verdict_ok(results)


@pytest.mark.parametrize(
    "reads",
    [
        [],
        DASHBOARD[:2] + DASHBOARD[3:],  # never showed them firing
        DASHBOARD[:3],  # still listed at the end
        [DashboardRead(3.0, "alerting", {"drift": "firing"}), DASHBOARD[3]],  # only one of the two
        [DashboardRead(3.0, "down", {"drift": "firing", "invalid_requests": "firing"}), DASHBOARD[3]],
    ],
)
def test_the_dashboard_must_show_both_alerts_firing_then_neither(reads):
    assert DASHBOARD_CHECK in failed(good_rows(), dashboard=reads)


def test_without_alerts_in_the_summary_the_alert_checks_are_reported_not_run():
    results = checks(timeline(good_rows(), alerts=False), prometheus=PROMETHEUS)
    not_run = [c for c in results if c.passed is None]
    assert len(not_run) == 5 and verdict_ok(results)  # the 4 alert checks, and the dashboard's
    assert "NOT RUN" in render_checks(results)


def test_a_latency_alert_is_reported_but_not_counted_against_the_traffic():
    # latency says how fast this machine serves, not what the traffic is: shown, not a false alarm
    rows = good_rows()
    rows[0] = row(NORMAL, 0, pending=["latency_p95"])
    results = checks(timeline(rows, final_active=[{"rule": "latency_p95"}]), prometheus=PROMETHEUS)
    assert verdict_ok(results) and false_alarms(timeline(rows)) == 0
    assert "latency_p95" in next(c.detail for c in results if c.name == "no alert during normal traffic")


def test_a_warm_up_window_too_small_to_judge_is_shown_not_judged():
    rows = [row(WARMUP, -1, NOT_ENOUGH_DATA), *good_rows()]
    assert verdict_ok(checks(timeline(rows), prometheus=PROMETHEUS))
    assert render(timeline(rows)).splitlines()[2].startswith("warm-up")
    assert "every window closed and was judged" in failed([row(NORMAL, -1, NOT_ENOUGH_DATA), *good_rows()])
