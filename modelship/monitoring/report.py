"""The stakeholder report of monitoring (notebooks/04_monitoring_report.ipynb): what the service
saw over a period, from what the collector stored.

Inputs, all read from disk, none from the running service:
- the window summaries and profiles the collector writes under the monitoring folder
  (`<window>.<collector>.summary.json` and `.profile.bin`, serve/monitoring/collector.py); the
  profiles are read through modelship/profiling.py and merged over the period;
- the feedback in the service's prediction store (SQLite, opened read-only), for realised
  performance over the whole period;
- the alerts file, when alerting wrote one (`alerts.jsonl` in the monitoring folder, a JSON line per transition);
- SAMPLE.json beside the folder when the data is a generated sample (serve/monitoring/sample.py),
  so that the report says so.

Every table is a DataFrame the notebook captions; every figure is a modelship.plots.Chart whose
alt text is computed from the numbers it draws. A period without any window is a state of the
report (`Report.empty`), stated in words, not an error.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from modelship import profiling
from modelship.monitoring.alerts import ALERTS_FILE
from modelship.monitoring.drift import DRIFT, DriftPolicy, assess_drift
from modelship.monitoring.performance import MEASURED, live_performance
from modelship.plots import Chart, chart

SAMPLE_MARKER = "SAMPLE.json"
SAMPLE_DIR = Path("var/monitoring-sample")
TOP_FEATURES = 5
# what the report's alerts table shows of each transition the alerts file records
ALERT_COLUMNS = ("since", "rule", "severity", "state", "summary")
_BLUE, _ORANGE, _GREY = "#0072B2", "#D55E00", "#555555"


class ReportError(ValueError):
    """A parameter of the report cannot be used (a bad date, a folder that is not there)."""


# -- where the data is -----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    monitoring_dir: Path
    store: Path | None
    sample: dict[str, Any] | None  # SAMPLE.json of a generated sample, else None
    min_labels: int = 30  # the service's monitoring.min_labels: realised figures from this many labels

    def describe(self) -> str:
        if self.sample is None:
            return (
                f"Data: the window summaries and profiles the service's collector wrote in `{self.monitoring_dir}`"
                + (f", and the feedback in `{self.store}`." if self.store else ".")
            )
        s = self.sample
        return (
            f"**This report shows a generated sample, not a service's traffic.** No service had written "
            f"monitoring data here, so `{s['generated_by']}` replayed held-out test rows (`{s['held_out']}`) "
            f"through the production model {s['model_version']} and the real collector, in a thread, without "
            f"Ray: {s['windows']} windows of {s['window_s']:g} s, {s['rows_per_window']} rows each, the first "
            f"{s['normal_windows']} as they are, the last {s['drifted_windows']} with "
            f"{', '.join(s['shifted_features'])} shifted by {s['shift_std']:g} training standard deviation and "
            f"requests refused on {s['broken_field']}. The real diagnosis of about "
            f"{s['labelled_share']:.0%} of the rows was recorded as feedback. Not included: "
            f"{'; '.join(s['not_included'])}. Generated {s['created_at']}."
        )


def _has_windows(folder: Path) -> bool:
    return folder.is_dir() and next(folder.glob("*.summary.json"), None) is not None


def _sample_meta(folder: Path) -> dict[str, Any] | None:
    for candidate in (folder / SAMPLE_MARKER, folder.parent / SAMPLE_MARKER):
        if candidate.is_file():
            return dict(json.loads(candidate.read_text(encoding="utf-8")))
    return None


def find_source(
    monitoring_dir: str | Path | None,
    store: str | Path | None,
    serve_config: str | Path = "serve/config.yaml",
    sample_dir: str | Path = SAMPLE_DIR,
) -> Source:
    """The folders named, else the service's (from its Serve config), else the generated sample
    in `sample_dir` when the service wrote no window."""
    from serve.settings import Settings  # where the service writes and its label minimum: its settings

    settings = Settings.from_config(serve_config)
    min_labels = settings.monitoring.min_labels
    if monitoring_dir is not None:
        folder = Path(monitoring_dir)
        if not folder.is_dir():
            raise ReportError(f"monitoring folder not found: {folder}")
        return Source(folder, Path(store) if store else None, _sample_meta(folder), min_labels)
    folder, service_store = settings.monitoring_dir, settings.paths.store
    sample = Path(sample_dir)
    if not _has_windows(folder) and _has_windows(sample / "monitoring"):
        folder, service_store = sample / "monitoring", sample / "serve" / "api.sqlite3"
    return Source(folder, Path(store) if store else service_store, _sample_meta(folder), min_labels)


# -- reading -----------------------------------------------------------------------------------


def parse_moment(text: str | None, name: str) -> float | None:
    """An ISO date or date-time (UTC when it names no zone) as epoch seconds; None stays None."""
    if text is None or str(text).strip() == "":
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise ReportError(f"{name} {text!r} is not an ISO date or date-time, e.g. 2026-12-01T08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def load_windows(
    folder: Path, start: float | None = None, end: float | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """The closed windows starting in [start, end), oldest first; only the `last` ones if given.
    A window written by several collectors (one per worker outside Ray) appears once per collector."""
    windows = []
    for path in folder.glob("*.summary.json"):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a file being replaced: the atomic write makes this rare, the next report has it
        summary["_profile"] = path.with_name(path.name.replace(".summary.json", ".profile.bin"))
        if (start is None or summary["start_s"] >= start) and (end is None or summary["start_s"] < end):
            windows.append(summary)
    windows.sort(key=lambda s: (s["start_s"], s.get("collector", "")))
    if last is not None:
        if last < 1:
            raise ReportError(f"last_windows must be at least 1, not {last}")
        windows = windows[-last:]
    return windows


def read_alerts(folder: Path, start: float | None, end: float | None) -> pd.DataFrame | None:
    """The alert transitions of the period from the alerts file, if alerting wrote one (None: no
    file); `since` is when the alert entered the state the line records."""
    path = folder / ALERTS_FILE
    if not path.is_file():
        return None
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash: the file is append-only, the rest is whole
        if isinstance(event, dict) and "since" in event:
            events.append(event)
    frame = pd.DataFrame(events, columns=list(ALERT_COLUMNS))
    moments = pd.to_datetime(frame["since"], utc=True, errors="coerce", format="ISO8601")
    keep = moments.notna()
    if start is not None:
        keep &= moments >= pd.Timestamp(start, unit="s", tz="UTC")
    if end is not None:
        keep &= moments < pd.Timestamp(end, unit="s", tz="UTC")
    return frame[keep].reset_index(drop=True)


def read_feedback(store: Path | None, start: float | None, end: float | None) -> pd.DataFrame | None:
    """(predicted, actual) label pairs of the period's predictions that received feedback, whenever
    it came (a diagnosis is confirmed days after the prediction); None without a store."""
    if store is None or not store.is_file():
        return None
    query = "SELECT p.label, f.label FROM feedback f JOIN predictions p ON p.id = f.prediction_id WHERE 1 = 1"
    args = []
    for bound, op in ((start, ">="), (end, "<")):
        if bound is not None:
            query += f" AND p.created_at {op} ?"
            args.append(datetime.fromtimestamp(bound, UTC).isoformat(timespec="milliseconds"))
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(query, args).fetchall()
    finally:
        conn.close()
    return pd.DataFrame(rows, columns=["predicted", "actual"])


# -- the report --------------------------------------------------------------------------------


@dataclass
class Report:
    source: Source
    windows: list[dict[str, Any]]
    start: float | None
    end: float | None
    positive: str
    feedback: pd.DataFrame | None
    alerts: pd.DataFrame | None
    min_labels: int
    registry: Any = None  # modelship.registry.Registry, for the reference profile of the model served
    _period_drift: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        return not self.windows

    # -- words ---------------------------------------------------------------------------
    def period_text(self) -> str:
        asked = (
            f"from {_iso(self.start) if self.start else 'the first stored window'} "
            f"to {_iso(self.end) if self.end else 'the last one'} (UTC)"
        )
        if self.empty:
            return (
                f"**No monitoring data in the period** {asked}: no window summary in `{self.source.monitoring_dir}` "
                "starts in it. Either the service did not run or received no traffic then, or its files are kept "
                "elsewhere (the `monitoring_dir` parameter) or were removed after their retention. "
                "Nothing below is computed; every section says so."
            )
        first, last = self.windows[0], self.windows[-1]
        return (
            f"Period asked: {asked}. It holds {len(self.windows)} closed window(s) of "
            f"{first['window_s']:g} s, from {_iso(first['start_s'])} to {_iso(last['end_s'])} UTC."
        )

    def headline(self) -> str:
        if self.empty:
            return self.period_text()
        rows = sum(w["rows"] for w in self.windows)
        versions: Counter[str] = Counter()
        for w in self.windows:
            versions.update(w.get("versions", {}))
        drifted = [w for w in self.windows if w["drift"]["verdict"] == DRIFT]
        rejected = sum(w["quality"]["rejected"] for w in self.windows)
        requests = sum(w["quality"]["requests"] for w in self.windows)
        parts = [
            f"The service scored **{rows} rows** in {len(self.windows)} windows, with model "
            + ", ".join(f"{v} ({n} rows)" for v, n in versions.most_common())
            + ".",
            f"**{len(drifted)} of {len(self.windows)} windows drifted** from the training data"
            + (f" (first at {_iso(drifted[0]['start_s'])} UTC)." if drifted else "."),
            f"{rejected} of {requests} requests were refused as out of contract.",
            self.performance_sentence(),
        ]
        if self.alerts is not None:
            parts.append(f"The alerts file holds {len(self.alerts)} event(s) in the period.")
        return " ".join(parts)

    def nothing(self, what: str) -> str:
        return f"No window in the period: no {what} to show."

    def table(self, name: str) -> pd.DataFrame:
        """One of the report's tables by name; in a period without windows, a one-row table that says
        so (a captioned cell always shows a table, whatever the period holds)."""
        tables = {
            "traffic": self.traffic_table,
            "drift": self.drift_table,
            "top drifted features": self.top_drifted,
            "period profile": lambda: self.period_drift().head(10).round(4),
            "data quality": self.quality_table,
            "prediction mix": self.mix_table,
            "performance": self.performance_table,
            "alerts": self.alerts_table,
        }
        if name != "alerts" and self.empty:
            return pd.DataFrame({"note": [self.nothing(name)]})
        table = tables[name]()
        if table.empty:
            return pd.DataFrame({"note": [f"Nothing to list: no {name} entry in the period."]})
        return table

    def alerts_table(self) -> pd.DataFrame:
        if self.alerts is None or self.alerts.empty:
            return pd.DataFrame({"note": [self.alerts_text()]})
        return self.alerts

    def alerts_text(self) -> str:
        if self.alerts is None:
            return (
                f"No alerts file (`{ALERTS_FILE}`) in `{self.source.monitoring_dir}`: alerting did not run "
                "there, so this report cannot say which alerts fired."
            )
        if self.alerts.empty:
            return "The alerts file holds no event in the period: no alert fired or resolved."
        return f"{len(self.alerts)} alert event(s) in the period, oldest first."

    # -- tables ----------------------------------------------------------------------------
    def traffic_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "window start (UTC)": _iso(w["start_s"]),
                    "model version": w["model_version"],
                    "rows scored": w["rows"],
                    "late rows": w["late_rows"],
                    "requests": w["quality"]["requests"],
                    "refused": w["quality"]["rejected"],
                }
                for w in self.windows
            ]
        )

    def drift_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "window start (UTC)": _iso(w["start_s"]),
                    "rows": w["rows"],
                    "verdict": w["drift"]["verdict"],
                    "drifted features": w["drift"]["n_drifted"],
                    "which": ", ".join(w["drift"]["drifted"]) or "-",
                }
                for w in self.windows
            ]
        )

    def top_drifted(self, n: int = TOP_FEATURES) -> pd.DataFrame:
        """The features drifted in the most windows, with their largest test statistic."""
        stats: dict[str, dict[str, Any]] = {}
        judged = 0
        for w in self.windows:
            if w["drift"]["features"]:
                judged += 1
            for f in w["drift"]["features"]:
                s = stats.setdefault(f["feature"], {"windows drifted": 0, "largest statistic": 0.0, "test": ""})
                s["windows drifted"] += int(f["drifted"])
                s["largest statistic"] = max(s["largest statistic"], f["statistic"])
                s["test"] = f["algorithm"]
        table = pd.DataFrame.from_dict(stats, orient="index")
        if table.empty:
            return pd.DataFrame(columns=["feature", "windows drifted", "of windows judged", "largest statistic"])
        table.index.name = "feature"
        table["of windows judged"] = judged
        table = table.sort_values(["windows drifted", "largest statistic"], ascending=False).head(n).reset_index()
        return table[["feature", "test", "windows drifted", "of windows judged", "largest statistic"]].round(3)

    def period_drift(self) -> pd.DataFrame:
        """The period's merged profile against the training data's, feature by feature (the most
        different first), with the served and training means: the whole period as one sample."""
        if self._period_drift is not None:
            return self._period_drift
        empty = pd.DataFrame(columns=["feature", "served mean", "training mean", "statistic", "adjusted p", "drifted"])
        views = [profiling.read_profile(w["_profile"]) for w in self.windows if w["_profile"].is_file()]
        version = self.windows[-1]["model_version"] if self.windows else None
        reference = None
        if self.registry is not None and version is not None:
            path = self.registry.version_dir(version) / "reference_profile.bin"
            reference = profiling.read_profile(path) if path.is_file() else None
        merged = profiling.merge(views)
        if merged is None or reference is None:
            self._period_drift = empty
            return empty
        features = [f["feature"] for f in self.windows[-1]["drift"]["features"]] or [
            c for c in profiling.summary(reference).index if c != "probability"
        ]
        policy = DriftPolicy(**self.windows[-1]["drift"]["policy"])
        rows = sum(w["rows"] for w in self.windows)
        assessed = assess_drift(profiling.drift_scores(merged, reference, features), rows, policy)
        served, trained = profiling.summary(merged), profiling.summary(reference)
        table = pd.DataFrame(
            [
                {
                    "feature": f.feature,
                    "served mean": served.loc[f.feature, "mean"],
                    "training mean": trained.loc[f.feature, "mean"],
                    "statistic": f.statistic,
                    "adjusted p": f.adjusted_p_value,
                    "drifted": "yes" if f.drifted else "no",
                }
                for f in assessed.features
            ]
        )
        if not table.empty:
            table = table.sort_values("statistic", ascending=False).reset_index(drop=True)
        self._period_drift = table
        return table

    def quality_table(self) -> pd.DataFrame:
        """Refusals by field and values accepted outside the training range, over the period."""
        refused: Counter[str] = Counter()
        out_of_range: Counter[str] = Counter()
        for w in self.windows:
            refused.update(w["quality"]["by_field"])
            out_of_range.update(w["quality"]["out_of_range"])
        rows = [{"what": "refused (422) on field", "field": k, "count": v} for k, v in refused.most_common()]
        rows += [
            {"what": "accepted, outside the training range", "field": k, "count": v}
            for k, v in out_of_range.most_common()
            if v > 0
        ]
        return pd.DataFrame(rows, columns=["what", "field", "count"])

    def mix_table(self) -> pd.DataFrame:
        out = []
        for w in self.windows:
            m = w["prediction_mix"]
            ci = m.get("positive_share_ci") or (None, None)
            ref = m.get("reference") or {}
            out.append(
                {
                    "window start (UTC)": _iso(w["start_s"]),
                    "rows": m["n"],
                    f"share {self.positive}": m["positive_share"],
                    "95% CI low": ci[0],
                    "95% CI high": ci[1],
                    "mean probability": m["mean_probability"],
                    "reference share": ref.get("positive_share"),
                }
            )
        return pd.DataFrame(out).round(3)

    def performance_table(self) -> pd.DataFrame:
        """Realised figures from the period's feedback (Wilson 95% intervals) beside the estimated
        ones from the calibrated probabilities (summed expected confusion matrices of the windows)."""
        rows = []
        live = self.live()
        est = self.estimated()
        for metric in ("recall", "precision", "accuracy"):
            rate = getattr(live, metric) if live is not None and live.status == MEASURED else None
            rows.append(
                {
                    "metric": metric,
                    "realised": rate.value if rate else None,
                    "95% CI low": rate.low if rate else None,
                    "95% CI high": rate.high if rate else None,
                    "cases": rate.n if rate else (live.n if live is not None else 0),
                    "estimated": est.get(metric),
                }
            )
        return pd.DataFrame(rows).round(3)

    # -- performance ---------------------------------------------------------------------
    def live(self) -> Any:
        if self.feedback is None:
            return None
        return live_performance(
            (self.feedback["actual"] == self.positive).to_numpy(),
            (self.feedback["predicted"] == self.positive).to_numpy(),
            self.min_labels,
        )

    def estimated(self) -> dict[str, float | None]:
        parts = [w["estimated_performance"] for w in self.windows if w.get("estimated_performance")]
        tp, fp, fn, tn = (sum(p[k] for p in parts) for k in ("tp", "fp", "fn", "tn"))
        n = tp + fp + fn + tn
        return {
            "recall": tp / (tp + fn) if tp + fn else None,
            "precision": tp / (tp + fp) if tp + fp else None,
            "accuracy": (tp + tn) / n if n else None,
        }

    def performance_sentence(self) -> str:
        live, est = self.live(), self.estimated()
        estimated = f"estimated recall {est['recall']:.3f}" if est["recall"] is not None else "no estimate"
        if live is None:
            return f"No feedback store was found, so no realised performance; {estimated} from the probabilities."
        if live.status != MEASURED:
            return (
                f"Realised performance: not enough labels yet ({live.n} of the {live.min_labels} needed); {estimated}."
            )
        r = live.recall
        realised = (
            f"realised recall {r.value:.3f} (95% CI {r.low:.3f}–{r.high:.3f}, {r.n} actual {self.positive})"
            if r is not None and r.value is not None
            else f"no actual {self.positive} case among them"
        )
        return f"From {live.n} labelled cases: {realised}; {estimated}."

    # -- figures ---------------------------------------------------------------------------
    def _x(self) -> tuple[np.ndarray, list[str]]:
        labels = [datetime.fromtimestamp(w["start_s"], UTC).strftime("%H:%M:%S") for w in self.windows]
        return np.arange(len(self.windows)), labels

    def _axes_time(self, ax: Any, labels: list[str]) -> None:
        step = max(1, len(labels) // 8)
        ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right")
        ax.set_xlabel("Window start (UTC)")

    def traffic_chart(self, label: str, caption: str) -> Chart:
        x, labels = self._x()
        rows = np.array([w["rows"] for w in self.windows])
        refused = np.array([w["quality"]["rejected"] for w in self.windows])
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(x - 0.2, rows, width=0.4, color=_BLUE, label="rows scored")
        ax.bar(x + 0.2, refused, width=0.4, color=_ORANGE, hatch="//", label="requests refused")
        ax.set(ylabel="Count", title="Traffic per window")
        self._axes_time(ax, labels)
        ax.legend()
        fig.tight_layout()
        with_refusals = int(np.count_nonzero(refused))
        alt = (
            f"Bar chart of rows scored and requests refused in each of {len(rows)} windows from "
            f"{_iso(self.windows[0]['start_s'])} to {_iso(self.windows[-1]['end_s'])} UTC. Rows scored per window "
            + (
                f"are {rows.min()} in every window"
                if rows.min() == rows.max()
                else f"range from {rows.min()} to {rows.max()}"
            )
            + f", {rows.sum()} in all. {refused.sum()} requests were refused, "
            f"in {with_refusals} of the {len(rows)} windows"
            + (f", at most {refused.max()} in one window." if with_refusals else ".")
        )
        return chart(fig, label, caption, alt)

    def drift_chart(self, label: str, caption: str) -> Chart:
        x, labels = self._x()
        counts = np.array([w["drift"]["n_drifted"] for w in self.windows])
        needed = self.windows[-1]["drift"]["policy"]["min_drifted_features"]
        drifted = [w for w in self.windows if w["drift"]["verdict"] == DRIFT]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        is_drift = np.array([w["drift"]["verdict"] == DRIFT for w in self.windows])
        ax.bar(x[~is_drift], counts[~is_drift], color=_BLUE, label="window not drifted")
        ax.bar(x[is_drift], counts[is_drift], color=_ORANGE, hatch="//", label="window drifted")
        ax.axhline(needed, color=_GREY, linestyle="--", label=f"a window drifts from {needed}")
        ax.set(ylabel="Drifted features", title="Drifted features per window")
        ax.set_ylim(0, max(int(counts.max()), needed) + 1)
        self._axes_time(ax, labels)
        ax.legend()
        fig.tight_layout()
        top = self.top_drifted(3)
        top = top[top["windows drifted"] > 0]
        most = (
            "; most often drifted: "
            + ", ".join(f"{r.feature} in {r['windows drifted']} windows" for _, r in top.iterrows())
            if len(top)
            else "; no feature drifted in any window"
        )
        alt = (
            f"Bar chart of the number of drifted features in each of {len(counts)} windows, with a dashed line at "
            f"{needed}, the count from which a window is judged drifted. {len(drifted)} of {len(counts)} windows "
            f"reach it"
            + (f", from {_iso(drifted[0]['start_s'])} to {_iso(drifted[-1]['start_s'])} UTC" if drifted else "")
            + f"; the most in one window is {counts.max()}{most}."
        )
        return chart(fig, label, caption, alt)

    def mix_chart(self, label: str, caption: str) -> Chart:
        x, labels = self._x()
        table = self.mix_table()
        share = table[f"share {self.positive}"].to_numpy(dtype=float)
        low = table["95% CI low"].to_numpy(dtype=float)
        high = table["95% CI high"].to_numpy(dtype=float)
        reference = table["reference share"].dropna()
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.errorbar(x, share, yerr=[share - low, high - share], fmt="o", color=_BLUE, capsize=3,
                    label=f"share predicted {self.positive} (95% CI)")  # fmt: skip
        ref_text = "no reference from the evaluation"
        if len(reference):
            ref = float(reference.iloc[-1])
            ax.axhline(ref, color=_ORANGE, linestyle="--", label=f"test-set reference {ref:.2f}")
            outside = int(np.sum((low > ref) | (high < ref)))
            ref_text = (
                f"a dashed line marks the test-set reference {ref:.2f}; in {outside} of {len(share)} windows "
                "the interval leaves it out"
            )
        ax.set(ylabel=f"Share predicted {self.positive}", title="Prediction mix", ylim=(0, 1.25))
        ax.set_yticks(np.linspace(0, 1, 6))
        self._axes_time(ax, labels)
        ax.legend(loc="upper center", ncol=2)
        fig.tight_layout()
        alt = (
            f"Dot chart of the share of rows predicted {self.positive} in each of {len(share)} windows, with 95% "
            f"confidence intervals as error bars. The share ranges from {np.nanmin(share):.2f} to "
            f"{np.nanmax(share):.2f}; {ref_text}."
        )
        return chart(fig, label, caption, alt)

    def performance_chart(self, label: str, caption: str) -> Chart:
        """Realised (with Wilson 95% intervals) against estimated figures over the period."""
        table = self.performance_table()
        x = np.arange(len(table))
        fig, ax = plt.subplots(figsize=(6, 3.5))
        est = table["estimated"].to_numpy(dtype=float)
        real = table["realised"].to_numpy(dtype=float)
        ax.bar(x + 0.2, est, width=0.4, color=_GREY, hatch="..", label="estimated from probabilities")
        has_real = ~np.isnan(real)
        if has_real.any():
            low, high = table["95% CI low"].to_numpy(dtype=float), table["95% CI high"].to_numpy(dtype=float)
            ax.bar(x[has_real] - 0.2, real[has_real], width=0.4, color=_BLUE, label="realised from feedback",
                   yerr=[(real - low)[has_real], (high - real)[has_real]], capsize=4)  # fmt: skip
        ax.set_xticks(x, table["metric"])
        ax.set(ylabel="Value", ylim=(0, 1.3), title=f"Performance on {self.positive}")
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.legend(loc="upper center", ncol=2)
        fig.tight_layout()
        described = []
        for _, r in table.iterrows():
            e = f"estimated {r['estimated']:.3f}" if pd.notna(r["estimated"]) else "no estimate"
            if pd.notna(r["realised"]):
                described.append(
                    f"{r['metric']} realised {r['realised']:.3f} (95% CI {r['95% CI low']:.3f} to "
                    f"{r['95% CI high']:.3f}, {int(r['cases'])} cases), {e}"
                )
            else:
                described.append(f"{r['metric']}: no realised value, {e}")
        live = self.live()
        why = (
            ""
            if live is not None and live.status == MEASURED
            else (
                " Realised bars are missing: "
                + ("no feedback store." if live is None else f"{live.n} labels, {live.min_labels} needed.")
            )
        )
        alt = (
            "Grouped bar chart of recall, precision and accuracy over the period: realised from feedback labels, "
            "with 95% Wilson intervals, beside the value estimated from the predicted probabilities. "
            + "; ".join(described)
            + "."
            + why
        )
        return chart(fig, label, caption, alt)


def build_report(
    source: Source,
    positive: str,
    period_start: str | None = None,
    period_end: str | None = None,
    last_windows: int | None = None,
    registry: Any = None,
) -> Report:
    start, end = parse_moment(period_start, "period_start"), parse_moment(period_end, "period_end")
    if start is not None and end is not None and end <= start:
        raise ReportError(f"period_end {period_end} is not after period_start {period_start}")
    windows = load_windows(source.monitoring_dir, start, end, last_windows)
    # the feedback and alerts of the windows shown, not of all time: an open bound (or the last
    # N windows) is closed at the windows' own span
    asked_end = end  # alerts fire as a window closes, after its end: only the end asked bounds them
    if windows and (start is None or last_windows is not None):
        start = max(start or windows[0]["start_s"], windows[0]["start_s"])
    if windows and (end is None or last_windows is not None):
        end = min(end or windows[-1]["end_s"], windows[-1]["end_s"])
    return Report(
        source=source,
        windows=windows,
        start=start,
        end=end,
        positive=positive,
        feedback=read_feedback(source.store, start, end),
        alerts=read_alerts(source.monitoring_dir, start, asked_end),
        min_labels=source.min_labels,
        registry=registry,
    )
