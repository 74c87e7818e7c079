"""Run wrk against a loopback URL with bench/predict.lua and read its result line."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SCRIPT = Path(__file__).with_name("predict.lua")
MARKER = "BENCH_RESULT "
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx/3xx answers

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / max(1, self.requests)


def parse(output: str) -> WrkResult:
    """The BENCH_RESULT line that predict.lua's done() prints."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            d = json.loads(line[len(MARKER) :])
            errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
            return WrkResult(d["requests"], d["duration_us"] / 1e6, d["p50_us"] / 1e3, d["p99_us"] / 1e3, errors)
    raise ValueError(f"no {MARKER.strip()} line in wrk's output (is bench/predict.lua in use?):\n{output[-2000:]}")


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    return found


def run(
    url: str, body: Path, token: Path, *, connections: int, seconds: float, threads: int = 1, timeout_s: float = 10.0
) -> WrkResult:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:  # the benchmark never sends traffic off this machine
        raise ValueError(f"refusing to load {url}: only loopback addresses are benchmarked")
    threads = max(1, min(threads, connections))
    cmd = [
        wrk_path(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        f"{timeout_s:g}s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(body),
        str(token),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    return parse(done.stdout)
