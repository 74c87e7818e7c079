"""Where the time of one POST /v1/predict goes, measured in this process (no network, no Ray).

    python -m bench.breakdown [--rows 1,100] [--profile]

Times each step the route takes, on its own, then the whole request through the ASGI app
(`create_api` with the model in process), and optionally a cProfile of that whole request.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import workspace
from bench.workspace import ROOT, Workspace


def per_call_us(fn: Callable[[], Any], seconds: float = 0.5) -> float:
    """Median microseconds per call of fn, after a warm-up."""
    for _ in range(20):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e3


def build_app(ws: Workspace) -> Any:
    from bench.baseline import CONFIG_ENV, create_app
    import os

    config = workspace.write_serve_config(ws, ws.root / "breakdown.yaml", port=1, data_dir="breakdown-data")
    os.environ[CONFIG_ENV] = str(config)
    return create_app()


async def call(app: Any, body: bytes, token: str) -> tuple[int, bytes]:
    """One request through the ASGI app, as a server would hand it over."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode()),
                         (b"authorization", b"Bearer " + token.encode())]}
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Nothing reads past the body on this route; a server would block here until the client left.
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def steps(ws: Workspace, app: Any, rows: int, token: str) -> dict[str, float]:
    from serve.schemas import PredictResponse, contract_models
    from serve.store import new_prediction_ids

    service = app.state.service
    request_model = contract_models(ws.contract, service.settings.service.max_batch_rows).predict_request
    raw = ws.body_path(rows).read_bytes()
    parsed = json.loads(raw)
    validated: Any = request_model.model_validate(parsed)
    names = ws.contract.feature_names
    values = [[r.__dict__[f] for f in names] for r in validated.records]
    X = np.array(values, dtype=np.float64)
    model = service.backend.holder.current.model
    probs = model.predict_proba(X)[:, 1].tolist()
    header = "Bearer " + token

    def per_row_work(features: Callable[[], list[Any]]) -> Callable[[], list[dict[str, Any]]]:
        def work() -> list[dict[str, Any]]:
            out = []
            for pid, p, _ in zip(new_prediction_ids(len(values)), probs, features()):
                out.append({"prediction_id": pid, "label": "M" if p >= 0.5 else "B", "probability": p,
                            "threshold": 0.5, "model_version": "v0001"})
            return out
        return work

    as_bytes = per_row_work(lambda: [r.tobytes() for r in X])  # what the API stores
    as_json = per_row_work(lambda: [json.dumps(v) for v in values])  # what it stored before

    answer = {"model_version": "v0001", "positive_label": "M", "predictions": as_bytes(), "notice": "x"}

    import pandas as pd
    one = {n: parsed["records"][0][n] for n in names}
    return {
        "JSON parse of the body (json.loads)": per_call_us(lambda: json.loads(raw)),
        "pydantic validation of the parsed body (strict, bounded)": per_call_us(
            lambda: request_model.model_validate(parsed)),
        "pydantic parse and validation from the JSON bytes (what the API does)": per_call_us(
            lambda: request_model.model_validate_json(raw)),
        "auth: Bearer header to principal (cached)": per_call_us(
            lambda: service.auth.principal_from_header(header)),
        "rate limit and row quota buckets": per_call_us(
            lambda: (service.requests.take("bench", 1, 10**9, 60), service.rows.take("bench", rows, 10**9, 60))),
        "records to numpy array": per_call_us(
            lambda: np.array([list(r.__dict__.values()) for r in validated.records], dtype=np.float64)),
        "predict_proba (sklearn defaults)": per_call_us(lambda: model.predict_proba(X)),
        "per-row ids, labels, stored features as float64 bytes (what the API does)": per_call_us(as_bytes),
        "the same with features as JSON text": per_call_us(as_json),
        "response model validation (PredictResponse)": per_call_us(lambda: PredictResponse.model_validate(answer)),
        "response JSON encoding": per_call_us(lambda: json.dumps(answer).encode()),
        "(for comparison) one-row pandas DataFrame": per_call_us(lambda: pd.DataFrame([one])),
    }


def whole_request_us(app: Any, body: bytes, token: str, seconds: float = 1.0) -> float:
    loop = asyncio.new_event_loop()
    status, text = loop.run_until_complete(call(app, body, token))
    if status != 200:
        raise RuntimeError(f"the in-process request failed with {status}: {text[:300]!r}")
    us = per_call_us(lambda: loop.run_until_complete(call(app, body, token)), seconds)
    loop.close()
    return us


def profile(app: Any, body: bytes, token: str, n: int = 2000, top: int = 25) -> str:
    loop = asyncio.new_event_loop()

    async def many() -> None:
        for _ in range(n):
            await call(app, body, token)

    prof = cProfile.Profile()
    prof.enable()
    loop.run_until_complete(many())
    prof.disable()
    loop.close()
    import io
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="1,100")
    p.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of whole requests")
    args = p.parse_args(argv)
    ws = workspace.build(args.workdir)
    token = workspace.issue_token(ws)
    app = build_app(ws)
    for rows in [int(x) for x in args.rows.split(",")]:
        body = ws.body_path(rows).read_bytes()
        print(f"\n## {rows} row(s) per request\n\n| step | µs per request |\n|---|---:|")
        for name, us in steps(ws, app, rows, token).items():
            print(f"| {name} | {us:,.1f} |")
        print(f"| **whole request through the ASGI app (no socket)** | **{whole_request_us(app, body, token):,.1f}** |")
        if args.profile:
            print("\n```\n" + profile(app, body, token, n=3000 if rows == 1 else 300) + "```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
