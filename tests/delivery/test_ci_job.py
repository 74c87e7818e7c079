"""The local job runner (scripts/ci_job.py): the model-pipeline job in full on the default data,
in a fresh copy of the repository as a runner has it; the gate stopping the chain; the
expressions it resolves and the actions it refuses. (C13.3, C13.4, C13.5, C13.9)"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest

from support import ROOT
from tests.delivery.conftest import JobRun, fresh_copy, run_job

sys.path.insert(0, str(ROOT / "scripts"))
import ci_job  # noqa: E402

pytestmark = [
    pytest.mark.requirement("C13.3", "C13.4", "C13.5", "C13.9"),
    pytest.mark.catalogue(
        part="Delivery chain: local job runner",
        scope="end-to-end",
        strategy="example-based, fault injection",
        tool="pytest, scripts/ci_job.py, make, papermill",
    ),
]


def test_model_pipeline_job_runs_in_full_and_publishes_the_package(pipeline_job: JobRun):
    assert pipeline_job.returncode == 0, pipeline_job.output[-4000:]
    base = pipeline_job.root / "var/ci-artifacts/model-pipeline"
    record = json.loads((base / "pipeline/job.json").read_text(encoding="utf-8"))
    print(f"\nmodel-pipeline/pipeline in a fresh copy: {record['seconds']} s")
    for step in record["steps"]:
        print(f"  {step['name']:<40} {step['outcome']:<8} {step.get('seconds', '-')}")
    assert [s["outcome"] for s in record["steps"]] == ["success"] * len(record["steps"])
    artifact = base / "artifacts/model-package/var/packages"
    archives = sorted(artifact.glob("model-v*.tar.gz"))
    assert [a.name for a in archives] == ["model-v0001.tar.gz"]
    assert sorted(p.name for p in artifact.glob("*.whl")) == ["modelship-0.1.0-py3-none-any.whl"]
    assert (artifact / "serve-config.yaml").is_file()
    assert (artifact / "alerts.yaml").read_bytes() == (ROOT / "monitoring/alerts.yaml").read_bytes()
    with tarfile.open(archives[0]) as tar:
        names = {Path(n).name for n in tar.getnames()}
    assert {"model.skops", "metadata.json", "model_card.md", "contract.yaml", "SHA256SUMS"} <= names
    summary = (base / "pipeline/step-summary.md").read_text(encoding="utf-8")
    assert "## Evaluation gate: v0001 passed" in summary and "| recall |" in summary
    reports = base / "artifacts/pipeline-reports/reports"
    assert sorted(p.name for p in reports.glob("*.ipynb")) == [
        "01_data_checks.ipynb",
        "02_train.ipynb",
        "03_evaluate.ipynb",
    ]


def test_a_refused_gate_stops_the_chain_with_its_reasons_in_the_summary(pipeline_job: JobRun):
    """Same checkout, an input no model can pass: the gate step fails, nothing is packaged."""
    assert pipeline_job.returncode == 0
    run = run_job(pipeline_job.root, "model-pipeline", "pipeline", "overrides=gate_min_roc_auc=0.9999 cv_folds=2")
    assert run.returncode == 1, run.output[-3000:]
    assert "FAILED at step 'Gate'" in run.output
    base = pipeline_job.root / "var/ci-artifacts/model-pipeline"
    record = json.loads((base / "pipeline/job.json").read_text(encoding="utf-8"))
    outcomes = {s["name"]: s["outcome"] for s in record["steps"]}
    assert outcomes["Gate"] == "failure"
    assert outcomes["Package"] == "skipped" and outcomes["Upload the model package"] == "skipped"
    assert outcomes["Upload the executed notebooks"] == "success"  # if: always()
    summary = (base / "pipeline/step-summary.md").read_text(encoding="utf-8")
    assert "refused" in summary and "| roc_auc |" in summary and "NO |" in summary
    assert "### Reasons" in summary and "The chain stops here" in summary


def test_a_job_with_an_action_it_cannot_emulate_is_refused_before_any_step(tmp_path: Path):
    root = fresh_copy(tmp_path)
    run = run_job(root, "docs", "publish")
    assert run.returncode == 2
    assert "actions/deploy-pages, which this runner cannot emulate" in run.output
    assert not (root / "var/ci-artifacts/docs/publish/job.json").exists()


def test_a_job_whose_condition_is_false_is_skipped(capsys):
    """release runs for a tag model-* only; a branch checkout skips it, as GitHub does."""
    assert ci_job.main(["model-pipeline", "release", "--root", str(ROOT)]) == 0
    assert "release skipped: its condition" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "x"], "no workflow 'nope'"),
        (["ci", "nope"], "has no job 'nope'"),
        (["model-pipeline", "pipeline", "--input", "colour=red"], "declares no input colour"),
        (["model-pipeline", "pipeline", "--input", "params"], "is not key=value"),
    ],
)
def test_bad_arguments_are_named(args, message, capsys):
    assert ci_job.main([*args, "--root", str(ROOT)]) == 2
    assert message in capsys.readouterr().err


@pytest.fixture
def ctx() -> ci_job.Context:
    return ci_job.Context({"inputs": {"params": "", "n": "3"}, "github": {"ref": "refs/tags/model-1"}, "env": {}})


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("inputs.params || 'params.yaml'", "params.yaml"),
        ("inputs.n || 'x'", "3"),
        ("startsWith(github.ref, 'refs/tags/model-')", True),
        ("!startsWith(github.ref, 'refs/heads/')", True),
        ("inputs.n == '3' && github.ref != ''", True),
        ("(inputs.params == '') && 'yes'", "yes"),
    ],
)
def test_expressions(expression, expected, ctx):
    assert ci_job.evaluate(expression, ctx) == expected


def test_conditions_follow_the_job_status(ctx):
    assert ci_job.condition(None, ctx) and not ci_job.condition("failure()", ctx)
    ctx.status = "failure"
    assert not ci_job.condition(None, ctx) and ci_job.condition("always()", ctx)
    assert not ci_job.condition("startsWith(github.ref, 'refs/tags/')", ctx)  # implied success()


@pytest.mark.parametrize("expression", ["hashFiles('x')", "steps.a.outputs.b", "fromJSON('1')", "inputs.n +"])
def test_what_it_cannot_resolve_is_refused(expression, ctx):
    with pytest.raises(ci_job.Refused):
        ci_job.evaluate(expression, ctx)
