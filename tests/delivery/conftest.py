"""The delivery tests' shared run: the model-pipeline job, run once in a fresh copy of the
repository by the local job runner, as a GitHub runner runs it on a checkout."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import tracked_copy


@dataclass(frozen=True)
class JobRun:
    root: Path
    returncode: int
    output: str
    seconds: float


def fresh_copy(dest: Path) -> Path:
    """The files a clone would hold, in a git repository of their own (the job runner reads git)."""
    tracked_copy(dest)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def run_job(root: Path, workflow: str, job: str, *inputs: str) -> JobRun:
    args = [sys.executable, "scripts/ci_job.py", workflow, job, *(f"--input={i}" for i in inputs)]
    started = time.monotonic()
    result = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=1800)
    return JobRun(root, result.returncode, result.stdout + result.stderr, time.monotonic() - started)


@pytest.fixture(scope="session")
def pipeline_job(tmp_path_factory: pytest.TempPathFactory) -> JobRun:
    """model-pipeline / pipeline on the default data and params, in a copy with no .venv yet."""
    root = fresh_copy(tmp_path_factory.mktemp("runner-checkout"))
    return run_job(root, "model-pipeline", "pipeline")
