"""The registry command line: clear messages and exit codes. (C12.8, C13.9)"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelship.cli import main
from modelship.registry import Registry
from support import ROOT

pytestmark = [
    pytest.mark.requirement("C12.8", "C13.9"),
    pytest.mark.catalogue(
        part="Package: registry command line (python -m modelship)",
        scope="unit",
        strategy="example-based",
        tool="pytest, scikit-learn",
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
    proc = subprocess.run(
        [sys.executable, "-m", "modelship", "--registry", str(registry.root), "promote", "v0099"],
        capture_output=True,
        text=True,
    )
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


# -- the gate's decision, and overriding it by hand ---------------------------------------


@pytest.fixture
def refused(registry):
    """v0001 in production; v0002 evaluated and refused by the gate."""
    registry.promote("v0001")
    registry.update_metadata(
        "v0002", gate={"promote": False, "reasons": ["recall 0.9000 < minimum 0.93", "roc_auc 0.9900 >= minimum 0.97"]}
    )
    return registry


def test_gate_says_plainly_that_a_refused_candidate_was_not_promoted_and_exits_0(refused, capsys):
    assert run(refused, "gate", "v0002") == 0
    out = capsys.readouterr().out
    assert out.startswith("candidate v0002 NOT promoted: production stays v0001 because")
    assert "  - recall 0.9000 < minimum 0.93" in out and "make promote VERSION=v0002 REASON=" in out


def test_gate_reports_a_passed_candidate_and_defaults_to_the_latest_evaluated(registry, capsys):
    registry.promote("v0002")
    (registry.root / "latest.json").write_text('{"version": "v0002"}')
    assert run(registry, "gate") == 0
    assert capsys.readouterr().out.startswith("candidate v0002 passed the evaluation gate: production is v0002")


def test_gate_on_an_unevaluated_version_is_an_error(registry, capsys):
    assert run(registry, "gate", "v0003") == 1
    assert "v0003 has not been evaluated: run `make evaluate`" in capsys.readouterr().err


def test_gate_says_when_the_refused_version_is_production_already(refused, capsys):
    refused.promote("v0002", reason="forced", gate_overridden=True)
    assert run(refused, "gate", "v0002") == 0
    assert "did NOT pass the evaluation gate, yet it is production" in capsys.readouterr().out


def test_promoting_a_refused_candidate_without_force_is_refused_with_the_gate_reasons(refused, capsys):
    assert run(refused, "promote", "v0002") == 1
    err = capsys.readouterr().err
    assert "v0002 was refused by the evaluation gate" in err and "recall 0.9000 < minimum 0.93" in err
    assert "REASON=" in err and "--force --reason" in err
    assert refused.production() == "v0001"


def test_force_without_a_reason_is_refused(refused, capsys):
    assert run(refused, "promote", "v0002", "--force") == 1
    assert "--force needs --reason" in capsys.readouterr().err
    assert refused.production() == "v0001"


def test_a_forced_promotion_records_its_reason_and_the_override(refused, capsys):
    assert run(refused, "promote", "v0002", "--force", "--reason", "recall measured on 40 cases only") == 0
    assert "gate overridden" in capsys.readouterr().out
    last = refused.history()[-1]
    assert refused.production() == "v0002"
    assert last["reason"] == "recall measured on 40 cases only" and last["gate_overridden"] is True


# -- params: after the command name too, and one value at a time --------------------------


def test_params_given_after_the_command_name_choose_the_registry(tmp_path, capsys):
    from support import write_params

    params = write_params(tmp_path / "p.yaml", registry=str(tmp_path / "elsewhere"))
    assert main(["models", "--params", str(params)]) == 0
    assert "elsewhere" in capsys.readouterr().out


def test_param_prints_one_value_of_the_params_file(tmp_path, capsys):
    from support import write_params

    params = write_params(tmp_path / "p.yaml", reports_dir=str(tmp_path / "my-reports"))
    assert main(["--params", str(params), "param", "reports_dir"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'my-reports'}\n"
    assert main(["--params", str(params), "param", "report_dir"]) == 1
    assert "has no parameter 'report_dir'" in capsys.readouterr().err


def test_a_params_file_that_is_not_yaml_is_an_error_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1, 2\n")
    assert main(["--params", str(bad), "models"]) == 1
    assert f"error: params file {bad} is not valid YAML" in capsys.readouterr().err


def test_listing_models_does_not_import_skops(registry):
    code = (
        "import sys; from modelship.cli import main; "
        f"main(['--registry', {str(registry.root)!r}, 'models']); print('skops' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "False"


# -- run-notebook: papermill, with the finding last ----------------------------------------


def tiny_notebook(path, *cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "modelship", "display_name": "Python (modelship)", "language": "python"}
    parameters = nbformat.v4.new_code_cell('params_file = "params.yaml"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, path)
    return path


def test_a_failing_notebook_ends_with_its_finding_alone_and_exits_1(tmp_path, capsys):
    from support import write_params

    params = write_params(tmp_path / "p.yaml", reports_dir=str(tmp_path / "reports"))
    notebook = tiny_notebook(
        tmp_path / "steps.ipynb",
        "for i in range(80): print('noise', i)",
        "raise ValueError('ranges [mean_radius]: rows 42')",
    )
    assert main(["--params", str(params), "run-notebook", str(notebook)]) == 1
    err = capsys.readouterr().err
    last = err.rstrip().splitlines()  # In [4]: papermill adds a cell for the injected params
    assert last[-1] == "ValueError: ranges [mean_radius]: rows 42"
    assert last[-2] == f"{notebook} failed at cell In [4] (executed copy: {tmp_path / 'reports' / 'steps.ipynb'})"
    assert "Executing" in err  # papermill's progress is still shown
    assert (tmp_path / "reports" / "steps.ipynb").exists()


def test_run_notebook_writes_to_the_params_files_reports_dir_with_the_params_file(tmp_path):
    import nbformat

    from support import write_params

    params = write_params(tmp_path / "p.yaml", reports_dir=str(tmp_path / "other-reports"))
    notebook = tiny_notebook(tmp_path / "ok.ipynb", "print('params from', params_file)")
    assert main(["--params", str(params), "run-notebook", str(notebook)]) == 0
    executed = nbformat.read(tmp_path / "other-reports" / "ok.ipynb", as_version=4)
    assert f"params from {params}" in executed.cells[-1].outputs[0]["text"]


def test_run_notebook_refuses_a_missing_notebook(tmp_path, capsys):
    assert main(["run-notebook", str(tmp_path / "nope.ipynb")]) == 1
    assert "notebook not found" in capsys.readouterr().err


def test_latest_says_whether_the_last_training_run_registered_anything(tmp_path, capsys):
    reg = Registry(tmp_path / "r")
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    reg.register_candidate(model, {"fingerprint": "f1"})
    assert run(reg, "latest") == 0
    assert capsys.readouterr().out.startswith("latest candidate v0001: registered in")
    reg.register_candidate(model, {"fingerprint": "f1"})
    assert run(reg, "latest") == 0
    assert "the last training run was identical to it" in capsys.readouterr().out


def test_run_notebook_names_a_missing_kernel_and_the_remedy(tmp_path, capsys):
    notebook = tiny_notebook(tmp_path / "ok.ipynb", "print(1)")
    assert (
        main(
            [
                "run-notebook",
                str(notebook),
                "--params",
                str(ROOT / "params.yaml"),
                "--kernel",
                "no-such-kernel",
                "--output",
                str(tmp_path / "o.ipynb"),
            ]
        )
        == 1
    )
    assert "no Jupyter kernel named 'no-such-kernel': run `make setup`" in capsys.readouterr().err


def test_run_notebook_refuses_a_file_that_is_not_a_notebook(tmp_path, capsys):
    (tmp_path / "notes.ipynb").write_text("not json")
    assert (
        main(
            [
                "run-notebook",
                str(tmp_path / "notes.ipynb"),
                "--params",
                str(ROOT / "params.yaml"),
                "--output",
                str(tmp_path / "o.ipynb"),
            ]
        )
        == 1
    )
    assert "cannot be run as a notebook" in capsys.readouterr().err
