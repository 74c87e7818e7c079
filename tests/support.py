"""Helpers the tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from serve.monitoring.sample import Plan

ROOT = Path(__file__).resolve().parents[1]


def write_params(path: Path, **overrides) -> Path:
    """A params file like the project's, with paths and values overridden."""
    doc = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for key in ("contract", "snapshot", "manifest"):
        doc[key] = str(ROOT / doc[key])
    doc.update(overrides)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


SYNTHETIC_CONTRACT = {
    "name": "synthetic",
    "version": 1,
    "title": "Synthetic adverse events",
    "target": {"name": "outcome", "classes": ["none", "event"], "positive": "event"},
    "features": [
        {"name": "age", "type": "int", "unit": "years", "description": "Age at inclusion.", "min": 18, "max": 100},
        {
            "name": "dose",
            "type": "float",
            "unit": "mg",
            "description": "Daily dose.",
            "min": 0,
            "max": 50,
            "monotonic": "increasing",
        },
        {
            "name": "site",
            "type": "category",
            "description": "Recruiting site.",
            "categories": ["north", "south", "east"],
        },
        {"name": "marker", "type": "float", "unit": "ng/mL", "description": "Blood marker.", "min": 0, "max": 20},
    ],
}


def make_synthetic(
    folder: Path,
    rows: int = 400,
    seed: int = 7,
    gaps: tuple[str, ...] = (),
    allow_missing: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write a synthetic dataset (with a categorical feature) and its contract; no manifest.

    `gaps` blanks every ninth value of each of those columns; `allow_missing` maps features to the
    imputation their contract entry names.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "dose": rng.uniform(0, 50, rows).round(2),
            "site": rng.choice(["north", "south", "east"], rows),
            "marker": rng.gamma(2.0, 2.0, rows).clip(0, 20).round(3),
        }
    )
    logit = 0.12 * (frame.dose - 25) + 1.0 * (frame.site == "north") + 0.3 * (frame.marker - 4) - 0.5
    frame["outcome"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "event", "none")
    for offset, column in enumerate(gaps):  # a different row per column: no row loses two values
        frame[column] = frame[column].astype(object).where(frame.index % 9 != offset, None)
    contract = copy.deepcopy(SYNTHETIC_CONTRACT)
    for feat in contract["features"]:
        if feat["name"] in (allow_missing or {}):
            feat["missing"] = {"allowed": True, "impute": allow_missing[feat["name"]]}  # type: ignore[index]
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"snapshot": folder / "synthetic.csv", "contract": folder / "synthetic.yaml"}
    frame.to_csv(paths["snapshot"], index=False)
    paths["contract"].write_text(yaml.safe_dump(contract), encoding="utf-8")
    return paths


# wording of the default dataset that must not leak into reports about another one
BREAST_CANCER_WORDS = ("569 cases", "malignan", "benign", "pathologist", "breast", "cancer", "nuclei", "tumo")


# gate and checks loosened for a noisier, smaller dataset: the point is that
# nothing but parameters changes
SYNTHETIC_OVERRIDES = {
    "manifest": None,
    "gate_min_roc_auc": 0.7,
    "gate_min_recall": 0.7,
    "gate_min_precision": 0.5,
    "gate_max_brier": 0.25,
    "target_recall": 0.9,
    "max_flip_rate": 0.05,
    "monotonic_tolerance": 0.001,
    "min_class_fraction": 0.15,
    "cv_folds": 3,
}


# ---- the pipeline and the docs site, shared by the notebook and site tests --------------------
PIPELINE_NOTEBOOKS = ("01_data_checks", "02_train", "03_evaluate")
KERNEL = "modelship"


def small_params(folder: Path, **overrides) -> Path:
    """The project's params with fewer folds, every output (processed data, registry, reports) in `folder`."""
    values = {
        "cv_folds": 3,
        "processed_dir": str(folder / "processed"),
        "registry": str(folder / "registry"),
        "reports_dir": str(folder / "reports"),
        **overrides,
    }
    return write_params(folder / "params.yaml", **values)


def run_pipeline(params_file: Path, out_dir: Path) -> list[Path]:
    """Execute the three notebooks in order with papermill, as `make pipeline` does; returns the executed copies."""
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for name in PIPELINE_NOTEBOOKS:
        out = out_dir / f"{name}.ipynb"
        pm.execute_notebook(
            str(ROOT / "notebooks" / f"{name}.ipynb"),
            str(out),
            kernel_name=KERNEL,
            parameters={"params_file": str(params_file)},
            cwd=str(ROOT),
            progress_bar=False,
        )
        outputs.append(out)
    return outputs


# ---- the monitoring report, shared by its notebook test and the site tests ----
# five windows of one second: three normal, two drifted (a few features shifted, one refused field)
SAMPLE_PLAN = Plan(windows=5, window_s=1.0, rows=60, drift_from=3)


def make_monitoring_sample(params_file: Path, out: Path) -> dict:
    """The sample the real collector writes from a pipeline run's registry and held-out split
    (serve/monitoring/sample.py): its summaries and the alert transitions as the collector wrote
    them, the alerts file then given an event long before the period and a line cut by a crash."""
    import json

    from modelship.monitoring.alerts import ALERTS_FILE
    from serve.monitoring.sample import make_sample

    meta = make_sample(params_file, out, SAMPLE_PLAN)
    monitoring = out / "monitoring"
    summaries = [json.loads(p.read_text()) for p in sorted(monitoring.glob("*.summary.json"))]
    # The collector wrote its alerts file as the windows closed; an event from long before the
    # period and a line cut by a crash are added, for the report to leave out.
    alerts_file = monitoring / ALERTS_FILE
    alerts = [json.loads(line) for line in alerts_file.read_text(encoding="utf-8").splitlines()]
    with alerts_file.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"since": "2000-01-01T00:00:00Z", "rule": "old", "state": "resolved"}) + "\n")
        f.write("{cut by a crash\n")
    return {"params": params_file, "out": out, "meta": meta, "summaries": summaries, "alerts": alerts}


def run_monitoring_report(out: Path, **parameters) -> Path:
    """Execute notebooks/04_monitoring_report with papermill, every path absolute (nbval runs a
    notebook from its own folder)."""
    import papermill as pm

    parameters.setdefault("serve_config", str(ROOT / "serve" / "config.yaml"))
    pm.execute_notebook(str(ROOT / "notebooks" / "04_monitoring_report.ipynb"), str(out), kernel_name=KERNEL,
                        parameters=parameters, cwd=str(ROOT), progress_bar=False)  # fmt: skip
    return out


def tracked_copy(dest: Path) -> Path:
    """Copy the files git knows (tracked, or new and not ignored) into `dest`: the project as a fresh
    clone of the working tree would have it, without .venv, reports or any other generated file."""
    import shutil
    import subprocess

    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():  # a file deleted in the working tree is still in the index
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


# ---- end of the pipeline and docs site helpers --------------------------------------------------
