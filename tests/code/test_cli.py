"""The registry command line: clear messages and exit codes. (C12.8, C13.9)"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelship.cli import main
from modelship.registry import Registry

pytestmark = [
    pytest.mark.requirement("C12.8", "C13.9"),
    pytest.mark.catalogue(
        part="Package: registry command line (python -m modelship)",
        scope="unit", strategy="example-based", tool="pytest, scikit-learn",
    ),
]


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "r")
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    for _ in range(2):
        v = reg.register(model, {})
        reg.update_metadata(v, threshold=0.4, metrics={"roc_auc": 0.99, "recall": 0.97}, gate={"promote": True})
    reg.register(model, {})  # never evaluated
    return reg


def run(registry, *args):
    return main(["--registry", str(registry.root), *args])


def test_models_lists_versions_and_marks_production(registry, capsys):
    registry.promote("v0002")
    assert run(registry, "models") == 0
    out = capsys.readouterr().out
    assert "* v0002" in out and "0.9900" in out and "passed" in out and "v0003" in out


def test_promote_and_rollback_change_production(registry, capsys):
    assert run(registry, "promote", "v0001") == 0
    assert run(registry, "promote", "v0002", "--reason", "new data") == 0
    assert run(registry, "rollback") == 0
    assert registry.production() == "v0001"
    assert "rolled back: production is now v0001" in capsys.readouterr().out
    assert registry.history()[1]["reason"] == "new data"


def test_promoting_an_unevaluated_version_is_refused(registry, capsys):
    assert run(registry, "promote", "v0003") == 1
    assert "has not been evaluated" in capsys.readouterr().err


def test_errors_exit_non_zero_with_a_message_and_no_traceback(registry):
    proc = subprocess.run([sys.executable, "-m", "modelship", "--registry", str(registry.root), "promote", "v0099"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "error: model version v0099 is not registered" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_checks_the_production_model(registry, capsys):
    assert run(registry, "verify") == 1
    assert "no production model to verify" in capsys.readouterr().err
    registry.promote("v0001")
    assert run(registry, "verify") == 0
    (registry.version_dir("v0001") / "model.skops").write_bytes(b"x")
    assert run(registry, "verify", "v0001") == 1
    assert "checksum mismatch" in capsys.readouterr().err


def test_empty_registry_is_reported(tmp_path, capsys):
    assert main(["--registry", str(tmp_path / "none"), "models"]) == 0
    assert "no model registered" in capsys.readouterr().out


def test_registry_defaults_to_the_params_file(tmp_path, capsys):
    from support import write_params

    params = write_params(tmp_path / "p.yaml", registry=str(tmp_path / "from-params"))
    assert main(["--params", str(params), "models"]) == 0
    assert "from-params" in capsys.readouterr().out
    assert main(["--params", str(tmp_path / "missing.yaml"), "models"]) == 1


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
