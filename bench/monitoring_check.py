"""The request path with monitoring on and off, in this process (no network, no Ray).

    python -m bench.monitoring_check [--seconds 1.0] [--rounds 6]

Two apps built the service's way (`build_service`, `create_api`, the model in process), one
with `monitoring.enabled` off; POST /v1/predict through each in turn, interleaved so that the
machine's load falls on both alike. Reported: the median CPU time of the event loop's thread
per request (the collector's own thread excluded: under Ray it is another process), and the
cost of the two buffer appends a request makes on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import numpy as np

from bench import workspace
from bench.breakdown import call, per_call_us
from bench.workspace import ROOT
from modelship.contract import load_contract
from serve.api import create_api
from serve.model import LocalBackend, ModelHolder
from serve.service import Service, build_service
from serve.settings import Settings


def app_for(ws: workspace.Workspace, enabled: bool) -> tuple[Any, Service]:
    name = "on" if enabled else "off"
    config = workspace.write_serve_config(
        ws,
        ws.root / f"monitoring-{name}.yaml",
        port=1,
        data_dir=f"monitoring-{name}",
        args={"monitoring": {"enabled": enabled}},
    )
    settings = Settings.from_config(config)
    contract = load_contract(settings.paths.contract)
    backend = LocalBackend(ModelHolder(settings.paths.registry, feature_order=contract.feature_names))
    service = build_service(settings, backend, contract)
    return create_api(settings, contract, service), service


async def loop_cpu_us(app: Any, service: Service, body: bytes, token: str, seconds: float) -> float:
    """Median thread CPU µs per request, with the hand-off loop running as in the lifespan."""
    handoff = asyncio.ensure_future(service.monitor.handoff()) if service.monitor else None
    for _ in range(50):
        await call(app, body, token)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.thread_time_ns()
        status, _ = await call(app, body, token)
        times.append(time.thread_time_ns() - t0)
        if status != 200:
            raise RuntimeError(f"the in-process request failed with {status}")
    if handoff is not None:
        handoff.cancel()
    return statistics.median(times) / 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    ws = workspace.build(ROOT / "var" / "bench")
    token = workspace.issue_token(ws)
    apps = {enabled: app_for(ws, enabled) for enabled in (False, True)}
    monitor = apps[True][1].monitor
    assert monitor is not None
    one = np.zeros((1, len(ws.contract.feature_names)))

    def appends() -> None:
        monitor.scored(one, [0.5], "v0001", 0.5)
        monitor.request("/v1/predict", 200, 0.001)
        if monitor.buffer.rows > 10_000:
            monitor.buffer.take()

    print(f"buffer appends per request: {per_call_us(appends):.2f} µs")
    for rows in (1, 100):
        body = ws.body_path(rows).read_bytes()
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for enabled, (app, service) in apps.items():
                cpu[enabled].append(asyncio.run(loop_cpu_us(app, service, body, token, args.seconds)))
        off, on = statistics.median(cpu[False]), statistics.median(cpu[True])
        print(f"{rows:>3} rows: loop CPU per request off {off:.0f} µs, on {on:.0f} µs ({on / off - 1:+.1%})")
    for _, service in apps.values():
        service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
