"""Set-up files agree with each other, so every way of installing gets the same pins. (C12.2, C12.6)"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

pytestmark = [
    pytest.mark.requirement("C12.2", "C12.6"),
    pytest.mark.catalogue(
        part="Set-up files: pyproject.toml, requirements.lock, environment.yml",
        scope="unit",
        strategy="inspection",
        tool="pytest, tomllib, PyYAML",
    ),
]


def _pyproject_pins(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"]


def test_environment_yml_lists_the_same_packages_as_pyproject(repo_root):
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(_pyproject_pins(repo_root))
    assert "python=3.11" in env["dependencies"]


def test_lock_file_pins_every_direct_dependency_at_the_same_version(repo_root):
    lock = {}
    for line in (repo_root / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if m:
            lock[m.group(1).lower().replace("_", "-")] = m.group(2)
    for pin in _pyproject_pins(repo_root):
        name, version = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s]+)", pin).groups()
        assert lock.get(name.lower().replace("_", "-")) == version, pin


def test_numpy_stays_below_2_for_the_profiler(repo_root):
    assert any(p.startswith("numpy==1.26") for p in _pyproject_pins(repo_root))
