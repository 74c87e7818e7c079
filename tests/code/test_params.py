"""params.yaml is read into a typed, frozen object: a typo or a wrong type fails before any work,
with a message naming the key. (C12.8)"""

from __future__ import annotations

import pydantic
import pytest

from modelship.params import Params, ParamsError, load_params
from support import write_params

pytestmark = [
    pytest.mark.requirement("C12.8"),
    pytest.mark.catalogue(
        part="Package: params.yaml loader (modelship.params)",
        scope="unit",
        strategy="example-based",
        tool="pytest, PyYAML",
    ),
]


def test_project_params_load_into_a_typed_object(params):
    assert isinstance(params, Params)
    assert params.seed == 42 and params.model == "logistic_regression" and params.manifest is not None


def test_params_cannot_be_changed_after_loading(params):
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        params.seed = 1  # type: ignore[misc]


def test_overrides_replace_file_values(repo_root):
    assert load_params(repo_root / "params.yaml", {"cv_folds": 3}).cv_folds == 3


def test_replace_returns_a_validated_copy(params):
    assert params.replace(cv_folds=3).cv_folds == 3 and params.cv_folds != 3
    with pytest.raises(ParamsError, match="cv_folds"):
        params.replace(cv_folds=1)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"unknown_key": 1}, "unknown key 'unknown_key'"),
        ({"seed": "42"}, r"seed: Input should be a valid integer \(got '42'\)"),
        ({"seed": True}, "seed: Input should be a valid integer"),
        ({"test_size": 1.5}, "test_size: Input should be less than 1"),
        ({"cv_folds": 1}, "cv_folds: Input should be greater than or equal to 2"),
        ({"target_recall": 0.0}, "target_recall: Input should be greater than 0"),
        ({"model": "svm"}, "model: Input should be 'logistic_regression', 'random_forest' or"),
        ({"calibration": "beta"}, "calibration: Input should be 'sigmoid'"),
        ({"gate_min_recall": 1.2}, "gate_min_recall: Input should be less than or equal to 1"),
    ],
)
def test_invalid_params_are_refused_naming_the_key(repo_root, override, message):
    with pytest.raises(ParamsError, match=message):
        load_params(repo_root / "params.yaml", override)


def test_an_exponent_without_a_dot_is_refused_with_the_spelling_to_use(tmp_path):
    path = write_params(tmp_path / "p.yaml")
    text = path.read_text().replace("monotonic_tolerance: 0.001", "monotonic_tolerance: 1e-6")
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"monotonic_tolerance: YAML reads '1e-6' as text.*write 1\.0e-6"):
        load_params(path)
    path.write_text(text.replace("1e-6", "1.0e-6"))
    assert load_params(path).monotonic_tolerance == 1.0e-6


def test_missing_key_is_refused_by_name(tmp_path):
    path = write_params(tmp_path / "p.yaml")
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("seed:")))
    with pytest.raises(ParamsError, match=r"missing key 'seed'.*every key is required"):
        load_params(path)


def test_missing_invalid_or_non_mapping_file_is_refused(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ParamsError, match="must hold a mapping"):
        load_params(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("seed: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")


def test_project_params_file_header_describes_how_it_is_read(repo_root):
    header = (repo_root / "params.yaml").read_text(encoding="utf-8").split("\nseed:")[0]
    assert "modelship.params" in header and "-p params_file" in header
