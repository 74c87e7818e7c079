"""Sample a running replica with py-spy and say where its CPU time goes, by layer.

    python -m bench.profile record --pid PID --seconds 8 --out var/bench/prof/ingress.txt
    python -m bench.profile summary var/bench/prof/ingress.txt [more files]

`record` runs `py-spy record --format raw` (collapsed stacks; py-spy is in requirements.lock).
`summary` attributes each sample to the layer of its innermost recognised frame, so the
shares are self time per layer: what would shrink if that layer got faster.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# Innermost frame first; the first layer whose pattern matches a frame's file takes the sample.
LAYERS: list[tuple[str, str]] = [
    ("model: scikit-learn / numpy / scipy", r"(^|/)(sklearn|numpy|scipy|narwhals|threadpoolctl)/"),
    ("pydantic validation / serialisation", r"(^|/)(pydantic|pydantic_core)/"),
    ("auth: token check (serve/auth, PyJWT)", r"(serve/auth/|(^|/)jwt/)"),
    ("prediction store (SQLite)", r"(serve/store\.py|sqlite3)"),
    ("JSON encoding / decoding", r"(^|/)(json|orjson)/"),
    (
        "the API's own code (serve/api/, guard, limits)",
        r"serve/(api/|(guard|ratelimit|problems|model|schemas|service)\.py)",
    ),
    ("FastAPI / Starlette routing, dependencies, middleware", r"(^|/)(fastapi|starlette|anyio)/"),
    ("HTTP server (uvicorn, httptools, h11)", r"(^|/)(uvicorn|httptools|h11)/"),
    (
        "Serve: handle call to the model deployment (router, gRPC)",
        r"ray/serve/(handle|_private/router|_private/request_router|_private/replica_result|_private/grpc)|(^|/)grpc/",
    ),
    ("Serve: replica request path (metrics, logging, ASGI wrapper)", r"ray/serve/"),
    ("Ray core (workers, object store, GCS client)", r"(^|/)ray/"),
    ("OpenTelemetry (FastAPI telemetry hook)", r"(^|/)opentelemetry/|trace/__init__"),
    ("logging", r"(^|/)logging/"),
    ("asyncio event loop", r"(^|/)asyncio/|uvloop"),
]
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(:\d+)?\)$")


NATIVE_IN_THREAD = "event loop and C extensions below it (uvloop, gRPC Cython; no Python frame)"


def layer_of(stack: str) -> str:
    frames = stack.split(";")
    # Holding the GIL with Thread.run as the innermost Python frame: C code run by the replica's
    # event-loop thread (uvloop's loop, gRPC's Cython layer), which has no Python frames.
    if frames and frames[-1].startswith("Thread.run "):
        return NATIVE_IN_THREAD
    for frame in reversed(frames):  # innermost first
        m = FRAME.match(frame.strip())
        where = m.group("file") if m else frame
        for name, pattern in LAYERS:
            if re.search(pattern, where):
                return name
    return "other Python"


def summarise(paths: list[Path]) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            counts[layer_of(stack)] += int(n)
            total += int(n)
    return counts, total


def record(pid: int, seconds: float, out: Path, rate: int = 200) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out.parent.mkdir(parents=True, exist_ok=True)
    # --nonblocking: do not pause the replica (its load stays as it is); --gil: only samples
    # holding the GIL, i.e. Python code running, not threads waiting in C.
    subprocess.run(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(max(1, round(seconds))),
            "-r",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--gil",
            "-o",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_recording(server: Any, seconds: float, out_dir: Path) -> list[subprocess.Popen]:
    """py-spy every Python process of a server (replicas, or uvicorn workers) for `seconds`."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for p in server.track():
        try:
            cmd = " ".join(p.cmdline())
        except Exception:
            continue
        role = None
        if "ServeReplica:" in cmd:
            role = cmd.split("ServeReplica:")[1].split()[0].replace(":", "-").split(".")[0]
        elif "multiprocessing.spawn" in cmd:  # a uvicorn worker
            role = f"worker-{p.pid}"
        if role is None:
            continue
        procs.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "-p",
                    str(p.pid),
                    "-d",
                    str(max(1, round(seconds) - 1)),
                    "-r",
                    "200",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--gil",
                    "-o",
                    str(out_dir / f"{role}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def report(root: Path) -> str:
    """One table per profiled server (a folder of py-spy files), layers by share of samples."""
    if not root.is_dir():
        return "No profile: the replicas are profiled during the 1-row c=32 cell, which this run did not measure."
    parts = []
    for folder in sorted(d for d in root.iterdir() if d.is_dir()):
        for path in sorted(folder.glob("*.txt")):
            counts, total = summarise([path])
            lines = [
                f"### Profile: {folder.name} / {path.stem} ({total} samples holding the GIL)",
                "",
                "| layer (innermost recognised frame) | share |",
                "|---|---:|",
            ]
            lines += [f"| {name} | {n / max(1, total):.0%} |" for name, n in counts.most_common()]
            lines += [
                "",
                f": Where {path.stem}'s Python time goes, 1-row requests at c=32 "
                f"{{#tbl-profile-{folder.name}-{path.stem}}}",
            ]
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record")
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--seconds", type=float, default=8)
    r.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("summary")
    s.add_argument("files", type=Path, nargs="+")
    args = p.parse_args(argv)
    if args.command == "record":
        record(args.pid, args.seconds, args.out)
        return 0
    counts, total = summarise(args.files)
    print("| layer (innermost recognised frame) | share of CPU samples |\n|---|---:|")
    for name, n in counts.most_common():
        print(f"| {name} | {n / max(1, total):.0%} |")
    print(f"\n{total} samples (active threads only)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
