"""GET /v1/monitoring/summary and /v1/monitoring/metrics (C11.3, C11.6; C9.1 for the monitor scope).

In process, with the collector in a thread (serve.monitoring.sinks.ThreadSink) and short
windows: predictions, refusals and their fields reach the collector through the replica's
buffer, a window closes with its profile on disk, and the figures come back as JSON and in the
Prometheus text format, to a client holding the monitor scope only.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_support import problem, sample_records
from prometheus_client.parser import text_string_to_metric_families

from modelship import profiling
from serve.monitoring.collector import window_name

pytestmark = [
    pytest.mark.requirement("C11.3", "C11.6", "C9.1"),
    pytest.mark.catalogue(
        part="API: GET /v1/monitoring/summary and /v1/monitoring/metrics",
        scope="integration",
        strategy="example-based",
        tool="pytest + Starlette TestClient, API app in-process, prometheus_client parser",
    ),
]

FAST = {"window_s": 1.0, "handoff_s": 0.05}


def summary(api) -> dict[str, Any]:
    r = api.client.get("/v1/monitoring/summary", headers=api.headers("monitor"))
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(api, check, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        state = summary(api)
        if check(state):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.1)


def test_scored_rows_reach_a_window_profile(make_api):
    api = make_api(**FAST)
    for i in range(3):
        assert api.predict(n=5, offset=5 * i).status_code == 200
    state = wait_for(api, lambda s: sum(w["rows"] for w in s["windows"]) >= 15)
    assert state["counters"]["rows"] == 15
    window = next(w for w in state["windows"] if w["rows"])
    assert window["model_version"] == "v0001" and window["replicas"] == 1
    assert window["prediction_mix"]["n"] == window["rows"]
    # This test registry has no reference profile: drift is not judged, and says so.
    assert window["drift"]["verdict"] == "no reference"
    folder = api.settings.monitoring_dir
    profiles = sorted(folder.glob("*.profile.bin"))
    rows = sum(profiling.row_count(profiling.read_profile(p), "mean_radius") for p in profiles)
    assert rows == 15
    assert (folder / f"{window['start']}.{window['collector']}.summary.json").is_file()
    assert window["start"] == window_name(window["start_s"])


def test_refusals_are_counted_by_reason_and_field(make_api, contract_wdbc):
    api = make_api(**FAST)
    bad = sample_records(2)
    low = contract_wdbc.feature("mean_radius").min
    bad[1]["mean_radius"] = low - 1
    bad[0]["not_a_feature"] = 1.0
    r = api.client.post("/v1/predict", json={"records": bad}, headers=api.headers("clinic"))
    problem(r, 422)
    problem(api.client.post("/v1/predict", json={"records": sample_records(1)}), 401)

    # A refusal and its request line are separate events: they may reach the collector in
    # different hand-offs, so wait for both.
    def seen(s):
        requests = {(r["route"], r["status"]) for r in s["counters"]["requests"]}
        return len(s["counters"]["rejections"]) >= 2 and {("/v1/predict", 422), ("/v1/predict", 401)} <= requests

    state = wait_for(api, seen)
    reasons = {(r["status"], r["reason"]): r["count"] for r in state["counters"]["rejections"]}
    assert reasons[(422, "validation-error")] == 1 and reasons[(401, "unauthorized")] == 1
    # The client's own extra key is not a label value: it is counted as `other`.
    assert state["counters"]["rejected_fields"] == {"records.mean_radius": 1, "other": 1}
    requests = {(r["route"], r["status"]): r["count"] for r in state["counters"]["requests"]}
    assert requests[("/v1/predict", 422)] == 1 and requests[("/v1/predict", 401)] == 1


def test_the_metrics_are_in_the_prometheus_text_format(make_api):
    api = make_api(**FAST)
    assert api.predict(n=3).status_code == 200
    wait_for(api, lambda s: any(w["rows"] for w in s["windows"]))
    r = api.client.get("/v1/monitoring/metrics", headers=api.headers("monitor"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    predicted = [
        s.value
        for s in families["modelship_requests"].samples
        if s.name == "modelship_requests_total" and s.labels == {"route": "/v1/predict", "status": "200"}
    ]
    assert predicted == [1.0]
    assert [s.value for s in families["modelship_scored_rows"].samples if s.name.endswith("_total")] == [3.0]
    assert {"modelship_request_latency_seconds", "modelship_window_latency_seconds", "modelship_drift_judged"} <= set(
        families
    )
    assert [s.labels for s in families["modelship_model_info"].samples] == [{"version": "v0001"}]
    assert [s.value for s in families["modelship_live_enough_labels"].samples] == [0.0]


@pytest.mark.parametrize("path", ["/v1/monitoring/summary", "/v1/monitoring/metrics"])
def test_only_the_monitor_scope_reads_them(api, path):
    problem(api.client.get(path), 401)
    for client in ("clinic", "admin"):
        body = problem(api.client.get(path, headers=api.headers(client)), 403)
        assert body["type"].endswith("insufficient-scope")
    assert api.client.get(path, headers=api.headers("monitor")).status_code == 200


def test_with_monitoring_off_the_routes_say_so_and_predictions_still_work(make_api):
    api = make_api(enabled=False)
    assert api.service.monitor is None
    assert api.predict(n=2).status_code == 200
    body = problem(api.client.get("/v1/monitoring/summary", headers=api.headers("monitor")), 404)
    assert body["type"].endswith("monitoring-off")
