"""Run one job of a GitHub Actions workflow here, step by step, as a runner would.

    python scripts/ci_job.py WORKFLOW JOB [--input key=value ...] [--matrix key=value ...]
    make ci-job WORKFLOW=model-pipeline JOB=pipeline INPUTS='overrides=cv_folds=3'

WORKFLOW is a file name in .github/workflows/ (with or without .yml). The job's steps run in
order from the repository root with the environment the workflow sets (workflow, job and step
`env:`, plus the runner's own GITHUB_* variables), `${{ }}` expressions resolved from inputs
(their defaults unless given), matrix values, env, a few github.* fields and secrets from the
environment as CI_SECRET_<NAME>. `run:` steps run
with bash -eo pipefail as on a runner; the `uses:` steps this runner knows are emulated
(checkout: the current tree; setup-python: the Python 3.11 here; upload-artifact /
download-artifact: copies under var/ci-artifacts/, a download with `run-id` taking the artifact
another workflow's job uploaded last, as GitHub fetches one of another run); any other is refused
before the first step runs, so a job never half-runs for want of an action.

Exit status: 0 when every step passed, 1 when one failed (its name is printed), 2 when the job
cannot be run here (unknown workflow, job, expression or action).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(".github/workflows")
ARTIFACTS = Path("var/ci-artifacts")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


class Refused(Exception):
    """The job uses something this runner cannot do here; the message says what."""


# -- expressions --------------------------------------------------------------------------
# The subset of GitHub's expression language the workflows use: literals, context lookups,
# ! && || == != and a few functions. Anything else is refused by name rather than guessed.
_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\d+(?:\.\d+)?)|(&&|\|\||==|!=|!|\(|\)|,)|([A-Za-z_][\w.-]*))")


@dataclass
class Context:
    values: dict[str, Any]
    status: str = "success"  # of the job so far: success or failure

    def lookup(self, path: str) -> Any:
        head, _, rest = path.partition(".")
        if head not in self.values:
            raise Refused(f"context {head!r} is not available here (in {path!r})")
        value: Any = self.values[head]
        for part in rest.split(".") if rest else []:
            value = value.get(part, "") if isinstance(value, Mapping) else ""
        return value


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise Refused(f"cannot read the expression {text!r} at {text[pos:]!r}")
        out.append(match.group(0).strip())
        pos = match.end()
    return out


def evaluate(text: str, ctx: Context) -> Any:
    tokens = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise Refused(f"expression {text!r} ends too early")
        pos += 1
        return tokens[pos - 1]

    functions: dict[str, Callable[..., Any]] = {
        "success": lambda: ctx.status == "success",
        "failure": lambda: ctx.status == "failure",
        "always": lambda: True,
        "cancelled": lambda: False,
        "startsWith": lambda a, b: str(a).lower().startswith(str(b).lower()),
        "endsWith": lambda a, b: str(a).lower().endswith(str(b).lower()),
        "contains": lambda a, b: str(b).lower() in str(a).lower(),
    }

    def primary() -> Any:
        token = take()
        if token == "!":
            return not truthy(primary())
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise Refused(f"unbalanced parentheses in {text!r}")
            return value
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return float(token)
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        if peek() == "(":
            if token not in functions:
                raise Refused(f"function {token}() is not supported by this runner")
            take()
            args = []
            while peek() != ")":
                args.append(disjunction())
                if peek() == ",":
                    take()
            take()
            return functions[token](*args)
        return ctx.lookup(token)

    def comparison() -> Any:
        left = primary()
        while peek() in ("==", "!="):
            op = take()
            right = primary()
            same = str(left).lower() == str(right).lower() if left is not None and right is not None else left == right
            left = same if op == "==" else not same
        return left

    def conjunction() -> Any:
        left = comparison()
        while peek() == "&&":
            take()
            right = comparison()
            left = right if truthy(left) else left
        return left

    def disjunction() -> Any:
        left = conjunction()
        while peek() == "||":
            take()
            right = conjunction()
            left = left if truthy(left) else right
        return left

    value = disjunction()
    if pos != len(tokens):
        raise Refused(f"cannot read the expression {text!r} past {tokens[pos]!r}")
    return value


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, 0.0)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def substitute(value: Any, ctx: Context) -> Any:
    """${{ }} replaced in a string, or in every string of a list or mapping."""
    if isinstance(value, str):
        return EXPRESSION.sub(lambda m: as_text(evaluate(m.group(1), ctx)), value)
    if isinstance(value, list):
        return [substitute(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, ctx) for k, v in value.items()}
    return value


def condition(step_if: Any, ctx: Context) -> bool:
    """A step's `if:`; as on GitHub, a condition without a status function implies success()."""
    if step_if is None:
        return ctx.status == "success"
    text = str(step_if).strip()
    match = EXPRESSION.fullmatch(text)
    text = match.group(1) if match else text
    if not re.search(r"\b(success|failure|always|cancelled)\(", text):
        text = f"success() && ({text})"
    return truthy(evaluate(text, ctx))


# -- actions --------------------------------------------------------------------------------
@dataclass
class Run:
    workflow: str
    job: str
    root: Path
    artifacts: Path
    env: dict[str, str]
    log: list[dict[str, Any]] = field(default_factory=list)


def _checkout(run: Run, inputs: dict[str, Any]) -> str:
    if inputs.get("path") or inputs.get("repository"):
        raise Refused("actions/checkout with path or repository: only the current tree is available here")
    return f"the working tree at {run.root} is the checkout"


def _setup_python(run: Run, inputs: dict[str, Any]) -> str:
    wanted = str(inputs.get("python-version", ""))
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted and not (have == wanted or have.startswith(wanted + ".")):
        raise Refused(f"actions/setup-python asks for Python {wanted}; this machine runs {have}")
    return f"Python {have} from this machine ({sys.executable}); `make setup` builds .venv from the lock"


def _paths(spec: str) -> list[str]:
    return [line.strip() for line in spec.splitlines() if line.strip()]


def _upload(run: Run, inputs: dict[str, Any]) -> str:
    name = inputs.get("name", "artifact")
    target = run.artifacts / name
    found: list[Path] = []
    for pattern in _paths(str(inputs.get("path", ""))):
        found += [Path(p) for p in sorted(glob.glob(pattern, root_dir=run.root, recursive=True))]
    if not found:
        if inputs.get("if-no-files-found", "warn") == "error":
            raise StepFailed(f"upload-artifact {name}: no file matches {inputs.get('path')!r}")
        return f"upload-artifact {name}: no file matches (warning only)"
    shutil.rmtree(target, ignore_errors=True)
    for rel in found:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if (run.root / rel).is_dir():
            shutil.copytree(run.root / rel, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(run.root / rel, dest)
    return f"upload-artifact {name}: {len(found)} path(s) copied to {target}"


def _download(run: Run, inputs: dict[str, Any]) -> str:
    name = inputs.get("name")
    if not name:
        raise Refused("download-artifact without a name: name the artifact to copy back")
    source = run.artifacts / name
    if inputs.get("run-id"):
        # another workflow's run: the newest artifact of that name any local job uploaded
        uploads = sorted(run.artifacts.parent.parent.glob(f"*/artifacts/{name}"), key=lambda p: p.stat().st_mtime)
        source = uploads[-1] if uploads else source
    if not source.is_dir():
        raise StepFailed(f"download-artifact {name}: no such artifact in {run.artifacts} (run the job that uploads it)")
    dest = run.root / str(inputs.get("path", "."))
    # an artifact keeps the layout under its paths' common folder, as on GitHub
    files = [p for p in source.rglob("*") if p.is_file()]
    common = Path(os.path.commonpath([p.parent for p in files])) if files else source
    for path in files:
        out = dest / path.relative_to(common)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)
    return f"download-artifact {name}: {len(files)} file(s) into {dest}"


def _nothing(message: str) -> Callable[[Run, dict[str, Any]], str]:
    return lambda run, inputs: message


ACTIONS: dict[str, Callable[[Run, dict[str, Any]], str]] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "actions/cache": _nothing("actions/cache: the local disk keeps what a cache would restore"),
    "actions/upload-artifact": _upload,
    "actions/download-artifact": _download,
}


class StepFailed(Exception):
    pass


# -- the job --------------------------------------------------------------------------------
def load_workflow(name: str, root: Path) -> dict[str, Any]:
    base = name.removesuffix(".yml").removesuffix(".yaml")
    for suffix in (".yml", ".yaml"):
        path = root / WORKFLOWS / f"{base}{suffix}"
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            # YAML 1.1 reads the key `on` as the boolean true
            if True in data:
                data["on"] = data.pop(True)
            return data
    known = sorted(p.stem for p in (root / WORKFLOWS).glob("*.y*ml"))
    raise Refused(f"no workflow {name!r} in {WORKFLOWS}/; there are: {', '.join(known)}")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Refused(f"--{what} {item!r} is not key=value")
        out[key] = value
    return out


def context_for(
    workflow: dict[str, Any],
    job: dict[str, Any],
    given_inputs: dict[str, str],
    given_matrix: dict[str, str],
    run_env: dict[str, str],
) -> Context:
    triggers = workflow.get("on") or {}
    declared = (triggers.get("workflow_dispatch") or {}).get("inputs") or {} if isinstance(triggers, dict) else {}
    if unknown := sorted(set(given_inputs) - set(declared)):
        raise Refused(f"the workflow declares no input {', '.join(unknown)}; it has: {', '.join(declared) or 'none'}")
    inputs = {k: (spec or {}).get("default", "") for k, spec in declared.items()}
    inputs.update(given_inputs)
    matrix: dict[str, Any] = {}
    strategy = (job.get("strategy") or {}).get("matrix")
    if strategy:
        if not isinstance(strategy, dict) or any(k in strategy for k in ("include", "exclude")):
            raise Refused("this runner takes a matrix of plain lists only (no include/exclude, no expression)")
        matrix = {k: v[0] for k, v in strategy.items()}  # the first combination unless --matrix says
        if unknown := sorted(set(given_matrix) - set(matrix)):
            raise Refused(f"the matrix has no key {', '.join(unknown)}")
        matrix.update(given_matrix)
    github = {
        "event_name": "workflow_dispatch",
        "ref": run_env["GITHUB_REF"],
        "ref_name": run_env["GITHUB_REF_NAME"],
        "sha": run_env["GITHUB_SHA"],
        "workspace": run_env["GITHUB_WORKSPACE"],
        "run_id": run_env["GITHUB_RUN_ID"],
        "repository": run_env["GITHUB_REPOSITORY"],
        "job": run_env["GITHUB_JOB"],
        "event": {"inputs": inputs},
    }
    secrets = {k.removeprefix("CI_SECRET_"): v for k, v in os.environ.items() if k.startswith("CI_SECRET_")}
    return Context(
        {
            "inputs": inputs,
            "matrix": matrix,
            "github": github,
            "env": {},
            "secrets": secrets,
            "vars": {},
            "runner": {"os": "Linux", "temp": run_env["RUNNER_TEMP"]},
            "steps": {},
        }
    )


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def check_steps(steps: list[dict[str, Any]]) -> None:
    """Refuse, before anything runs, a step this runner could not do."""
    for number, step in enumerate(steps, start=1):
        if "uses" in step:
            action = str(step["uses"]).split("@", 1)[0]
            if action not in ACTIONS:
                known = ", ".join(sorted(ACTIONS))
                raise Refused(f"step {number} uses {action}, which this runner cannot emulate here (it knows {known})")
        elif "run" not in step:
            raise Refused(f"step {number} has neither run nor uses")
        shell = step.get("shell", "bash")
        if shell != "bash":
            raise Refused(f"step {number} asks for shell {shell!r}; this runner has bash")


def run_job(workflow_name: str, job_id: str, inputs: dict[str, str], matrix: dict[str, str], root: Path) -> int:
    workflow = load_workflow(workflow_name, root)
    jobs = workflow.get("jobs") or {}
    if job_id not in jobs:
        raise Refused(f"workflow {workflow_name!r} has no job {job_id!r}; it has: {', '.join(jobs)}")
    job = jobs[job_id]
    steps = job.get("steps") or []
    check_steps(steps)

    run_id = time.strftime("%Y%m%dT%H%M%S")
    # one folder per job (its summary, env files, job.json); artifacts shared by the workflow's jobs
    base = root / ARTIFACTS / Path(workflow_name).stem / job_id
    shutil.rmtree(base, ignore_errors=True)
    temp = base / "runner-temp"
    temp.mkdir(parents=True)
    summary, env_file, output_file = base / "step-summary.md", temp / "github-env", temp / "github-output"
    summary.touch()
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD") or "main"
    runner_env = {
        "CI": "true",
        "GITHUB_WORKSPACE": str(root),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ENV": str(env_file),
        "GITHUB_OUTPUT": str(output_file),
        "GITHUB_SHA": _git(root, "rev-parse", "HEAD"),
        "GITHUB_REF": f"refs/heads/{branch}",
        "GITHUB_REF_NAME": branch,
        "GITHUB_RUN_ID": run_id,
        "GITHUB_REPOSITORY": "local/modelship",
        "GITHUB_JOB": job_id,
        "GITHUB_EVENT_NAME": "workflow_dispatch",
        "RUNNER_TEMP": str(temp),
        "RUNNER_OS": "Linux",
    }
    ctx = context_for(workflow, job, inputs, matrix, runner_env)
    # a runner starts each job in a fresh shell: nothing of an enclosing make carries over
    inherited = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    run = Run(workflow_name, job_id, root, base.parent / "artifacts", inherited)
    run.env.update(runner_env)
    for level in (workflow.get("env") or {}, job.get("env") or {}):
        for key, value in level.items():
            ctx.values["env"][key] = run.env[key] = as_text(substitute(value, ctx))

    if "if" in job and not condition(job["if"], ctx):
        print(f"== {workflow_name} / {job_id} skipped: its condition `{job['if']}` is false here")
        return 0
    timeout_s = float(job.get("timeout-minutes", 360)) * 60
    started = time.monotonic()
    failed: str | None = None
    print(f"== {workflow_name} / {job_id}: {len(steps)} steps (artifacts and summary in {base})", flush=True)
    for number, step in enumerate(steps, start=1):
        name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
        record: dict[str, Any] = {"step": number, "name": name}
        if not condition(step.get("if"), ctx):
            record["outcome"] = "skipped"
            run.log.append(record)
            print(f"-- step {number} skipped: {name}", flush=True)
            continue
        print(f"-- step {number}: {name}", flush=True)
        t0 = time.monotonic()
        try:
            record["outcome"] = _step(step, run, ctx, timeout_s - (t0 - started))
        except StepFailed as exc:
            record["outcome"] = "failure"
            print(f"   {exc}", file=sys.stderr, flush=True)
            failed = failed or name
            ctx.status = "failure"
        record["seconds"] = round(time.monotonic() - t0, 2)
        run.log.append(record)
        _read_env_file(env_file, run, ctx)
    total = round(time.monotonic() - started, 2)
    (base / "job.json").write_text(
        json.dumps(
            {"workflow": workflow_name, "job": job_id, "seconds": total, "failed": failed, "steps": run.log}, indent=2
        ),
        encoding="utf-8",
    )
    if failed:
        print(f"== {workflow_name} / {job_id} FAILED at step {failed!r} after {total} s", file=sys.stderr)
        return 1
    print(f"== {workflow_name} / {job_id} passed in {total} s")
    return 0


def _read_env_file(path: Path, run: Run, ctx: Context) -> None:
    """KEY=value lines a step appended to $GITHUB_ENV become env of the steps after it."""
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            ctx.values["env"][key] = run.env[key] = value
    path.write_text("", encoding="utf-8")


def _step(step: dict[str, Any], run: Run, ctx: Context, remaining_s: float) -> str:
    if "uses" in step:
        action = str(step["uses"]).split("@", 1)[0]
        print(f"   {ACTIONS[action](run, substitute(step.get('with') or {}, ctx))}", flush=True)
        return "success"
    env = dict(run.env)
    for key, value in (step.get("env") or {}).items():
        env[key] = as_text(substitute(value, ctx))
    script = substitute(str(step["run"]), ctx)
    cwd = run.root / str(step.get("working-directory", "."))
    if remaining_s <= 0:
        raise StepFailed("the job's timeout-minutes ran out")
    try:
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            timeout=remaining_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StepFailed("the job's timeout-minutes ran out during this step") from None
    if result.returncode != 0:
        raise StepFailed(f"exit status {result.returncode}")
    return "success"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one job of a workflow here, as a GitHub runner would.")
    parser.add_argument("workflow", help="file name in .github/workflows (ci, model-pipeline, docs, ...)")
    parser.add_argument("job", help="job id in that workflow")
    parser.add_argument("--input", action="append", default=[], help="workflow_dispatch input: key=value")
    parser.add_argument("--matrix", action="append", default=[], help="matrix value: key=value")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    args = parser.parse_args(argv)
    try:
        return run_job(
            args.workflow, args.job, _pairs(args.input, "input"), _pairs(args.matrix, "matrix"), args.root.resolve()
        )
    except Refused as exc:
        print(f"ci-job: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
