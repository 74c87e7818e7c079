"""Export scikit-learn's copy of the WDBC data into the versioned raw snapshot.

Run once; the pipeline then reads data/raw/wdbc.csv and never this script.
Re-running it reproduces the same bytes (and so the same sha256).
"""

from __future__ import annotations

import sys
from pathlib import Path

import sklearn
from sklearn.datasets import load_breast_cancer

from modelship.contract import load_contract
from modelship.dataset import write_manifest

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    contract = load_contract(ROOT / "contracts/wdbc.yaml")
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    # scikit-learn encodes 0 = malignant, 1 = benign
    frame[contract.target.name] = frame.pop("target").map({0: "malignant", 1: "benign"})
    frame = frame[contract.columns]
    out = ROOT / "data/raw/wdbc.csv"
    frame.to_csv(out, index=False, float_format="%.10g", lineterminator="\n")
    write_manifest(
        out,
        source=f"sklearn.datasets.load_breast_cancer (scikit-learn {sklearn.__version__}); "
        "originally UCI ML repository, Wolberg, Street and Mangasarian (1995)",
        contract=contract,
    )
    print(f"wrote {out} ({len(frame)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
