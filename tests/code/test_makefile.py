"""The Makefile's pipeline and registry targets honour PARAMS and run on any machine. (C13.3, C13.9)"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelship.registry import Registry
from support import ROOT, write_params

pytestmark = [
    pytest.mark.requirement("C13.3", "C13.9"),
    pytest.mark.catalogue(
        part="Makefile targets (PARAMS, reports, sudo, promote REASON)",
        scope="integration",
        strategy="example-based",
        tool="pytest, GNU make",
    ),
]


def make(*args, env=None):
    """The real make on the real Makefile; `-o setup` because the test's own venv is the one set up."""
    # under `make test`, the outer make's flags (-n, -j's jobserver) must not reach this one
    env = {k: v for k, v in (env or os.environ).items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "--no-print-directory", "-o", "setup", f"PY={sys.executable}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def other(tmp_path):
    """A params file whose registry holds v0001 (passed, promoted), v0002 (passed, promoted), v0003 (refused)."""
    reg = Registry(tmp_path / "other-registry")
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    for passed in (True, True, False):
        v = reg.register(model, {})
        reg.update_metadata(v, threshold=0.5, gate={"promote": passed, "reasons": ["recall 0.9 < minimum 0.93"]})
    reg.promote("v0001")
    reg.promote("v0002")
    return write_params(tmp_path / "other.yaml", registry=str(reg.root)), reg


def test_make_models_lists_the_registry_of_the_params_file(other):
    params, reg = other
    proc = make("models", f"PARAMS={params}")
    assert proc.returncode == 0, proc.stderr
    assert "* v0002" in proc.stdout and "v0003" in proc.stdout


def test_make_rollback_rolls_back_the_registry_of_the_params_file(other):
    params, reg = other
    proc = make("rollback", f"PARAMS={params}")
    assert proc.returncode == 0, proc.stderr
    assert reg.production() == "v0001" and reg.history()[-1]["action"] == "rollback"


def test_make_promote_refuses_a_candidate_the_gate_refused_unless_given_a_reason(other):
    params, reg = other
    proc = make("promote", "VERSION=v0003", f"PARAMS={params}")
    assert proc.returncode != 0 and "v0003 was refused by the evaluation gate" in proc.stderr
    assert reg.production() == "v0002"
    proc = make("promote", "VERSION=v0003", "REASON=reviewer's call: recall holds on the new site", f"PARAMS={params}")
    assert proc.returncode == 0, proc.stderr
    last = reg.history()[-1]
    assert reg.production() == "v0003" and last["gate_overridden"] is True
    assert last["reason"] == "reviewer's call: recall holds on the new site"


def test_pipeline_targets_pass_the_params_file_and_name_no_reports_folder():
    proc = make("-n", "data-checks", "train", "evaluate", "PARAMS=other.yaml")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    for notebook in ("01_data_checks", "02_train", "03_evaluate"):
        (line,) = [ln for ln in lines if f"notebooks/{notebook}.ipynb" in ln]
        assert "--params other.yaml run-notebook" in line
    assert "reports/" not in proc.stdout  # where reports go is the params file's reports_dir
    assert any(ln.endswith("--params other.yaml latest") for ln in lines)
    assert lines[-1].endswith("--params other.yaml gate")  # make evaluate ends with the gate's decision


def test_make_clean_removes_what_the_params_file_names_and_nothing_else(tmp_path):
    processed, registry, reports = tmp_path / "processed", tmp_path / "registry", tmp_path / "reports"
    for folder in (processed, registry / "versions", reports / "figures"):
        folder.mkdir(parents=True)
    (reports / "01_data_checks.ipynb").write_text("{}")
    (reports / "notes.md").write_text("kept")
    params = write_params(
        tmp_path / "p.yaml", processed_dir=str(processed), registry=str(registry), reports_dir=str(reports)
    )
    proc = make("clean", f"PARAMS={params}")
    assert proc.returncode == 0, proc.stderr
    assert not processed.exists() and not registry.exists() and not (reports / "figures").exists()
    assert [p.name for p in reports.iterdir()] == ["notes.md"]


@pytest.fixture
def user_id(tmp_path):
    """Run make as if `id -u` said the given number (a GitHub runner is uid 1001, not root)."""

    def as_uid(uid: int) -> dict:
        fake = tmp_path / f"bin-{uid}"
        fake.mkdir()
        (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (fake / "id").chmod(0o755)
        return {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}

    return as_uid


def test_debian_packages_are_installed_through_sudo_when_not_root(user_id):
    proc = make("-n", "system-deps", "bench", env=user_id(1001))
    assert proc.returncode == 0, proc.stderr
    assert "sudo apt-get update -qq" in proc.stdout and "sudo apt-get install -y -qq" in proc.stdout
    assert "|| sudo apt-get install -y wrk" in proc.stdout


def test_root_installs_debian_packages_without_sudo(user_id):
    proc = make("-n", "system-deps", "bench", env=user_id(0))
    assert proc.returncode == 0, proc.stderr
    assert "apt-get update" in proc.stdout and "sudo" not in proc.stdout
