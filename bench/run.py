"""`make bench`: the service against bare uvicorn and the in-process floor, side by side.

    python -m bench.run [--seconds 5] [--reps 1] [--variant default] [--out reports/bench.md]

(a) the Ray Serve app as `make serve` starts it (the project's launcher, so direct ingress and
the no-egress environment are the real ones), (b) the same FastAPI app (`create_api`) under
bare uvicorn with 2 workers, the model in process and monitoring off, (c) `predict_proba` alone. (a) and (b)
run at the same time and are measured in turn, cell by cell, so machine noise hits both.
With `--monitoring both` (the default) the same service with `monitoring.enabled: false` runs
beside them too and is measured in the cells that compare them (1 row, c=1 and c=32); then the
collector's CPU share and lag under load are read (bench/monitoring_load.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import monitoring_load, profile, servers, workspace, wrk
from bench.workspace import ROOT

CONCURRENCY = (1, 8, 32, 64)
# A run whose throughput falls below this share of the best at a lower concurrency has collapsed.
COLLAPSE_SHARE = 0.5
MAX_ERROR_RATE = 0.01
# --profile samples the servers during this cell (rows, connections): many small requests.
PROFILED_CELL = (1, 32)
P99_LIMIT_MS = 50.0
# The cells where the service with monitoring off is measured beside it, and the allowed gap.
MONITORING_CELLS = ((1, 1), (1, 32))
MONITORING_GAP = 0.05
# Those cells get at least this many repetitions: one 5 s run moves by more than the 5% they judge.
MONITORING_REPS = 4


@dataclass(frozen=True)
class Cell:
    """One server, one payload, one concurrency: the mean of its repetitions."""

    rps: float
    rows_per_s: float
    p50_ms: float
    p99_ms: float
    error_rate: float


def summarise(results: list[wrk.WrkResult], rows: int) -> Cell:
    # Throughput and p50: mean of the repetitions; p99: the worst, so a bad run is not averaged away.
    rps = statistics.fmean(r.rps for r in results)
    return Cell(
        rps,
        rps * rows,
        statistics.fmean(r.p50_ms for r in results),
        max(r.p99_ms for r in results),
        sum(r.errors for r in results) / max(1, sum(r.requests for r in results)),
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


@dataclass(frozen=True)
class Floor:
    rows: int
    per_call_us: float
    p99_us: float

    @property
    def calls_per_s(self) -> float:
        return 1e6 / self.per_call_us


def measure_floor(ws: workspace.Workspace, rows: int, seconds: float = 1.0) -> Floor:
    """predict_proba on the same rows, in this process: what no server can beat."""
    from serve.model import ModelHolder

    holder = ModelHolder(ws.registry, feature_order=ws.contract.feature_names)
    X = workspace.sample_rows(ws.contract, rows)
    model = holder.current.model
    for _ in range(50):
        model.predict_proba(X)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        model.predict_proba(X)
        times.append(time.perf_counter_ns() - t0)
    times.sort()
    return Floor(rows, statistics.median(times) / 1e3, times[int(len(times) * 0.99)] / 1e3)


# -- report --------------------------------------------------------------------------------


def fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def table(
    cells: dict[tuple[str, int, int], Cell],
    names: tuple[str, str],
    rows_list: list[int],
    concurrency: list[int],
    floors: dict[int, Floor],
) -> str:
    a, b = names
    head = (
        "| rows | c | (a) req/s | (b) req/s | a/b | (a) rows/s | (b) rows/s | (a) p50 ms | (b) p50 ms "
        "| p50 a/b | (a) p99 ms | (b) p99 ms | p99 a/b | errors a / b |"
    )
    lines = [head, "|" + "---:|" * 14]
    for rows in rows_list:
        for c in concurrency:
            x, y = cells[(a, rows, c)], cells[(b, rows, c)]
            lines.append(
                f"| {rows} | {c} | {fmt(x.rps)} | {fmt(y.rps)} | {ratio(x.rps, y.rps):.2f} | {fmt(x.rows_per_s)} "
                f"| {fmt(y.rows_per_s)} | {x.p50_ms:.2f} | {y.p50_ms:.2f} | {ratio(x.p50_ms, y.p50_ms):.2f} "
                f"| {x.p99_ms:.1f} | {y.p99_ms:.1f} | {ratio(x.p99_ms, y.p99_ms):.2f} "
                f"| {x.error_rate:.1%} / {y.error_rate:.1%} |"
            )
        f = floors.get(rows)
        if f:
            lines.append(
                f"| {rows} | (c) | {fmt(f.calls_per_s)} | | | {fmt(f.calls_per_s * rows)} | | "
                f"{f.per_call_us / 1e3:.3f} | | | {f.p99_us / 1e3:.3f} | | | |"
            )
    return "\n".join(lines)


def targets(
    cells: dict[tuple[str, int, int], Cell], names: tuple[str, str], rows_list: list[int], concurrency: list[int]
) -> list[tuple[str, bool, str]]:
    a, b = names
    out: list[tuple[str, bool, str]] = []

    def have(rows: int, c: int) -> bool:
        return (a, rows, c) in cells and (b, rows, c) in cells

    if have(1, 32):
        r = ratio(cells[(a, 1, 32)].rps, cells[(b, 1, 32)].rps)
        out.append(("1-row throughput at c=32 >= 1.0x uvicorn", r >= 1.0, f"{r:.2f}x"))
    if have(100, 32):
        r = ratio(cells[(a, 100, 32)].rows_per_s, cells[(b, 100, 32)].rows_per_s)
        out.append(("100-row rows/s at c=32 >= 1.0x uvicorn", r >= 1.0, f"{r:.2f}x"))
    if have(1, 1):
        r = ratio(cells[(a, 1, 1)].p50_ms, cells[(b, 1, 1)].p50_ms)
        out.append(("1-row p50 at c=1 within 2x uvicorn's", r <= 2.0, f"{r:.2f}x"))
    for rows in rows_list:
        if (a, rows, 8) in cells:
            p99 = cells[(a, rows, 8)].p99_ms
            out.append((f"{rows}-row p99 at c=8 < {P99_LIMIT_MS:g} ms", p99 < P99_LIMIT_MS, f"{p99:.1f} ms"))
    for rows in rows_list:
        runs = [(c, cells[(a, rows, c)]) for c in concurrency if (a, rows, c) in cells]
        worst, detail = True, []
        best_so_far = 0.0
        for c, cell in runs:
            if cell.error_rate > MAX_ERROR_RATE or (best_so_far and cell.rps < COLLAPSE_SHARE * best_so_far):
                worst = False
                detail.append(f"c={c}: {cell.rps:,.0f} req/s, {cell.error_rate:.1%} errors")
            best_so_far = max(best_so_far, cell.rps)
        top = max(c for c, _ in runs) if runs else 0
        out.append(
            (
                f"{rows}-row: no collapse up to c={top} (req/s >= {COLLAPSE_SHARE:.0%} of the best at "
                f"lower c, errors <= {MAX_ERROR_RATE:.0%})",
                worst,
                "; ".join(detail) or "ok",
            )
        )
    return out


# -- monitoring on against off ------------------------------------------------------------

OFF_SUFFIX = "(monitoring off)"


def off_name(port: int) -> str:
    return f"Serve :{port} {OFF_SUFFIX}"


def monitoring_targets(
    cells: dict[tuple[str, int, int], Cell], on: str, off: str, baseline: str
) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    if (on, 1, 1) in cells and (off, 1, 1) in cells:
        r = ratio(cells[(on, 1, 1)].p50_ms, cells[(off, 1, 1)].p50_ms)
        out.append((f"1-row p50 at c=1, on/off within {MONITORING_GAP:.0%}", abs(r - 1) <= MONITORING_GAP, f"{r:.3f}"))
    if (on, 1, 32) in cells and (off, 1, 32) in cells:
        r = ratio(cells[(on, 1, 32)].rps, cells[(off, 1, 32)].rps)
        out.append(
            (f"1-row throughput at c=32, on/off within {MONITORING_GAP:.0%}", abs(r - 1) <= MONITORING_GAP, f"{r:.3f}")
        )
    if (on, 1, 32) in cells and (baseline, 1, 32) in cells:
        r = ratio(cells[(on, 1, 32)].rps, cells[(baseline, 1, 32)].rps)
        out.append(("1-row throughput at c=32 with monitoring on >= 1.0x uvicorn", r >= 1.0, f"{r:.2f}x"))
    return out


def lag(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "not reached"


def monitoring_lines(f: monitoring_load.CollectorFigures) -> str:
    return (
        f"  collector: {f.collector_cpu_s:.2f} CPU s over {f.seconds:.1f} s ({f.collector_core_share:.1%} of a core, "
        f"{f.collector_serve_share:.1%} of the service's CPU), {f.requests:,} requests, {f.dropped_rows} rows "
        f"dropped; lag: counted {lag(f.counted_lag_s)}, in a profile {lag(f.profile_lag_s)} "
        f"(window_s {f.window_s:g})"
    )


def monitoring_section(
    cells: dict[tuple[str, int, int], Cell],
    on: str,
    off: str,
    baseline: str,
    collector: monitoring_load.CollectorFigures | None,
) -> str:
    lines = [
        "## Monitoring on against off",
        "",
        f"{on} (monitoring on, as configured) against {off}, the same service with `monitoring.enabled: "
        f"false`, running beside it and measured in turn in the same cells, at least {MONITORING_REPS} "
        "repetitions each (throughput and p50: their mean; p99: the worst).",
        "",
        "| cell | on req/s | off req/s | on/off | on p50 ms | off p50 ms | on/off | on p99 ms | off p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, c in MONITORING_CELLS:
        if (on, rows, c) in cells and (off, rows, c) in cells:
            x, y = cells[(on, rows, c)], cells[(off, rows, c)]
            lines.append(
                f"| {rows} row, c={c} | {fmt(x.rps)} | {fmt(y.rps)} | {ratio(x.rps, y.rps):.3f} | {x.p50_ms:.2f} "
                f"| {y.p50_ms:.2f} | {ratio(x.p50_ms, y.p50_ms):.3f} | {x.p99_ms:.1f} | {y.p99_ms:.1f} |"
            )
    lines += ["", ": The service with monitoring on and off {#tbl-bench-monitoring}", "", "Targets:", ""]
    lines += [
        f"- {'PASS' if ok else 'FAIL'}: {what} ({detail})"
        for what, ok, detail in monitoring_targets(cells, on, off, baseline)
    ]
    if collector is not None:
        lines += [
            "",
            f"The collector under load (1 row, c={monitoring_load.CONCURRENCY}, {collector.seconds:.1f} s, "
            f"{collector.requests:,} requests): {collector.collector_cpu_s:.2f} CPU seconds, "
            f"{collector.collector_core_share:.1%} of one core and {collector.collector_serve_share:.1%} of the CPU "
            f"the whole service used; {collector.dropped_rows} rows dropped. Lag from the run's last request: "
            f"counted by the collector after {lag(collector.counted_lag_s)}, in a written window profile after "
            f"{lag(collector.profile_lag_s)} (windows of {collector.window_s:g} s close their grace period after "
            "their end).",
        ]
    return "\n".join(lines)


# -- driver --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bench.variants import VARIANTS

    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell")
    p.add_argument("--warmup", type=float, default=1.0, help="discarded seconds before each cell")
    p.add_argument("--reps", type=int, default=1, help="repetitions per cell (a, b, a, b, ...)")
    p.add_argument("--rows", default="1,100", help="records per request, comma-separated")
    p.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    p.add_argument("--variant", default="default", choices=sorted(VARIANTS), help="the Serve deployment (a)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers of (b)")
    p.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    p.add_argument("--port", type=int, default=18000, help="(a)'s port, or the next free one")
    p.add_argument("--baseline-port", type=int, default=18100)
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.md")
    p.add_argument(
        "--via",
        choices=("both", "service"),
        default="both",
        help="also measure the ingress replica's direct port (both) or only the service port",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the Serve replicas and uvicorn workers during the 1-row c=32 cell",
    )
    p.add_argument(
        "--monitoring",
        choices=("both", "on"),
        default="both",
        help="also run the service with monitoring off and compare (both), or only as configured (on)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    p.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="keep the servers up this many seconds after the table (to attach a profiler)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.variants import VARIANTS

    args = parse_args(argv)
    rows_list = [int(x) for x in args.rows.split(",")]
    concurrency = [int(x) for x in args.concurrency.split(",")]
    variant = VARIANTS[args.variant]
    started = time.monotonic()

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    ws = workspace.build(args.workdir)
    workspace.issue_token(ws)
    # Each run starts with empty prediction stores: a store grown by earlier runs makes every
    # insert slower and the figures drift from run to run.
    for data_dir in ("serve-data", "baseline-data", "serve-off-data"):
        shutil.rmtree(ws.root / data_dir, ignore_errors=True)
    port, bport = servers.free_port(args.port), servers.free_port(args.baseline_port)
    env = dict(variant.env)
    # The launcher itself gives the ingress replica the configured port and moves Serve's proxy
    # to port + 10 (serve/launcher.py), so every throughput-optimized variant is pinned.
    serve_cfg = workspace.write_serve_config(
        ws,
        ws.root / f"serve-{variant.name}.yaml",
        port=port,
        import_path=variant.import_path,
        deployments=variant.deployments,
        access_log=variant.access_log,
        args=variant.args,
    )
    # Bare: the app without its collector (in a uvicorn worker it would profile under that worker's
    # GIL), so that the service with monitoring on is compared with the least a server can do.
    base_cfg = workspace.write_serve_config(
        ws, ws.root / "baseline.yaml", port=bport, data_dir="baseline-data", args={"monitoring": {"enabled": False}}
    )
    # The same service with monitoring off, its ports clear of (a)'s block (port to port + 10).
    off_port = servers.free_port(port + 20) if args.monitoring == "both" else 0
    off_cfg = workspace.write_serve_config(
        ws,
        ws.root / f"serve-{variant.name}-monitoring-off.yaml",
        port=off_port,
        import_path=variant.import_path,
        deployments=variant.deployments,
        access_log=variant.access_log,
        args={**variant.args, "monitoring": {**variant.args.get("monitoring", {}), "enabled": False}},
        data_dir="serve-off-data",
    )
    floors = {rows: measure_floor(ws, rows) for rows in rows_list}

    baseline_name = f"uvicorn x{args.workers}"
    running: list[servers.Server] = []
    cells: dict[tuple[str, int, int], Cell] = {}
    # (name, URL) of each server under test, the baseline last; measured in this order, cell by cell.
    targets_: list[tuple[str, str]] = []
    collector: monitoring_load.CollectorFigures | None = None
    try:
        print(f"bench: starting Ray Serve ({variant.name}) on :{port} and {baseline_name} on :{bport}", flush=True)
        b = servers.start_baseline(base_cfg, bport, ws.root / "logs" / "baseline.log", args.workers)
        running.append(b)
        a, ready_a = servers.start_serve_ready(
            serve_cfg,
            port,
            ws.root / "logs" / f"serve-{variant.name}.log",
            throughput_optimized=variant.throughput_optimized,
            extra_env=env,
        )
        running.append(a)
        ready_b = b.wait_ready(60)
        print(f"bench: ready after {ready_a:.0f} s (Serve) and {ready_b:.0f} s (uvicorn)", flush=True)
        off = None
        if off_port:
            # Started once (a) is up: two Ray clusters starting at once time out on a busy 2-core machine.
            off, ready_off = servers.start_serve_ready(
                off_cfg,
                off_port,
                ws.root / "logs" / f"serve-{variant.name}-monitoring-off.log",
                throughput_optimized=variant.throughput_optimized,
                extra_env=env,
            )
            running.append(off)
            print(f"bench: Serve with monitoring off ready after {ready_off:.0f} s", flush=True)
        targets_.append((f"Serve :{port}", a.base_url))
        direct = servers.direct_ingress_ports(a) if args.via == "both" else []
        if direct:
            # Ray 2.60's direct ingress: the ingress replica's own port (the service port stays a proxy).
            targets_.append((f"Serve replica :{direct[0]}", f"http://127.0.0.1:{direct[0]}"))
        # Profiled: Serve's shortest path (the direct port when there is one) and uvicorn.
        profiled = {targets_[-1][0], baseline_name}
        if off is not None:
            targets_.append((off_name(off_port), off.base_url))
        targets_.append((baseline_name, b.base_url))
        shutil.rmtree(ws.root / "profiles", ignore_errors=True)
        for rows in rows_list:
            body = ws.body_path(rows)
            for c in concurrency:
                results: dict[str, list[wrk.WrkResult]] = {n: [] for n, _ in targets_}
                compared = off is not None and (rows, c) in MONITORING_CELLS
                for _ in range(max(args.reps, MONITORING_REPS) if compared else args.reps):
                    for name, base_url in targets_:
                        if name.endswith(OFF_SUFFIX) and (rows, c) not in MONITORING_CELLS:
                            continue
                        url = base_url + "/v1/predict"
                        if args.warmup > 0:
                            wrk.run(url, body, ws.token_path(), connections=c, seconds=args.warmup)
                        spies = []
                        if args.profile and (rows, c) == PROFILED_CELL and name in profiled:
                            # The direct port and uvicorn: where each server's CPU goes under load.
                            procs = {"Serve": a, "uvicorn": b}["uvicorn" if name == baseline_name else "Serve"]
                            spies = profile.start_recording(
                                procs, args.seconds, ws.root / "profiles" / name.split()[0].lower()
                            )
                        results[name].append(wrk.run(url, body, ws.token_path(), connections=c, seconds=args.seconds))
                        for spy in spies:
                            spy.wait(timeout=args.seconds + 30)
                for name, rs in results.items():
                    if rs:
                        cells[(name, rows, c)] = summarise(rs, rows)
                print(
                    f"  rows={rows:<3} c={c:<2} "
                    + " | ".join(
                        f"{name} {cells[(name, rows, c)].rps:7,.0f} req/s p50 {cells[(name, rows, c)].p50_ms:6.2f} "
                        f"p99 {cells[(name, rows, c)].p99_ms:6.1f} ms"
                        for name, _ in targets_
                        if (name, rows, c) in cells
                    ),
                    flush=True,
                )
            for s in running:
                s.track()
        if off is not None and 1 in rows_list:
            print(f"bench: the collector under load (1 row, c={monitoring_load.CONCURRENCY})", flush=True)
            collector = monitoring_load.measure(
                a, ws.body_path(1), ws.token_path(), workspace.monitor_token(ws), args.seconds
            )
            print(monitoring_lines(collector), flush=True)
        if args.hold > 0:
            print(
                f"bench: holding the servers for {args.hold:.0f} s; Serve replicas: "
                f"{a.pids_named('ServeReplica')}; uvicorn: {b.process.pid}",
                flush=True,
            )
            time.sleep(args.hold)
    except KeyboardInterrupt:
        print("bench: interrupted; stopping the servers", file=sys.stderr, flush=True)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for s in reversed(running):
            killed = s.stop()
            if killed:
                print(f"bench: {s.name} left {len(killed)} processes; killed by pid", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    elapsed = time.monotonic() - started
    off_target = next((name for name, _ in targets_ if name.endswith(OFF_SUFFIX)), None)
    pairs = [(name, baseline_name) for name, _ in targets_[:-1] if name != off_target]
    report = render(pairs, variant, cells, rows_list, concurrency, floors, args, elapsed)
    if off_target is not None:
        report += "\n\n" + monitoring_section(cells, targets_[0][0], off_target, baseline_name, collector)
    print("\n" + report, flush=True)
    if args.profile:
        report += "\n\n" + profile.report(ws.root / "profiles")
        print(profile.report(ws.root / "profiles"), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")
    print(f"bench: wrote {os.path.relpath(args.out, ROOT)} ({elapsed:.0f} s)")
    # The service port is what clients of `make serve` reach: its targets decide --strict.
    checks = targets(cells, pairs[0], rows_list, concurrency)
    # A missed target is a finding, not a broken benchmark: only --strict turns it into a failure.
    return 1 if args.strict and not all(ok for _, ok, _ in checks) else 0


def render(
    pairs: list[tuple[str, str]],
    variant: Any,
    cells: dict[tuple[str, int, int], Cell],
    rows_list: list[int],
    concurrency: list[int],
    floors: dict[int, Floor],
    args: argparse.Namespace,
    elapsed: float,
) -> str:
    import ray

    load = os.getloadavg()
    lines = [
        "# Benchmark: POST /v1/predict",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Ray {ray.__version__}; load average at the end {load[0]:.2f}. "
        f"wrk, 1 thread, {args.seconds:g} s per cell after {args.warmup:g} s warm-up, {args.reps} "
        "repetition(s); the servers measured in turn, cell by cell.",
        "",
        f"- Ray Serve, variant `{variant.name}`: {variant.summary}. Measured on the service port "
        "(what `make serve` clients reach) and, when Serve opens one, on the ingress replica's own "
        "direct-ingress port.",
        f"- {pairs[0][1]}: the same FastAPI app (`create_api`) under bare uvicorn, model in process, monitoring off.",
        "- (c): `predict_proba` alone on the same rows, one call at a time (p50 column: median per call).",
    ]
    for i, (a, b) in enumerate(pairs, start=1):
        lines += [
            "",
            f"## ({'a' if i == 1 else 'a' + chr(39)}) {a} against {b}",
            "",
            table(cells, (a, b), rows_list, concurrency, floors),
            "",
            f": {a} (a) against {b} (b): requests and rows per second, latency, ratios a/b; "
            f"(c) is the in-process floor {{#tbl-bench-{i}}}",
            "",
            "Targets:",
            "",
        ]
        lines += [
            f"- {'PASS' if ok else 'FAIL'}: {what} ({detail})"
            for what, ok, detail in targets(cells, (a, b), rows_list, concurrency)
        ]
    lines += ["", f"Whole run: {elapsed:.0f} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
