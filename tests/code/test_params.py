"""params.yaml is validated: a typo or a wrong type fails before any work. (C12.8)"""
from __future__ import annotations

import pytest

from support import write_params
from modelship.params import ParamsError, load_params

pytestmark = [
    pytest.mark.requirement("C12.8"),
    pytest.mark.catalogue(
        part="Package: params.yaml loader (modelship.params)",
        scope="unit", strategy="example-based", tool="pytest, PyYAML",
    ),
]


def test_project_params_are_valid(params):
    assert params["seed"] == 42 and params["model"] == "logistic_regression"


def test_overrides_replace_file_values(repo_root):
    assert load_params(repo_root / "params.yaml", {"cv_folds": 3})["cv_folds"] == 3


@pytest.mark.parametrize("override, message", [
    ({"unknown_key": 1}, "unknown keys"),
    ({"seed": "42"}, "seed must be int"),
    ({"seed": True}, "seed must be int"),
    ({"test_size": 1.5}, "test_size must be between"),
    ({"cv_folds": 1}, "cv_folds must be at least 2"),
    ({"target_recall": 0.0}, "target_recall must be in"),
])
def test_invalid_params_are_refused(repo_root, override, message):
    with pytest.raises(ParamsError, match=message):
        load_params(repo_root / "params.yaml", override)


def test_missing_key_is_refused(tmp_path):
    path = write_params(tmp_path / "p.yaml")
    path.write_text("\n".join(l for l in path.read_text().splitlines() if not l.startswith("seed:")))
    with pytest.raises(ParamsError, match=r"missing keys \['seed'\]"):
        load_params(path)


def test_missing_or_non_mapping_file_is_refused(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ParamsError, match="must hold a mapping"):
        load_params(tmp_path / "list.yaml")
