"""Alert rules and their states (modelship.monitoring.alerts; C11.6, C11.7, C11.10).

The rules file is read and checked (a bad one is refused with the file, the rule and what to
change); each rule's metric is read from window summaries shaped as the collector writes them;
the state machine goes pending, firing, resolved with one transition each, whatever the number
of windows in between; a window too small to judge leaves an alert as it was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from modelship.monitoring.alerts import (
    FIRING,
    INACTIVE,
    METRICS,
    PENDING,
    RESOLVED,
    AlertRulesError,
    Alerts,
    Rule,
    load_rules,
    parse_rules,
)

pytestmark = [
    pytest.mark.requirement("C11.6", "C11.7", "C11.10"),
    pytest.mark.catalogue(
        part="Monitoring: alert rules and states (modelship.monitoring.alerts)",
        scope="unit",
        strategy="example-based",
        tool="pytest",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "monitoring" / "alerts.yaml"
T0 = 1_800_000_000.0


def rule(**overrides: Any) -> Rule:
    fields: dict[str, Any] = {
        "id": "drift",
        "metric": "drifted_features",
        "comparison": ">=",
        "threshold": 2.0,
        "for_windows": 2,
        "min_samples": 50,
        "severity": "warning",
        "runbook": "runbook-drift",
        "summary": "{value:.0f} features drifted (minimum {threshold:.0f})",
    }
    return Rule(**{**fields, **overrides})


def window(i: int, n_drifted: int | None = 0, rows: int = 100, **parts: Any) -> dict[str, Any]:
    """A closed window's summary, with the parts the metrics read."""
    verdict = "not enough data" if n_drifted is None else ("drift" if n_drifted >= 2 else "no drift")
    return {
        "start": f"w{i:03d}",
        "rows": rows,
        "drift": {"verdict": verdict, "n_drifted": n_drifted or 0},
        **parts,
    }


def run(alerts: Alerts, drifted: list[int | None]) -> list[list[dict[str, Any]]]:
    """Each window's transitions."""
    return [alerts.evaluate(window(i, d), T0 + 60 * i)[1] for i, d in enumerate(drifted)]


def test_pending_then_firing_then_resolved_with_one_transition_each():
    alerts = Alerts([rule()])
    steps = run(alerts, [0, 3, 4, 5, 4, 4, 0, 0])
    moves = [(t["from"], t["state"]) for step in steps for t in step]
    assert moves == [(INACTIVE, PENDING), (PENDING, FIRING), (FIRING, RESOLVED)]
    # The transitions fall on the windows that caused them, and nowhere else.
    assert [len(s) for s in steps] == [0, 1, 1, 0, 0, 0, 1, 0]
    firing = steps[2][0]
    assert firing["window"] == "w002" and firing["since"] == "2027-01-15T08:02:00Z"
    assert firing["summary"] == "4 features drifted (minimum 2)" and firing["value"] == 4.0
    assert firing["runbook"] == "monitoring.html#runbook-drift"
    snapshot = alerts.snapshot()
    assert snapshot["active"] == [] and [r["state"] for r in snapshot["resolved"]] == [RESOLVED]
    assert snapshot["resolved"][0]["window"] == "w006"
    assert snapshot["rules"] == [{"rule": "drift", "severity": "warning", "state": INACTIVE, "value": 0.0}]


def test_a_pending_alert_that_clears_goes_back_to_inactive_without_resolving():
    alerts = Alerts([rule(for_windows=3)])
    steps = run(alerts, [3, 3, 0, 3])
    assert [(t["from"], t["state"]) for s in steps for t in s] == [
        (INACTIVE, PENDING),
        (PENDING, INACTIVE),
        (INACTIVE, PENDING),
    ]
    assert alerts.snapshot()["resolved"] == []


def test_for_one_window_fires_at_once():
    alerts = Alerts([rule(for_windows=1)])
    assert [(t["from"], t["state"]) for s in run(alerts, [5]) for t in s] == [(INACTIVE, FIRING)]


def test_a_window_too_small_or_not_judged_is_undecided_and_raises_nothing():
    alerts = Alerts([rule(for_windows=1)])
    evaluations, transitions = alerts.evaluate(window(0, 5, rows=49), T0)
    assert transitions == [] and evaluations == [{"rule": "drift", "value": None, "samples": 49, "breached": None}]
    evaluations, transitions = alerts.evaluate(window(1, None, rows=500), T0 + 60)
    assert transitions == [] and evaluations == [{"rule": "drift", "value": None, "samples": 500, "breached": None}]
    assert alerts.snapshot()["rules"] == [{"rule": "drift", "severity": "warning", "state": INACTIVE, "value": None}]


def test_a_quiet_window_keeps_a_firing_alert_firing():
    alerts = Alerts([rule()])
    run(alerts, [4, 5])
    (firing,) = alerts.snapshot()["active"]
    # Too few rows, then a window the drift test could not judge: neither clears the alert.
    for i, (drifted, rows) in enumerate([(0, 10), (None, 500)], start=2):
        evaluations, transitions = alerts.evaluate(window(i, drifted, rows=rows), T0 + 60 * i)
        assert transitions == [] and evaluations[0]["breached"] is None
    assert alerts.snapshot()["active"] == [firing]
    assert firing["state"] == FIRING and firing["summary"] == "5 features drifted (minimum 2)"
    assert alerts.snapshot()["resolved"] == []


def test_a_quiet_window_keeps_a_pending_alert_pending_with_its_streak():
    alerts = Alerts([rule(for_windows=3)])
    steps = run(alerts, [3, 4])
    _, transitions = alerts.evaluate(window(2, 0, rows=10), T0 + 120)
    assert transitions == [] and alerts.alerts["drift"].streak == 2
    (pending,) = alerts.snapshot()["active"]
    assert pending["state"] == PENDING and pending["window"] == "w000"
    # The third breaching judged window fires it: the quiet one neither counted nor reset.
    _, (fired,) = alerts.evaluate(window(3, 4), T0 + 180)
    assert (fired["from"], fired["state"], fired["window"]) == (PENDING, FIRING, "w003")
    assert [(t["from"], t["state"]) for s in steps for t in s] == [(INACTIVE, PENDING)]


def test_a_judged_normal_window_after_a_quiet_one_resolves():
    alerts = Alerts([rule()])
    run(alerts, [4, 5])
    alerts.evaluate(window(2, 0, rows=10), T0 + 120)
    evaluations, (resolved,) = alerts.evaluate(window(3, 0), T0 + 180)
    assert evaluations[0]["breached"] is False
    assert (resolved["from"], resolved["state"], resolved["window"]) == (FIRING, RESOLVED, "w003")
    assert resolved["value"] == 0.0 and resolved["samples"] == 100
    assert alerts.snapshot()["active"] == [] and alerts.alerts["drift"].streak == 0


def test_active_alerts_are_most_severe_first_then_firing_before_pending():
    rules = [
        rule(id="mix", metric="positive_share_shift", comparison=">", threshold=0.2, runbook="runbook-mix",
             for_windows=3, summary="{value:.2f}"),
        rule(),
        rule(id="errors", metric="server_error_share", comparison=">", threshold=0.02, severity="critical",
             min_samples=1, runbook="runbook-errors", for_windows=3, summary="{value:.1%}"),
    ]  # fmt: skip
    alerts = Alerts(rules)
    parts = {
        "prediction_mix": {"positive_share": 0.9, "reference": {"positive_share": 0.4}},
        "operations": {"requests": 100, "server_error_share": 0.5},
    }
    for i in range(2):
        alerts.evaluate(window(i, 4, **parts), T0 + 60 * i)
    active = alerts.snapshot()["active"]
    assert [(a["rule"], a["state"]) for a in active] == [("errors", PENDING), ("drift", FIRING), ("mix", PENDING)]
    assert active[0]["summary"] == "50.0%"


def test_resolved_alerts_are_kept_newest_first_and_bounded():
    alerts = Alerts([rule(for_windows=1)], kept_resolved=3)
    run(alerts, [4, 0] * 5)
    resolved = alerts.snapshot()["resolved"]
    assert [r["window"] for r in resolved] == ["w009", "w007", "w005"]


def test_a_restored_state_carries_on_where_the_saved_one_stopped():
    before = Alerts([rule(), rule(id="mix", metric="positive_share_shift", runbook="runbook-mix")], kept_resolved=3)
    run(before, [4, 5, 0, 4, 5])  # fired, resolved, then firing again
    saved = json.loads(json.dumps(before.saved()))  # as the collector writes and reads it
    after = Alerts([rule(), rule(id="mix", metric="positive_share_shift", runbook="runbook-mix")], kept_resolved=3)
    assert after.restore(saved) == []
    assert after.snapshot() == before.snapshot()
    # Still firing: another breached window reports nothing, a normal one resolves it once.
    assert after.evaluate(window(5, 6), T0 + 300)[1] == []
    (resolved,) = after.evaluate(window(6, 0), T0 + 360)[1]
    assert (resolved["from"], resolved["state"]) == (FIRING, RESOLVED)
    assert [r["window"] for r in after.snapshot()["resolved"]] == ["w006", "w002"]


def test_a_pending_streak_survives_a_restore():
    before = Alerts([rule(for_windows=3)])
    run(before, [4, 4])
    after = Alerts([rule(for_windows=3)])
    after.restore(before.saved())
    (fired,) = after.evaluate(window(2, 4), T0 + 120)[1]
    assert (fired["from"], fired["state"]) == (PENDING, FIRING)


@pytest.mark.parametrize(
    ("saved", "skipped"),
    [
        ("not a dict", ["the saved state is not in a known format"]),
        ({"format": 99, "alerts": {}}, ["the saved state is not in a known format"]),
        ({"format": 1, "alerts": {"gone": {}}}, ["gone: no such rule any more"]),
        ({"format": 1, "alerts": {"drift": {"state": "exploded", "streak": 1}}}, ["drift: malformed entry"]),
        ({"format": 1, "alerts": {"drift": {"state": FIRING}}}, ["drift: malformed entry"]),
    ],
)
def test_a_saved_state_that_cannot_be_used_is_skipped_and_said(saved, skipped):
    alerts = Alerts([rule()])
    assert alerts.restore(saved) == skipped
    assert alerts.alerts["drift"].state == INACTIVE and alerts.alerts["drift"].streak == 0


def summary_of_every_part() -> dict[str, Any]:
    return {
        "start": "w",
        "rows": 80,
        "drift": {"verdict": "drift", "n_drifted": 3},
        "quality": {
            "predict_requests": 40,
            "invalid_share": 0.25,
            "out_of_range_rows_share": {"mean_radius": 0.05, "mean_area": 0.2},
        },
        "prediction_mix": {"positive_share": 0.5, "reference": {"positive_share": 0.375}},
        "operations": {"requests": 60, "latency_s": {"p50": 0.01, "p95": 0.7, "p99": 0.9}, "server_error_share": 0.1},
        "live_performance": {"status": "measured", "n": 35, "recall": {"value": 0.8}},
        "estimated_performance": {"recall": 0.9},
    }


def test_each_metric_is_read_from_its_part_of_the_summary():
    s = summary_of_every_part()
    read = {name: (m.value(s), m.count(s)) for name, m in METRICS.items()}
    assert read == {
        "drifted_features": (3.0, 80),
        "invalid_share": (0.25, 40),
        "out_of_range_share": (0.2, 80),
        "positive_share_shift": (0.125, 80),
        "latency_p95_s": (0.7, 60),
        "server_error_share": (0.1, 60),
        "live_recall": (0.8, 35),
        "estimated_recall": (0.9, 80),
    }


def test_metrics_without_their_figures_have_no_value():
    empty = {"start": "w", "rows": 0, "drift": {"verdict": "no reference", "n_drifted": 0}}
    assert {name: m.value(empty) for name, m in METRICS.items()} == dict.fromkeys(METRICS)
    no_labels = {"live_performance": {"status": "not enough labels yet", "n": 3, "recall": None}}
    assert METRICS["live_recall"].value(no_labels) is None and METRICS["live_recall"].count(no_labels) == 3


def test_the_committed_rules_file_is_valid_and_covers_every_monitored_part(params):
    rules = {r.id: r for r in load_rules(RULES_FILE)}
    assert {r.metric for r in rules.values()} == set(METRICS)
    # One figure, two files: the live recall alert's floor is the promotion gate's.
    assert rules["live_recall"].threshold == params.gate_min_recall
    assert rules["live_recall"].min_samples >= 30


def test_every_rule_has_its_runbook_entry_in_the_docs():
    page = (ROOT / "docs" / "monitoring.qmd").read_text(encoding="utf-8")
    anchors = set(re.findall(r"\{#(runbook-[a-z0-9_-]+)\}", page))
    assert {r.runbook for r in load_rules(RULES_FILE)} <= anchors


GOOD = """
rules:
  - id: drift
    metric: drifted_features
    comparison: ">="
    threshold: 2
    for_windows: 2
    min_samples: 50
    severity: warning
    runbook: runbook-drift
    summary: "{value:.0f} drifted"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("metric: drifted_features", "metric: drifted"), "unknown metric 'drifted'; the metrics are drifted_features"),
        (('comparison: ">="', 'comparison: "=="'), "comparison '==' is not one of > >= < <="),
        (("threshold: 2", "threshold: two"), "threshold 'two' must be a number"),
        (("for_windows: 2", "for_windows: 0"), "for_windows 0 must be a whole number of at least 1"),
        (("min_samples: 50", "min_samples: 1.5"), "min_samples 1.5 must be a whole number"),
        (("severity: warning", "severity: page"), "severity 'page' is not one of critical, warning"),
        (("runbook: runbook-drift", "runbook: drift"), "runbook must be runbook-drift"),
        (('"{value:.0f} drifted"', '"{count} drifted"'), "summary uses {count}; the fields are value"),
        (('"{value:.0f} drifted"', '"{value:>8} drifted"'), "summary format {value:>8} is not one of"),
        (('"{value:.0f} drifted"', '"{value drifted"'), "is not a valid template"),
        (("    severity: warning\n", ""), "missing severity"),
        (("    severity: warning\n", "    severity: warning\n    owner: me\n"), "unknown owner"),
        (("id: drift", "id: Drift!"), "id 'Drift!' must be lower case"),
        (("rules:", "rulez:"), "expected one key, `rules:`"),
        (("rules:", "rules: ["), "not valid YAML"),
    ],
)
def test_a_bad_rules_file_is_refused_with_what_to_change(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(AlertRulesError) as info:
        parse_rules(GOOD.replace(old, new), "alerts.yaml")
    assert message in str(info.value) and str(info.value).startswith("alerts.yaml")


def test_a_rule_id_used_twice_is_refused():
    body = GOOD + GOOD.split("rules:", 1)[1]
    with pytest.raises(AlertRulesError, match="rule id 'drift' is used twice"):
        parse_rules(body, "alerts.yaml")


def test_a_missing_rules_file_names_the_setting(tmp_path):
    with pytest.raises(AlertRulesError, match="monitoring.alert_rules"):
        load_rules(tmp_path / "nope.yaml")


def test_the_docs_rules_table_says_what_the_rules_file_says():
    page = (ROOT / "docs" / "monitoring.qmd").read_text(encoding="utf-8")
    rows = {
        m[0]: m[1:]
        for m in re.findall(
            r"^\| \[`(\w+)`\]\(#runbook-\w+\) \| `(\w+)` \| `(\S+) (\S+)` \| (\d+) \| (\d+) [^|]+\| (\w+) \|$",
            page,
            re.M,
        )
    }
    expected = {
        r.id: (r.metric, r.comparison, f"{r.threshold:g}", str(r.for_windows), str(r.min_samples), r.severity)
        for r in load_rules(RULES_FILE)
    }
    assert rows == expected
