"""Closing the loop (C11.10): `python -m modelship retrain` on feedback the real API stored.

The session pipeline's registry (a production model the notebooks trained and promoted) serves
the in-process API (tests/serve/conftest.py's make_api: real auth, model and SQLite store);
held-out rows, half of them shifted, are scored through POST /v1/predict and their real
diagnoses recorded through POST /v1/feedback. The command exports them as a snapshot with its
manifest, combines it with the embedded snapshot, runs 01-03 on it and prints the gate's decision
and its reasons; the candidate's metadata leads back to every snapshot. Bad input ends with a
message and exit 1. (C11.7, C11.10)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from modelship.cli import main
from modelship.contract import load_contract
from modelship.registry import Registry, sha256_file
from support import ROOT, small_params

pytestmark = [
    pytest.mark.notebooks,
    pytest.mark.requirement("C11.7", "C11.10"),
    pytest.mark.catalogue(
        part="Monitoring: retraining from the service's feedback (make retrain)",
        scope="end-to-end",
        strategy="example-based",
        tool="pytest, papermill, FastAPI TestClient, SQLite",
    ),
]

CONTRACT = load_contract(ROOT / "contracts" / "wdbc.yaml")
SHIFTED = ["mean_radius", "mean_texture", "mean_perimeter"]


@pytest.fixture
def registry_root(tmp_path: Path, executed_notebooks: Path) -> Path:
    """A copy of the session pipeline's registry: v0001 trained and promoted by the notebooks."""
    root = tmp_path / "registry"
    shutil.copytree(executed_notebooks.parent / "registry", root)
    return root


def held_out(executed_notebooks: Path, n: int, shift: bool) -> pd.DataFrame:
    """n held-out test rows; shifted by one training standard deviation on SHIFTED, within the contract."""
    processed = executed_notebooks.parent / "processed"
    test = pd.read_csv(processed / "test.csv", index_col="row").head(n)
    if shift:
        std = pd.read_csv(processed / "train.csv", index_col="row")[SHIFTED].std()
        for name in SHIFTED:
            feature = CONTRACT.feature(name)
            test[name] = (test[name] + std[name]).clip(feature.min, feature.max)
    return test


def predict_and_label(api, rows: pd.DataFrame, labelled: bool = True) -> list[str]:
    """Score the rows through the API, ten a request, then confirm each real diagnosis; the ids."""
    ids = []
    for start in range(0, len(rows), 10):
        part = rows.iloc[start : start + 10]
        records = part[CONTRACT.feature_names].to_dict(orient="records")
        r = api.client.post("/v1/predict", json={"records": records}, headers=api.headers("clinic"))
        assert r.status_code == 200, r.text
        for prediction, label in zip(r.json()["predictions"], part["diagnosis"], strict=True):
            ids.append(prediction["prediction_id"])
            if labelled:
                f = api.client.post("/v1/feedback", json={"prediction_id": prediction["prediction_id"],
                                                          "label": label}, headers=api.headers("clinic"))  # fmt: skip
                assert f.status_code == 201, f.text
    return ids


def retrain_params(tmp_path: Path, registry_root: Path, **overrides) -> Path:
    folder = tmp_path / "retrain"
    folder.mkdir(exist_ok=True)
    return small_params(folder, registry=str(registry_root), feedback_dir=str(folder / "feedback"), **overrides)


def test_retraining_on_the_apis_feedback_runs_the_pipeline_and_prints_the_gates_decision(
    make_api, registry_root, executed_notebooks, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(ROOT)  # the notebooks are found, and run, from the repository root
    api = make_api()
    rows = pd.concat([held_out(executed_notebooks, 30, shift=False), held_out(executed_notebooks, 30, shift=True)])
    predict_and_label(api, rows)
    store = api.settings.paths.store
    params = retrain_params(tmp_path, registry_root)
    # in process, as `make retrain` runs it (the notebooks run in their kernel, as always)
    status = run_cli("--params", str(params), "retrain", "--store", str(store))
    captured = capsys.readouterr()
    assert status == 0, captured.out[-3000:] + captured.err[-3000:]
    out = captured.out
    # the 30 rows as they are were already in the snapshot (same features): left out, said so
    assert "feedback: 60 labelled case(s)" in out
    assert "combined: 599 rows, 30 from feedback" in out
    assert "30 feedback row(s) left out: their features were already in the data" in out
    # the gate's decision and each of its reasons, against the production model the notebooks promoted
    assert "candidate v0002" in out
    assert ("candidate v0002 passed the evaluation gate" in out) or (
        "v0002 NOT promoted: production stays v0001" in out
    )
    assert "recall vs production v0001:" in out and "roc_auc vs production v0001:" in out
    registry = Registry(registry_root)
    meta = registry.metadata("v0002")
    assert meta["gate"]["reasons"] and all(f"  - {r}" in out for r in meta["gate"]["reasons"])
    assert registry.production() == ("v0002" if meta["gate"]["promote"] else "v0001")

    # the feedback snapshot and its manifest, traceable from the candidate's metadata
    feedback_dir = tmp_path / "retrain" / "feedback"
    [fb_manifest_path] = feedback_dir.glob("feedback-*.manifest.json")
    fb = json.loads(fb_manifest_path.read_text())
    fb_csv = feedback_dir / fb["file"]
    assert fb["source"] == "feedback" and fb["rows"] == 60 and fb["store"] == str(store)
    assert fb["sha256"] == sha256_file(fb_csv) and fb["period"] == {"since": None, "until": None}
    assert fb["labels"] == rows["diagnosis"].value_counts().to_dict()
    assert list(pd.read_csv(fb_csv).columns) == CONTRACT.columns
    [combined_path] = feedback_dir.glob("combined-*.manifest.json")
    combined = json.loads(combined_path.read_text())
    assert meta["data_sha256"] == combined["sha256"] == sha256_file(feedback_dir / combined["file"])
    assert meta["feedback_manifest"]["sha256"] == fb["sha256"] and meta["data_manifest"] == combined
    parts = {p["source"]: p for p in combined["parts"]}
    assert parts["feedback"]["sha256"] == fb["sha256"] and parts["feedback"]["kept_rows"] == 30
    assert [p["sha256"] for p in combined["parts"] if p["source"] != "feedback"] == [
        json.loads((ROOT / "data/raw/wdbc.manifest.json").read_text())["sha256"]
    ]
    # the executed notebooks of the run, beside the params file it derived
    reports = list((tmp_path / "retrain" / "reports").glob("retrain-*/03_evaluate.ipynb"))
    assert len(reports) == 1 and Path(meta["params_file"]).is_file()


def run_cli(*argv: str) -> int:
    return main(list(argv))


def test_a_missing_store_is_refused_with_a_message(registry_root, tmp_path, capsys):
    params = retrain_params(tmp_path, registry_root)
    assert run_cli("--params", str(params), "retrain", "--store", str(tmp_path / "nowhere.sqlite3")) == 1
    assert f"prediction store not found: {tmp_path / 'nowhere.sqlite3'}" in capsys.readouterr().err


def test_a_store_without_labels_or_with_too_few_is_refused(
    make_api, registry_root, executed_notebooks, tmp_path, capsys
):
    api = make_api()
    rows = held_out(executed_notebooks, 20, shift=True)
    predict_and_label(api, rows.iloc[:15], labelled=False)
    store = str(api.settings.paths.store)
    params = retrain_params(tmp_path, registry_root)
    assert run_cli("--params", str(params), "retrain", "--store", store) == 1
    assert "no labelled prediction in" in capsys.readouterr().err
    predict_and_label(api, rows.iloc[15:])
    assert run_cli("--params", str(params), "retrain", "--store", store) == 1
    err = capsys.readouterr().err
    assert "only 5 labelled prediction(s)" in err and "fewer than retrain_min_rows=20" in err
    assert run_cli("--params", str(params), "retrain", "--store", store, "--since", "someday") == 1
    assert "--since 'someday' is not an ISO date" in capsys.readouterr().err
    assert not list(tmp_path.glob("retrain/feedback/*.csv"))  # nothing exported
    assert Registry(registry_root).versions() == ["v0001"]  # nothing trained
