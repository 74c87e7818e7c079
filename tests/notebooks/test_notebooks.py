"""The notebooks themselves: papermill runs them with small parameters, nbval checks
the executed copies, a failing data rule stops the run, and a second dataset runs
through by parameters alone. (C12.3, C12.4, C12.8, C13.4, C13.5)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pandas as pd
import pytest

from modelship.registry import Registry
from support import ROOT, SYNTHETIC_OVERRIDES, make_synthetic, write_params

pytestmark = pytest.mark.notebooks
NOTEBOOKS = ("01_data_checks", "02_train", "03_evaluate")
KERNEL = "modelship"


def run_pipeline(params_file: Path, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for name in NOTEBOOKS:
        out = out_dir / f"{name}.ipynb"
        pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), kernel_name=KERNEL,
                            parameters={"params_file": str(params_file)}, cwd=str(ROOT), progress_bar=False)
        outputs.append(out)
    return outputs


def small_params(folder: Path, **overrides) -> Path:
    values = {"cv_folds": 3, "processed_dir": str(folder / "processed"), "registry": str(folder / "registry"),
              "reports_dir": str(folder / "reports"), **overrides}
    return write_params(folder / "params.yaml", **values)


@pytest.fixture(scope="module")
def wdbc_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wdbc-pipeline")
    params_file = small_params(folder)
    return folder, run_pipeline(params_file, folder / "reports")


def outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or json.dumps(out.get("data", {})))
    return "\n".join(parts)


def test_pipeline_notebooks_end_with_a_promoted_model(wdbc_run):
    folder, _ = wdbc_run
    registry = Registry(folder / "registry")
    production = registry.production()
    assert production == "v0001"
    meta = registry.metadata(production)
    assert meta["gate"]["promote"] and meta["metrics"]["recall"] >= 0.93 and 0 < meta["threshold"] < 1
    assert (registry.version_dir(production) / "model_card.md").exists()
    assert (registry.version_dir(production) / "reference_profile.bin").exists()


def test_executed_notebooks_have_no_errors_and_show_the_gate(wdbc_run):
    _, outputs = wdbc_run
    for path in outputs:
        nb = nbformat.read(path, as_version=4)
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"], path
    assert "PROMOTE" in outputs_text(outputs[2])
    assert "569 rows, 31 columns" in outputs_text(outputs[0])


def test_every_figure_and_table_cell_has_alt_text_or_caption():
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if "_figure(" in cell.source:
                assert "#| fig-alt:" in cell.source and "#| fig-cap:" in cell.source, cell.source
            if cell.source.rstrip().splitlines()[-1].endswith((".table()", "round(4)", "head(12)")):
                assert "#| tbl-cap:" in cell.source, cell.source


def test_each_notebook_has_a_parameters_cell():
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and "params_file" in tagged[0].source


def test_nbval_accepts_the_executed_notebooks(wdbc_run):
    folder, outputs = wdbc_run
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           "--nbval-current-env", *map(str, outputs)],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
    # nbval re-ran the pipeline on the same data and params: training recognised v0001
    # instead of registering an identical v0002
    registry = Registry(folder / "registry")
    assert registry.versions() == ["v0001"] and registry.latest_candidate() == ("v0001", True)
    assert registry.production() == "v0001"


def test_a_failed_data_rule_stops_the_run_with_a_clear_message(tmp_path):
    frame = pd.read_csv(ROOT / "data/raw/wdbc.csv")
    frame.loc[42, "mean_radius"] = 1400.0
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    params_file = small_params(tmp_path, snapshot=str(bad), manifest=None)
    proc = subprocess.run([sys.executable, "-m", "papermill", "--kernel", KERNEL, "--cwd", str(ROOT),
                           "-p", "params_file", str(params_file), str(ROOT / "notebooks/01_data_checks.ipynb"),
                           str(tmp_path / "out.ipynb")], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "DataCheckError" in proc.stderr and "ranges [mean_radius]" in proc.stderr and "rows 42" in proc.stderr
    assert not (tmp_path / "processed" / "train.csv").exists()  # nothing written past the gate


def test_a_second_dataset_with_a_categorical_feature_runs_by_parameters_alone(tmp_path):  # genericity
    paths = make_synthetic(tmp_path / "data")
    params_file = small_params(tmp_path, contract=str(paths["contract"]), snapshot=str(paths["snapshot"]),
                               **SYNTHETIC_OVERRIDES)
    outputs = run_pipeline(params_file, tmp_path / "reports")
    registry = Registry(tmp_path / "registry")
    meta = registry.metadata(registry.latest())
    assert meta["contract"]["name"] == "synthetic" and "site" in meta["features"]
    assert registry.production() == registry.latest(), meta["gate"]["reasons"]
    assert "direction: dose increasing" in outputs_text(outputs[2])
