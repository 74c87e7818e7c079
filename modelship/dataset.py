"""Reading the raw snapshot, checking it against its manifest, and splitting it."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from .checks import data_rows, row_at_line
from .contract import Contract
from .registry import sha256_file

_OTHER_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}
_MAX_RAGGED_SHOWN = 5


class SnapshotError(RuntimeError):
    """The snapshot is missing or differs from its manifest."""


def manifest_path_for(snapshot: Path) -> Path:
    return snapshot.with_suffix(".manifest.json")


def write_manifest(snapshot: Path, source: str, contract: Contract) -> Path:
    frame = pd.read_csv(snapshot)
    manifest = {
        "file": snapshot.name,
        "sha256": sha256_file(snapshot),
        "rows": int(len(frame)),
        "columns": list(frame.columns),
        "contract": f"{contract.name} v{contract.version}",
        "source": source,
        "exported_at": datetime.now(timezone.utc).date().isoformat(),
    }
    path = manifest_path_for(snapshot)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _dtypes(contract: Contract) -> dict[str, str]:
    # Categories and the target are read as text; numbers are left to pandas so
    # that a stray string in a numeric column shows up in the dtype check.
    types = {f.name: "string" for f in contract.features if f.type == "category"}
    types[contract.target.name] = "string"
    return types


def _read_manifest(manifest: Path) -> dict:
    if not manifest.exists():
        raise SnapshotError(f"manifest not found: {manifest} (the snapshot must ship with one)")
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        return {"sha256": str(doc["sha256"]), "rows": int(doc["rows"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"manifest {manifest} is not a manifest (JSON with `sha256` and `rows`): "
                            f"{exc}; restore it from git or re-export the snapshot") from None


def _check_layout(snapshot: Path) -> None:
    """Refuse, naming the file and the fix, what pandas would either crash on or misread."""
    if snapshot.stat().st_size == 0:
        raise SnapshotError(f"snapshot {snapshot} is empty (0 bytes): restore it from git or re-export it")
    try:
        _check_fields(snapshot)
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"snapshot {snapshot} is not UTF-8 text ({exc.reason} at byte {exc.start}): "
                            "export it again as UTF-8") from None


def _check_fields(snapshot: Path) -> None:
    with snapshot.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if len(header) == 1:
            for sep, name in _OTHER_SEPARATORS.items():
                if sep in header[0]:
                    raise SnapshotError(f"snapshot {snapshot} is {name}-separated: this pipeline reads "
                                        "comma-separated files; export it again with ',' between fields "
                                        "and '.' as the decimal mark")
        ragged = [(reader.line_num, len(fields)) for fields in reader if fields and len(fields) != len(header)]
    if ragged:
        shown = "; ".join(f"{data_rows([row_at_line(line)])} has {n} fields"
                          for line, n in ragged[:_MAX_RAGGED_SHOWN])
        more = f" and {len(ragged) - _MAX_RAGGED_SHOWN} more rows" if len(ragged) > _MAX_RAGGED_SHOWN else ""
        raise SnapshotError(f"snapshot {snapshot}: the header has {len(header)} fields but {shown}{more}; "
                            "a field holds an unquoted comma or a value is missing its separator: fix "
                            "these lines or re-export the file")


def load_snapshot(snapshot: str | Path, manifest: str | Path | None, contract: Contract) -> pd.DataFrame:
    """Read the snapshot after checking its sha256 and row count against the manifest."""
    snapshot = Path(snapshot)
    if not snapshot.exists():
        raise SnapshotError(f"snapshot not found: {snapshot}")
    expected = _read_manifest(Path(manifest)) if manifest is not None else None
    if expected is not None:
        actual = sha256_file(snapshot)
        if actual != expected["sha256"]:
            raise SnapshotError(f"snapshot {snapshot} does not match its manifest: sha256 "
                                f"{actual[:12]}… != {expected['sha256'][:12]}…; restore the file "
                                "from git or re-export it and update the manifest")
    _check_layout(snapshot)
    try:
        frame = pd.read_csv(snapshot, dtype=_dtypes(contract))
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise SnapshotError(f"snapshot {snapshot} cannot be read as CSV: {exc}; fix or re-export it") from None
    if frame.empty:
        raise SnapshotError(f"snapshot {snapshot} holds a header and 0 data rows: re-export it with its rows")
    if expected is not None and len(frame) != expected["rows"]:
        raise SnapshotError(f"snapshot has {len(frame)} rows, manifest says {expected['rows']}")
    return frame


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame


def split(frame: pd.DataFrame, contract: Contract, test_size: float, seed: int) -> Split:
    """Seeded split, stratified on the target; keeps the original row index."""
    unlabelled = frame.index[frame[contract.target.name].isna()]
    if len(unlabelled):  # the data checks report it; this guards a caller that skipped them
        raise SnapshotError(f"cannot split: {len(unlabelled)} missing label(s) in {data_rows(unlabelled)}; "
                            "run the data checks and fix the rows they name")
    train, test = train_test_split(frame, test_size=test_size, random_state=seed,
                                   stratify=frame[contract.target.name])
    return Split(train=train.sort_index(), test=test.sort_index())


def write_split(parts: Split, out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"train": out_dir / "train.csv", "test": out_dir / "test.csv"}
    parts.train.to_csv(paths["train"], index_label="row")
    parts.test.to_csv(paths["test"], index_label="row")
    return paths


def read_split_part(path: str | Path, contract: Contract) -> pd.DataFrame:
    return pd.read_csv(path, index_col="row", dtype=_dtypes(contract))
