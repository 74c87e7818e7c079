"""Registering a trained candidate: an identical rerun is recognised, not registered again. (C12.5, C13.5)"""

from __future__ import annotations

import numpy as np
import pytest

from modelship.registry import Registry
from modelship.train import fingerprint, train_candidate

pytestmark = [
    pytest.mark.requirement("C12.5", "C13.5"),
    pytest.mark.catalogue(
        part="Model: registration of identical candidates (modelship.train, registry)",
        scope="integration",
        strategy="example-based",
        tool="pytest, scikit-learn, skops",
    ),
]


@pytest.fixture
def small(params):
    return params.replace(cv_folds=3)


def test_a_rerun_on_the_same_data_and_params_names_the_registered_version(
    tmp_path, wdbc_split, contract, small, capsys
):
    registry = Registry(tmp_path / "r")
    first = train_candidate(wdbc_split.train, contract, small, registry, "a" * 64, progress=False)
    again = train_candidate(wdbc_split.train, contract, small, registry, "a" * 64, progress=True)
    assert (first.version, first.reused) == ("v0001", False)
    assert (again.version, again.reused) == ("v0001", True)
    assert registry.versions() == ["v0001"] and registry.latest_candidate() == ("v0001", True)
    assert again.metadata["fingerprint"] == first.metadata["fingerprint"]
    assert "identical to registered v0001" in capsys.readouterr().out
    # what the training notebook reads from the result still works on a reused candidate
    assert np.array_equal(again.cv.oof_proba, first.cv.oof_proba) and again.cv.mean_roc_auc > 0.95


def test_other_params_or_other_data_register_a_new_version(tmp_path, wdbc_split, contract, small):
    registry = Registry(tmp_path / "r")
    train_candidate(wdbc_split.train, contract, small, registry, "a" * 64, progress=False)
    other_c = train_candidate(
        wdbc_split.train, contract, small.replace(regularization_C=3.0), registry, "a" * 64, progress=False
    )
    other_data = train_candidate(wdbc_split.train, contract, small, registry, "b" * 64, progress=False)
    assert [other_c.reused, other_data.reused] == [False, False]
    assert registry.versions() == ["v0001", "v0002", "v0003"] and registry.latest() == "v0003"


def test_the_fingerprint_covers_code_libraries_and_predictions():
    meta = {
        "data_sha256": "a",
        "contract": {"name": "c"},
        "params": {"seed": 1},
        "libraries": {"numpy": "1"},
        "git_commit": "abc",
    }
    oof, fitted = np.array([0.1, 0.9]), np.array([0.2, 0.8])
    base = fingerprint(meta, oof, fitted)
    assert fingerprint(dict(meta), oof.copy(), fitted.copy()) == base
    assert fingerprint({**meta, "git_commit": "def"}, oof, fitted) != base
    assert fingerprint({**meta, "libraries": {"numpy": "2"}}, oof, fitted) != base
    assert fingerprint(meta, oof + 1e-12, fitted) != base  # e.g. an uncommitted change in the code
    assert fingerprint(meta, oof, fitted[::-1]) != base


def test_the_code_version_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    from modelship.train import git_commit

    here = git_commit()
    monkeypatch.chdir(tmp_path)  # not a git repository: nbval runs the notebooks from such a folder
    assert git_commit() == here != "unknown"
