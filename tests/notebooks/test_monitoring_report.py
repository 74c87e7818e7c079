"""The stakeholder report (notebooks/04_monitoring_report.ipynb) on data the real collector wrote:
held-out rows replayed through the session pipeline's production model and serve's Collector in a
thread (serve/monitoring/sample.py: ThreadSink, no Ray), normal then drifted, with feedback in a
real prediction store. papermill runs it, nbval re-runs it, smalldocs renders it as a site page
whose tables carry their captions and whose figures' alt texts state this data's numbers; a
period without data is a sentence, not an error. (C11.6, C11.10; accessible report: C11.4, C11.9)"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from rendered_pages import caption_of

from modelship.monitoring.report import ReportError, build_report, find_source
from modelship.registry import Registry
from serve.monitoring.sample import main
from support import ROOT, SAMPLE_PLAN, run_monitoring_report
from tests.notebooks.test_notebooks import figure_alts, outputs_text, quarto_options, rendered_reports

pytestmark = [
    pytest.mark.notebooks,
    pytest.mark.requirement("C11.4", "C11.6", "C11.9", "C11.10"),
    pytest.mark.catalogue(
        part="Monitoring: the stakeholder report (notebooks/04_monitoring_report)",
        scope="end-to-end",
        strategy="example-based, inspection",
        tool="pytest, papermill, nbval, smalldocs, whylogs",
    ),
]

NOTEBOOK = ROOT / "notebooks" / "04_monitoring_report.ipynb"


@pytest.fixture(scope="module")
def sample(monitoring_sample):
    return monitoring_sample


@pytest.fixture(scope="module")
def report(executed_monitoring_report):
    return executed_monitoring_report


@pytest.fixture(scope="module")
def page(report, tmp_path_factory):
    return rendered_reports([report], tmp_path_factory.mktemp("report-site"))["04_monitoring_report"]


def test_the_collector_wrote_normal_then_drifted_windows(sample):
    summaries = sample["summaries"]
    assert sum(s["rows"] for s in summaries) == SAMPLE_PLAN.windows * SAMPLE_PLAN.rows
    verdicts = [s["drift"]["verdict"] for s in summaries]
    assert verdicts[: SAMPLE_PLAN.drift_from] == ["no drift"] * SAMPLE_PLAN.drift_from  # normal traffic raises nothing
    assert set(verdicts[SAMPLE_PLAN.drift_from :]) == {"drift"}
    assert sum(s["quality"]["rejected"] for s in summaries) == sample["meta"]["rejected"] > 0


def test_the_report_runs_without_error_and_states_the_sample_and_the_figures(report, sample):
    nb = nbformat.read(report, as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    text = outputs_text(report)
    assert "This report shows a generated sample, not a service" in text
    summaries = sample["summaries"]
    drifted = sum(s["drift"]["verdict"] == "drift" for s in summaries)
    assert f"scored **{SAMPLE_PLAN.windows * SAMPLE_PLAN.rows} rows** in {SAMPLE_PLAN.windows} windows" in text
    assert f"**{drifted} of {SAMPLE_PLAN.windows} windows drifted**" in text
    assert f"From {sample['meta']['labelled']} labelled cases: realised recall" in text
    # the alerts file: the collector's transitions, not the event of 2000, and the cut line skipped
    alerts = sample["alerts"]
    assert any(a["rule"] == "drift" and a["state"] == "firing" for a in alerts)
    assert f"{len(alerts)} alert event(s) in the period" in text and "features drifted" in text


def test_the_rendered_report_captions_every_table_and_its_alt_texts_state_the_datas_numbers(page, sample):
    cells = [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    for cell in cells:
        options = quarto_options(cell.source)[0]
        if "tbl-cap" in options:
            target = page.by_id(options["label"])
            assert target is not None and next(target.iter("table"), None) is not None, options["label"]
            assert caption_of(target) == options["tbl-cap"]
    for table in page.iter("table"):
        if "dataframe" in table.attrs.get("class", ""):
            assert caption_of(table), f"a DataFrame shown without a caption: {table.text()[:200]}"
    alts = figure_alts(page)
    assert set(alts) == {"fig-traffic", "fig-drift", "fig-mix", "fig-performance"}
    summaries = sample["summaries"]
    drifted = [s for s in summaries if s["drift"]["verdict"] == "drift"]
    assert f"{sum(s['rows'] for s in summaries)} in all" in alts["fig-traffic"]
    assert f"{sample['meta']['rejected']} requests were refused, in {len(drifted)} of the" in alts["fig-traffic"]
    assert f"{len(drifted)} of {len(summaries)} windows reach it" in alts["fig-drift"]
    assert f"the most in one window is {max(s['drift']['n_drifted'] for s in summaries)}" in alts["fig-drift"]
    reference = summaries[-1]["prediction_mix"]["reference"]["positive_share"]
    assert f"test-set reference {reference:.2f}" in alts["fig-mix"]
    assert f"{sample['meta']['labelled']} cases)" in alts["fig-performance"]


def test_nbval_accepts_the_executed_report(report):
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           "--nbval-current-env", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_a_period_without_data_is_stated_not_an_error(sample, tmp_path):
    out = run_monitoring_report(tmp_path / "empty.ipynb", params_file=str(sample["params"]),
                  monitoring_dir=str(sample["out"] / "monitoring"), store=str(sample["out"] / "serve" / "api.sqlite3"),
                  period_start="2100-01-01", period_end="2100-02-01")  # fmt: skip
    nb = nbformat.read(out, as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    text = outputs_text(out)
    assert "**No monitoring data in the period** from 2100-01-01 00:00:00 to 2100-02-01 00:00:00 (UTC)" in text
    assert "No window in the period: no drift to show." in text
    assert "base64" not in text  # no figure drawn from nothing


def test_a_bad_period_stops_the_report_with_a_message_naming_it(sample, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "modelship", "--params", str(sample["params"]), "run-notebook",
                           str(NOTEBOOK), "--output", str(tmp_path / "bad.ipynb"),
                           "--set", f"monitoring_dir={sample['out'] / 'monitoring'} period_start=yesterday"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1
    assert "ReportError: period_start 'yesterday' is not an ISO date or date-time" in proc.stderr


def test_the_report_module_in_process_gives_the_summaries_figures(sample):
    """What the notebook shows, computed here from the same files, against the summaries on disk."""
    out = sample["out"]
    source = find_source(out / "monitoring", out / "serve" / "api.sqlite3", ROOT / "serve" / "config.yaml")
    registry = Registry(sample["params"].parent / "registry")
    report = build_report(source, "malignant", registry=registry)
    summaries = sample["summaries"]
    assert report.traffic_table()["rows scored"].tolist() == [s["rows"] for s in summaries]
    assert report.drift_table()["drifted features"].tolist() == [s["drift"]["n_drifted"] for s in summaries]
    shifted = set(sample["meta"]["shifted_features"])
    top = report.top_drifted(len(shifted))
    assert set(top["feature"]) == shifted  # the shifted features are the ones drifting most often
    period = report.period_drift()
    assert set(period.loc[period["drifted"] == "yes", "feature"]) >= shifted
    for name in shifted:  # shifted up by one training standard deviation: the served mean is above
        row = period.set_index("feature").loc[name]
        assert row["served mean"] > row["training mean"]
    quality = report.quality_table()
    refused = quality[quality["what"].str.startswith("refused")]
    assert refused["field"].tolist() == [f"records.{sample['meta']['broken_field']}"]
    assert refused["count"].tolist() == [sample["meta"]["rejected"]]
    perf = report.performance_table().set_index("metric")
    assert perf.loc["accuracy", "cases"] == sample["meta"]["labelled"]
    assert perf.loc["recall", "95% CI low"] <= perf.loc["recall", "realised"] <= perf.loc["recall", "95% CI high"]
    assert report.alerts.to_dict("records") == [
        {k: a[k] for k in ("since", "rule", "severity", "state", "summary")} for a in sample["alerts"]
    ]
    # the last two windows only: their rows, and the feedback of their predictions only
    last = build_report(source, "malignant", last_windows=2, registry=registry)
    assert [w["start"] for w in last.windows] == [s["start"] for s in summaries[-2:]]
    assert last.performance_table().set_index("metric").loc["accuracy", "cases"] < sample["meta"]["labelled"]
    with pytest.raises(ReportError, match="period_end .* is not after period_start"):
        build_report(source, "malignant", period_start="2026-12-02", period_end="2026-12-01")
    with pytest.raises(ReportError, match="monitoring folder not found"):
        find_source(out / "nowhere", None, ROOT / "serve" / "config.yaml")


def test_the_sample_command_leaves_existing_data_alone_and_refuses_a_folder_not_its_own(sample, tmp_path, capsys):
    # a service whose monitoring folder is empty: only the sample already there makes it skip
    config = tmp_path / "serve.yaml"
    args = {"paths": {"data_dir": str(tmp_path / "service")}}
    config.write_text(json.dumps({"applications": [{"name": "modelship", "args": args}]}), encoding="utf-8")
    assert main(["--params", str(sample["params"]), "--out", str(sample["out"]), "--unless-data", str(config)]) == 0
    assert f"holds a sample of {sample['meta']['model_version']} already" in capsys.readouterr().out
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a sample", encoding="utf-8")
    assert main(["--params", str(sample["params"]), "--out", str(foreign)]) == 1
    assert "is not a sample folder" in capsys.readouterr().err and (foreign / "notes.txt").is_file()
