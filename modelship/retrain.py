"""`python -m modelship retrain`: from the service's labelled feedback to the gate's decision.

The steps are the pipeline's own: export the feedback (modelship/feedback.py), combine it with
the params file's snapshot as `retrain_combine` says, write a derived params file naming the
combined snapshot and its manifest (and folders of this run for the split and the reports),
then run 01_data_checks, 02_train and 03_evaluate on it. The registry is the params file's, so
03 compares the candidate with the production model on the new test split and the gate decides
as for any candidate. The feedback manifest is recorded in the candidate's metadata.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .contract import load_contract
from .dataset import load_snapshot
from .feedback import Combined, Export, Period, combine, export_feedback
from .fileio import write_atomic
from .params import Params, load_params

NOTEBOOKS = ("01_data_checks", "02_train", "03_evaluate")


@dataclass(frozen=True)
class Prepared:
    stamp: str
    export: Export
    combined: Combined
    params_file: Path


def stamp_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def prepare(params_file: str | Path, store: str | Path, period: Period, stamp: str | None = None) -> Prepared:
    """Export, combine and write the derived params file; nothing is trained yet."""
    params_file = Path(params_file)
    P = load_params(params_file)
    contract = load_contract(P.contract)
    stamp = stamp or stamp_now()
    out = Path(P.feedback_dir)
    export = export_feedback(store, contract, out, stamp, P.retrain_min_rows, period)
    original = load_snapshot(P.snapshot, P.manifest, contract)  # checked against its manifest first
    original_manifest = json.loads(Path(P.manifest).read_text(encoding="utf-8")) if P.manifest else None
    combined = combine(original, original_manifest, Path(P.snapshot), export, contract, P.retrain_combine, out, stamp)
    derived = derived_params(P, combined, stamp)
    values = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    values.update(derived)
    load_params(params_file, overrides=derived)  # the derived file is valid before it is written
    derived_file = out / f"params-{stamp}.yaml"
    header = (
        f"# derived from {params_file} by `python -m modelship retrain` ({stamp}): "
        f"the snapshot is {combined.snapshot.name} ({P.retrain_combine} of {P.snapshot} and the feedback)\n"
    )
    write_atomic(derived_file, header + yaml.safe_dump(values, sort_keys=False))
    return Prepared(stamp, export, combined, derived_file)


def derived_params(P: Params, combined: Combined, stamp: str) -> dict[str, Any]:
    """The keys a retraining run changes: its data, and folders of its own for the split and the
    reports (the registry stays the same: the gate compares with its production model)."""
    return {
        "snapshot": str(combined.snapshot),
        "manifest": str(combined.manifest),
        "processed_dir": str(Path(P.processed_dir) / f"retrain-{stamp}"),
        "reports_dir": str(Path(P.reports_dir) / f"retrain-{stamp}"),
    }


def run(prepared: Prepared, run_notebook: Callable[[Path, Path], int]) -> tuple[int, str | None]:
    """Run the three notebooks in order with the derived params; returns (status, candidate version).

    `run_notebook(notebook, params_file)` executes one and returns its exit status."""
    from .registry import Registry

    for name in NOTEBOOKS:
        status = run_notebook(Path("notebooks") / f"{name}.ipynb", prepared.params_file)
        if status != 0:
            return status, None
    P = load_params(prepared.params_file)
    registry = Registry(P.registry)
    version = registry.latest()
    manifests = {
        "snapshot": json.loads(prepared.combined.manifest.read_text(encoding="utf-8")),
        "feedback": json.loads(prepared.export.manifest.read_text(encoding="utf-8")),
    }
    registry.update_metadata(
        version,
        data_manifest=manifests["snapshot"],
        feedback_manifest=manifests["feedback"],
        params_file=str(prepared.params_file),
    )
    return 0, version


def describe(prepared: Prepared) -> str:
    c, e = prepared.combined, prepared.export
    labels = ", ".join(f"{v} {k}" for k, v in sorted(e.labels.items()))
    lines = [
        f"feedback: {e.rows} labelled case(s) ({labels}) -> {e.snapshot} (manifest {e.manifest.name})",
        f"combined: {c.rows} rows, {c.feedback_rows} from feedback -> {c.snapshot} (manifest {c.manifest.name})",
    ]
    if c.dropped_duplicates:
        lines.append(
            f"  {c.dropped_duplicates} feedback row(s) left out: their features were already in the data"
            + (f" ({c.conflicting} with another label: check them)" if c.conflicting else "")
        )
    lines.append(f"params: {prepared.params_file}")
    return "\n".join(lines)
