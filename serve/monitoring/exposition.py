"""The collector's state in the Prometheus text format (GET /v1/monitoring/metrics).

Counters run since the collector started (a restart is a counter reset, which Prometheus's
rate() handles); gauges describe the last closed window, so a scrape between two closes reads
the same values. Every figure comes from the one collector, whichever replica answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from modelship.monitoring.alerts import STATE_VALUES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
P = "modelship_"


def _gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(P + name, doc, labels=list(labels or {}))
    if value is not None:
        family.add_metric(list((labels or {}).values()), float(value))
    return family


class _StateCollector:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        s = self.state
        c = s["counters"]
        yield from self._counters(c)
        last = s["windows"][-1] if s["windows"] else None
        yield _gauge("collector_start_time_seconds", "When the collector (re)started, Unix time.", s["started_at"])
        yield _gauge("window_seconds", "Length of a monitoring window.", s["window_s"])
        yield from self._alerts(s["alerts"])
        if last is None:
            return
        yield from self._window(last)

    def _counters(self, c: dict[str, Any]) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            P + "requests", "Requests answered, by route template and status.", labels=["route", "status"]
        )
        for r in c["requests"]:
            requests.add_metric([r["route"], str(r["status"])], r["count"])
        yield requests
        latency = HistogramMetricFamily(
            P + "request_latency_seconds", "Time to answer, by route template.", labels=["route"]
        )
        bounds = [*(str(b) for b in c["latency"]["buckets"]), "+Inf"]
        for route, h in c["latency"]["by_route"].items():
            cumulative, total = [], 0
            for bound, count in zip(bounds, h["counts"], strict=True):
                total += count
                cumulative.append((bound, float(total)))
            latency.add_metric([route], cumulative, h["sum"])
        yield latency
        rejections = CounterMetricFamily(
            P + "rejections", "Requests refused, by status and problem type.", labels=["status", "reason"]
        )
        for r in c["rejections"]:
            rejections.add_metric([str(r["status"]), r["reason"]], r["count"])
        yield rejections
        fields = CounterMetricFamily(
            P + "rejected_fields", "Refused requests (422) by the field they failed on.", labels=["field"]
        )
        for name, count in sorted(c["rejected_fields"].items()):
            fields.add_metric([name], count)
        yield fields
        yield CounterMetricFamily(P + "scored_rows", "Scored rows the collector received.", value=c["rows"])
        yield CounterMetricFamily(P + "late_rows", "Rows that arrived after their window closed.", value=c["late_rows"])
        yield _gauge("dropped_rows", "Rows replicas could not hand over since they started.", c["dropped_rows"])

    def _window(self, w: dict[str, Any]) -> Iterator[Metric]:
        yield _gauge("window_end_time_seconds", "End of the last closed window, Unix time.", w["end_s"])
        yield _gauge("window_rows", "Scored rows in the last closed window.", w["rows"])
        yield _gauge("replicas_reporting", "Replicas that sent traffic in the last closed window.", w["replicas"])
        info = GaugeMetricFamily(
            P + "model_info", "The model version that scored most rows of the last window.", labels=["version"]
        )
        if w["model_version"]:
            info.add_metric([w["model_version"]], 1.0)
        yield info
        ops = w["operations"]
        yield _gauge("window_requests_per_second", "Request rate over the last closed window.", ops["requests_per_s"])
        yield _gauge("window_requests", "Requests answered in the last closed window.", ops["requests"])
        yield _gauge(
            "window_server_error_share",
            "Share of the last window's requests answered with a 5xx status.",
            ops["server_error_share"],
        )
        quantiles = GaugeMetricFamily(
            P + "window_latency_seconds", "Latency quantiles of the last closed window.", labels=["quantile"]
        )
        for q, v in (ops["latency_s"] or {}).items():
            quantiles.add_metric([{"p50": "0.5", "p95": "0.95", "p99": "0.99"}[q]], v)
        yield quantiles
        yield from self._drift(w["drift"])
        yield from self._quality(w["quality"])
        yield from self._mix(w["prediction_mix"])
        yield from self._performance(w["live_performance"], w["estimated_performance"])

    def _alerts(self, a: dict[str, Any]) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            P + "alert_state",
            "Each alert rule's state: 0 inactive, 1 pending, 2 firing (monitoring/alerts.yaml).",
            labels=["rule", "severity"],
        )
        for r in a["rules"]:
            state.add_metric([r["rule"], r["severity"]], STATE_VALUES[r["state"]])
        yield state

    def _drift(self, d: dict[str, Any]) -> Iterator[Metric]:
        judged = d["verdict"] in ("drift", "no drift")
        yield _gauge(
            "drift_judged", "1 when the last window could be judged (enough rows, a reference).", float(judged)
        )
        yield _gauge(
            "drift_detected",
            "1 when the last window drifted (see docs/monitoring.qmd).",
            float(d["verdict"] == "drift"),
        )
        yield _gauge("drifted_features", "Features that drifted in the last window.", d["n_drifted"])
        p = GaugeMetricFamily(
            P + "drift_p_value", "KS / chi-square p-value per feature, last window.", labels=["feature"]
        )
        q = GaugeMetricFamily(
            P + "drift_adjusted_p_value", "Benjamini-Hochberg adjusted p-value per feature.", labels=["feature"]
        )
        stat = GaugeMetricFamily(
            P + "drift_statistic", "Test statistic per feature (KS: largest CDF gap).", labels=["feature"]
        )
        for f in d["features"]:
            p.add_metric([f["feature"]], f["p_value"])
            q.add_metric([f["feature"]], f["adjusted_p_value"])
            stat.add_metric([f["feature"]], f["statistic"])
        yield from (p, q, stat)

    def _quality(self, q: dict[str, Any]) -> Iterator[Metric]:
        yield _gauge(
            "window_rejected_share", "Share of the last window's requests that were refused.", q["rejected_share"]
        )
        yield _gauge("window_predict_requests", "Prediction requests in the last closed window.", q["predict_requests"])
        yield _gauge(
            "window_invalid_share",
            "Share of the last window's prediction requests refused as invalid (422).",
            q["invalid_share"],
        )
        oor = GaugeMetricFamily(
            P + "out_of_range_share",
            "Share of accepted rows outside the training range, per feature.",
            labels=["feature"],
        )
        for name, share in sorted(q["out_of_range_rows_share"].items()):
            oor.add_metric([name], share)
        yield oor

    def _mix(self, m: dict[str, Any]) -> Iterator[Metric]:
        yield _gauge("prediction_positive_share", "Share predicted positive in the last window.", m["positive_share"])
        yield _gauge("prediction_mean_probability", "Mean probability in the last window.", m["mean_probability"])
        ref = m["reference"]
        yield _gauge(
            "prediction_positive_share_reference",
            "Share predicted positive on the evaluation's test set.",
            ref["positive_share"] if ref else None,
        )
        hist = GaugeMetricFamily(
            P + "prediction_probability_bin", "Rows per probability bin, last window.", labels=["bin"]
        )
        for i, count in enumerate(m["histogram"]):
            hist.add_metric([f"{i / 10:.1f}-{(i + 1) / 10:.1f}"], count)
        yield hist

    def _performance(self, live: dict[str, Any], est: dict[str, Any] | None) -> Iterator[Metric]:
        yield _gauge("live_labels", "Labelled cases in the live performance period.", live["n"])
        yield _gauge(
            "live_enough_labels",
            "1 when there are enough labels for live figures.",
            float(live["status"] == "measured"),
        )
        for name in ("recall", "precision", "accuracy"):
            rate = live.get(name) or {}
            for suffix, key in (("", "value"), ("_low", "low"), ("_high", "high")):
                yield _gauge(
                    f"live_{name}{suffix}", f"Live {name} from feedback labels ({key}, 95% Wilson).", rate.get(key)
                )
        for name in ("recall", "precision", "accuracy"):
            value = est.get(name) if est else None
            yield _gauge(f"estimated_{name}", f"Expected {name} from the probabilities (assumes calibration).", value)


def prometheus_text(state: dict[str, Any]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StateCollector(state))
    return generate_latest(registry)
