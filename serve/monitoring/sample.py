"""A small, real sample of monitoring data, for the stakeholder report when no service ran.

`python -m serve.monitoring.sample --params params.yaml --out var/monitoring-sample` replays
the held-out test split (the params file's processed_dir) through the production model and the
real collector (serve/monitoring/collector.py, in a thread: ThreadSink, no Ray), in real time
with short windows: a first phase of held-out rows as they are, then a phase with a few
features shifted (by `--shift-std` of their training standard deviation, clipped to the
contract's bounds so that the API would have accepted them) and requests refused on one field
(422), as a broken upstream system would send. Every scored row is written to a real prediction
store (serve/store.py), and a share of them get feedback: the held-out row's real diagnosis.

What it does not have: HTTP, authentication, several replicas, real clients' latency (the
latency recorded is the model's scoring time in this process). The folder's SAMPLE.json says
so, and the report shows it.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelship.fileio import write_atomic
from serve.settings import Settings

MARKER = "SAMPLE.json"
CLIENT = "sample-replay"
ROUTE = "/v1/predict"
ROWS_PER_REQUEST = 10


class SampleError(RuntimeError):
    """The sample cannot be made: no production model, no held-out split, a folder not ours."""


@dataclass(frozen=True)
class Plan:
    windows: int = 8
    window_s: float = 2.0
    rows: int = 60  # per window
    drift_from: int = 5  # the first drifted window (0-based); windows before it are normal
    shift_std: float = 1.0
    shifted: int = 3  # how many features are shifted (the contract's first numeric ones)
    labelled_share: float = 0.5
    rejected_per_window: int = 6  # 422s on the broken field in each drifted window
    seed: int = 0


def settings_for(params_file: Path, out: Path, plan: Plan) -> Settings:
    return Settings.from_args(
        {
            "paths": {"params": str(params_file.resolve()), "data_dir": str((out / "serve").resolve())},
            "monitoring": {
                "window_s": plan.window_s,
                "handoff_s": 0.25,
                "profiles_dir": str((out / "monitoring").resolve()),
                "min_window_rows": min(50, plan.rows),
                "min_labels": 20,
            },
        }
    )


def _prepare_folder(out: Path) -> None:
    """Start from an empty folder; only a folder this command made may be emptied."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise SampleError(f"{out} exists and is not a sample folder (no {MARKER}): name another with --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


def make_sample(params_file: str | Path, out: str | Path, plan: Plan = Plan()) -> dict[str, Any]:
    """Write the sample (monitoring/ and serve/api.sqlite3 under `out`) and its SAMPLE.json; returns that."""
    # imported here: `--unless-data` answers without loading whylogs and scikit-learn
    import numpy as np

    from modelship.contract import load_contract
    from modelship.dataset import read_split_part
    from modelship.monitoring.quality import Rejection
    from modelship.params import load_params
    from modelship.registry import Registry
    from serve.monitoring.buffer import Batch
    from serve.monitoring.sinks import ThreadSink
    from serve.store import PredictionRow, Store, new_prediction_ids, utcnow

    params_file, out = Path(params_file), Path(out)
    P = load_params(params_file)
    contract = load_contract(P.contract)
    registry = Registry(P.registry)
    version = registry.production()
    if version is None:
        raise SampleError(f"no production model in {P.registry}: run `make pipeline` first")
    test_csv, train_csv = Path(P.processed_dir) / "test.csv", Path(P.processed_dir) / "train.csv"
    if not test_csv.is_file():
        raise SampleError(f"no held-out split at {test_csv}: run `make data-checks` first")
    held_out = read_split_part(test_csv, contract)
    train = read_split_part(train_csv, contract)
    loaded = registry.load(version)
    features = contract.feature_names
    numeric = [f for f in contract.features if f.is_numeric]
    if len(numeric) != len(features):
        raise SampleError("the sample replays numeric features only; this contract has categories")
    shifted = [f.name for f in numeric[: plan.shifted]]
    broken = numeric[-1].name
    std = train[features].std()
    bounds = {f.name: (f.min, f.max) for f in numeric}

    _prepare_folder(out)
    settings = settings_for(params_file, out, plan)
    rng = np.random.default_rng(plan.seed)
    store = Store(settings.paths.store)
    sink = ThreadSink(settings, contract)
    labels = {"labelled": 0, "scored": 0, "rejected": 0}
    first_start = math.ceil(time.time() / plan.window_s) * plan.window_s
    try:
        for w in range(plan.windows):
            start = first_start + w * plan.window_s
            _sleep_until(start + 0.05 * plan.window_s)
            drifted = w >= plan.drift_from
            picked = held_out.iloc[rng.choice(len(held_out), plan.rows, replace=True)]
            frame = picked[features].copy()
            if drifted:
                for name in shifted:
                    low, high = bounds[name]
                    frame[name] = (frame[name] + plan.shift_std * std[name]).clip(low, high)
            X = frame.to_numpy(dtype=np.float64)
            began = time.perf_counter()
            proba = loaded.model.predict_proba(X)[:, 1]
            scoring_s = time.perf_counter() - began
            now = time.time()
            ids = new_prediction_ids(len(X))
            created = utcnow()
            predicted = np.where(proba >= loaded.threshold, contract.target.positive, contract.target.negative)
            store.add_predictions(
                [
                    PredictionRow(i, CLIENT, created, version, str(lab), float(p), loaded.threshold, x.tobytes())
                    for i, lab, p, x in zip(ids, predicted, proba, X, strict=True)
                ]
            )
            truth = picked[contract.target.name].to_numpy()
            for k in np.flatnonzero(rng.random(len(X)) < plan.labelled_share):
                store.add_feedback(ids[k], CLIENT, str(truth[k]))
                labels["labelled"] += 1
            n_requests = math.ceil(len(X) / ROWS_PER_REQUEST)
            requests = [(now, ROUTE, 200, scoring_s / n_requests) for _ in range(n_requests)]
            rejections = []
            if drifted:
                for _ in range(plan.rejected_per_window):
                    requests.append((now, ROUTE, 422, 0.0))
                    rejections.append(Rejection(now, ROUTE, 422, "validation-error", (f"records.{broken}",)))
                labels["rejected"] += plan.rejected_per_window
            sink.submit(
                Batch(
                    replica="sample",
                    sent_at=now,
                    features=X,
                    probabilities=proba.astype(np.float64),
                    thresholds=np.full(len(X), loaded.threshold),
                    versions=[version] * len(X),
                    times=np.full(len(X), now),
                    requests=requests,
                    rejections=rejections,
                )
            )
            labels["scored"] += len(X)
            _sleep_until(start + plan.window_s)
    finally:
        sink.close()  # drains the queue, closes the open windows
        store.close()
    meta = {
        "generated_by": "python -m serve.monitoring.sample",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": version,
        "params": str(params_file.resolve()),
        "held_out": str(test_csv),
        "windows": plan.windows,
        "window_s": plan.window_s,
        "rows_per_window": plan.rows,
        "normal_windows": min(plan.drift_from, plan.windows),
        "drifted_windows": max(plan.windows - plan.drift_from, 0),
        "shifted_features": shifted,
        "shift_std": plan.shift_std,
        "broken_field": broken,
        "labelled_share": plan.labelled_share,
        **labels,
        "not_included": [
            "HTTP and authentication (rows go straight to the collector)",
            "several replicas",
            "real latency (the latency recorded is the model's scoring time in this process)",
        ],
    }
    write_atomic(out / MARKER, json.dumps(meta, indent=2) + "\n")
    return meta


def _existing_data(serve_config: Path, out: Path, params_file: Path) -> str | None:
    """What makes a sample unneeded: the service's own windows, or a sample made already from this
    params file and its current production model."""
    from modelship.params import load_params
    from modelship.registry import Registry

    folder = Settings.from_config(serve_config).monitoring_dir
    if next(folder.glob("*.summary.json"), None) is not None:
        return f"{folder} holds the service's monitoring windows: no sample needed"
    if not (out / MARKER).is_file() or next((out / "monitoring").glob("*.summary.json"), None) is None:
        return None
    made = json.loads((out / MARKER).read_text(encoding="utf-8"))
    production = Registry(load_params(params_file).registry).production()
    if made.get("params") == str(params_file.resolve()) and made.get("model_version") == production:
        return f"{out} holds a sample of {production} already (`make monitoring-sample` makes a new one)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve.monitoring.sample", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml", help="params file: registry, contract, held-out split")
    parser.add_argument("--out", default="var/monitoring-sample", help="folder of the sample (emptied first)")
    parser.add_argument("--windows", type=int, default=Plan.windows)
    parser.add_argument("--window-s", type=float, default=Plan.window_s)
    parser.add_argument("--rows", type=int, default=Plan.rows, help="rows per window")
    parser.add_argument("--drift-from", type=int, default=Plan.drift_from, help="first drifted window (0-based)")
    parser.add_argument(
        "--unless-data",
        metavar="SERVE_CONFIG",
        help="do nothing when the service of this Serve config wrote windows, or when --out holds a sample",
    )
    args = parser.parse_args(argv)
    if args.unless_data:
        found = _existing_data(Path(args.unless_data), Path(args.out), Path(args.params))
        if found:
            print(found)
            return 0
    plan = Plan(windows=args.windows, window_s=args.window_s, rows=args.rows, drift_from=args.drift_from)
    if plan.windows < 1 or plan.window_s <= 0 or plan.rows < 1:
        print("error: --windows, --window-s and --rows must be positive", file=sys.stderr)
        return 2
    try:
        meta = make_sample(args.params, args.out, plan)
    except SampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.out}: {meta['windows']} windows of {meta['window_s']:g} s ({meta['normal_windows']} normal, "
        f"{meta['drifted_windows']} drifted), {meta['scored']} rows scored by {meta['model_version']}, "
        f"{meta['labelled']} labelled, {meta['rejected']} refused"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
