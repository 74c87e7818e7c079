"""Export the held-out test split into the lab app's own holding file, app/data/holding_cases.json.

Run once, from the repository root; the app then reads only that file (app/ never imports
modelship or reads contracts/). The cases are exactly the test split of notebooks/01_data_checks
(same snapshot, seed and test_size from params.yaml), so the model never trained on them. The
measurement wording (label, unit, description) and the diagnosis classes are copied from the
data contract. The reference diagnosis is left out: in the app, lab staff record it.
Re-running it reproduces the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelship.contract import load_contract
from modelship.dataset import load_snapshot, split
from modelship.params import load_params
from modelship.registry import sha256_file

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "app" / "data" / "holding_cases.json"


def accession(row: int) -> str:
    """The lab's case number; it keeps the snapshot's row so a case can be traced to its source."""
    return f"FNA-{row:04d}"


def holding_cases(params_file: Path) -> dict[str, Any]:
    params = load_params(params_file)
    contract = load_contract(ROOT / params.contract)
    snapshot = ROOT / params.snapshot
    frame = load_snapshot(snapshot, ROOT / params.manifest if params.manifest else None, contract)
    test = split(frame, contract, params.test_size, params.seed).test
    return {
        "about": "Holding cases of the pathology lab: fine-needle aspirates awaiting a final diagnosis.",
        "source": {
            "exported_by": "scripts/export_app_cases.py",
            "snapshot": params.snapshot,
            "snapshot_sha256": sha256_file(snapshot),
            "contract": f"{contract.name} v{contract.version}",
            "split": "test (held out: never used for training)",
            "seed": params.seed,
            "test_size": params.test_size,
            "stratified_on": contract.target.name,
            "rows": len(test),
        },
        "dataset": {"title": contract.title, "description": contract.description},
        "diagnosis": {"description": contract.target.description, "classes": list(contract.target.classes)},
        "measurements": [
            {
                "name": f.name,
                "label": f.name.replace("_", " ").capitalize(),
                "unit": f.unit,
                "description": f.description,
            }
            for f in contract.features
        ],
        "cases": [
            {
                "accession": accession(int(row)),
                "source_row": int(row),
                "values": {name: float(record[name]) for name in contract.feature_names},
            }
            for row, record in test.iterrows()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    doc = holding_cases(args.params)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"wrote {shown} ({len(doc['cases'])} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
