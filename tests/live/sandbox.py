"""The monitoring sandbox (C11.5): the whole chain on this machine, in temporary folders, driven by
the traffic simulator (serve/monitoring/simulate.py), then judged.

The chain: the service started the project's way by tests/live/service.py (`python -m serve run`,
a registry built by api_support.build_registry with the training part's reference profile, clients,
2-second windows, free loopback ports), a local webhook receiver for the alert sink, a real
Prometheus server scraping /v1/monitoring/metrics with a monitor token from a file, and the
dashboard (dashboard/, in a thread of this process) signed in with the monitor client, its live
part read every second as a browser's script reads it.

Two callers share `run_scenario`: tests/live/test_sandbox.py, on the test session's one service,
and `make monitor-sandbox` (`python -m tests.live.sandbox`), which starts a service of its own,
prints the timeline and the verdict, stops everything it started and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_server import ServerThread

from dashboard.settings import DashboardSettings
from dashboard.web import create_app
from modelship.contract import load_contract
from serve.monitoring.simulate import (
    Check,
    DashboardRead,
    Scenario,
    Simulator,
    Timeline,
    checks,
    render,
    render_checks,
    verdict_ok,
)
from serve.settings import Settings
from tests.dashboard.conftest import sign_in
from tests.live.service import CONTRACT, Served, ShortFolders, held_out_split, run_service


@dataclass(frozen=True)
class Outcome:
    timeline: Timeline
    checks: list[Check]
    prometheus: list[tuple[float, str]] | None

    @property
    def ok(self) -> bool:
        return verdict_ok(self.checks)


def fresh_token(served: Served, client_id: str) -> str:
    """A new access token (the session's cached one may be near its expiry)."""
    served.tokens.pop(client_id, None)
    return served.token(client_id)


def alert_history(prometheus: Any, rule: str, start: float, end: float, step_s: float = 0.5) -> list[tuple[float, str]]:
    """The alert's state at each step as Prometheus recorded it (its ALERTS series, read through
    /api/v1/query_range): firing, pending or inactive."""
    data = prometheus.api(
        "query_range", query=f'ALERTS{{rule="{rule}"}}', start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step_s}"
    )
    seen: dict[float, set[str]] = {}
    for series in data["result"]:
        for t, _ in series["values"]:
            seen.setdefault(round(float(t), 3), set()).add(series["metric"]["alertstate"])
    out = []
    for i in range(int((end - start) / step_s) + 1):
        t = round(start + i * step_s, 3)
        states = seen.get(t, set())
        out.append((t, "firing" if "firing" in states else "pending" if "pending" in states else "inactive"))
    return out


def sandbox_rules(served: Served, folder: Path) -> Path:
    """Prometheus rules from monitoring/alerts.yaml for this service's window length (the shipped
    monitoring/prometheus-rules.yml is generated for production windows)."""
    from serve.monitoring import promrules

    path = folder / "sandbox-rules.yml"
    path.write_text(promrules.generate(Settings.from_config(served.config_path)), encoding="utf-8")
    return path


@contextlib.contextmanager
def prometheus_for(served: Served, folder: Path) -> Iterator[Any]:
    """A real Prometheus (tests/prometheus_support.py) scraping `served` with a monitor token."""
    from prometheus_support import prometheus_server

    folder.mkdir(parents=True, exist_ok=True)
    with prometheus_server(
        folder,
        target=served.base_url.removeprefix("http://"),
        token=fresh_token(served, "monitor"),
        rule_files=[sandbox_rules(served, folder)],
    ) as server:
        server.wait_for(lambda: any(t["health"] == "up" for t in server.targets()), timeout_s=30)
        yield server


# The dashboard's live part (dashboard/templates/_live.html, _content.html): its state and a row
# of the active alerts table (state cell, then the rule).
LIVE_STATE = re.compile(r'id="live-content"[^>]*\bdata-state="([^"]*)"')
ACTIVE_ROW = re.compile(r'<td>(pending|firing)</td><th scope="row">([a-z][a-z0-9_]*)</th>')


class DashboardWatch:
    """The dashboard on `served`, signed in as its monitor client, its live part read every
    `every_s` seconds in a thread until closed (what dashboard.js fetches)."""

    def __init__(self, served: Served, every_s: float = 1.0) -> None:
        self.served = served
        self.every_s = every_s
        self.reads: list[DashboardRead] = []
        self._stop = threading.Event()
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> DashboardWatch:
        no_site = str(self.served.ray_dir / "no-site")  # runbook links are not followed here
        settings = DashboardSettings(api_url=self.served.base_url, poll_s=1, site_dir=no_site)
        url = self._stack.enter_context(ServerThread(create_app(settings)))
        self.client = self._stack.enter_context(httpx.Client(base_url=url, timeout=30))
        r = sign_in(self.client, "monitor", self.served.secrets["monitor"])
        if r.status_code != 303:
            self._stack.close()
            raise SandboxError(f"the dashboard refused the monitor client's sign-in: {r.status_code}")
        self._thread = threading.Thread(target=self._watch, name="sandbox-dashboard", daemon=True)
        self._thread.start()
        return self

    def read(self) -> DashboardRead:
        page = self.client.get("/live").text
        state = LIVE_STATE.search(page)
        active = {rule: st for st, rule in ACTIVE_ROW.findall(page)}
        found = DashboardRead(time.time(), state.group(1) if state else "unreadable", active)
        self.reads.append(found)
        return found

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            with contextlib.suppress(httpx.HTTPError):  # a read lost is a gap in the record, not a verdict
                self.read()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._stack.close()


def run_scenario(
    served: Served, scenario: Scenario | None = None, prometheus: Any = None, dashboard: DashboardWatch | None = None
) -> Outcome:
    """Drive the scenario through `served` and judge it; `prometheus` (tests/prometheus_support.py),
    when given, is a server scraping this service, `dashboard` the dashboard watching it."""
    contract = load_contract(CONTRACT)
    train, test = held_out_split()
    traffic = {"Authorization": f"Bearer {fresh_token(served, 'loader')}"}
    monitor = {"Authorization": f"Bearer {fresh_token(served, 'monitor')}"}
    settings = Settings.from_config(served.config_path).monitoring
    simulator = Simulator(
        served.base_url,
        lambda: traffic,
        lambda: monitor,
        test,
        contract,
        train[contract.feature_names].std(),
        scenario or Scenario(),
        deliveries=served.webhook.received if served.webhook is not None else None,
    )
    timeline = simulator.run()
    states = None
    if prometheus is not None:
        prometheus.write_token(fresh_token(served, "monitor"))
        # the last scrape and rule evaluation after the last window's close
        time.sleep(3.0)
        states = alert_history(prometheus, "drift", timeline.rows[0].start_s, time.time())
    reads = None
    if dashboard is not None:
        dashboard.read()  # after the last window's close: what the page says once it is over
        reads = [r for r in dashboard.reads if r.at >= timeline.rows[0].start_s]
    verdict = checks(timeline, min_labels=settings.min_labels, prometheus=states, dashboard=reads)
    return Outcome(timeline, verdict, states)


class SandboxError(RuntimeError):
    """The sandbox could not run its scenario (as opposed to a check failing)."""


@contextlib.contextmanager
def sandbox_service() -> Iterator[Served]:
    """A service of the sandbox's own, in a temporary folder removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="ms-sandbox-"))
    runner = run_service(ShortFolders(base))  # type: ignore[arg-type]
    try:
        try:
            served = next(runner)
        except (RuntimeError, TimeoutError) as exc:  # the service did not start: its log says why
            log = base / "api" / "serve.log"
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:] if log.exists() else []
            raise SandboxError(f"{exc}\n--- the end of the service's log ---\n" + "\n".join(tail)) from None
        yield served
    finally:
        next(runner, None)  # stops Serve and Ray, and checks that no process of theirs is left
        shutil.rmtree(base, ignore_errors=True)


def report(outcome: Outcome) -> str:
    t = outcome.timeline
    lines = [
        render(t),
        "",
        f"wall time of the scenario: {t.wall_s:.0f} s; webhook deliveries: "
        + ("not configured" if t.deliveries is None else str(len(t.deliveries))),
        "",
        render_checks(outcome.checks),
        "",
        "verdict: " + ("PASS" if outcome.ok else "FAIL"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make monitor-sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--normal-windows", type=int, default=Scenario.normal_windows)
    parser.add_argument("--drift-windows", type=int, default=Scenario.drift_windows)
    parser.add_argument("--recovery-windows", type=int, default=Scenario.recovery_windows)
    parser.add_argument("--label-share", type=float, default=Scenario.label_share)
    args = parser.parse_args(argv)
    scenario = Scenario(
        normal_windows=args.normal_windows,
        drift_windows=args.drift_windows,
        recovery_windows=args.recovery_windows,
        label_share=args.label_share,
    )
    started = time.monotonic()
    print("starting the service (Ray Serve), the webhook receiver and Prometheus ...", file=sys.stderr)
    try:
        with (
            sandbox_service() as served,
            prometheus_for(served, served.ray_dir.parent / "prometheus") as prometheus,
            DashboardWatch(served) as dashboard,
        ):
            print(
                f"service ready at {served.base_url}, Prometheus at {prometheus.url}, webhook receiver at "
                f"{served.webhook.url if served.webhook else '(none)'}, dashboard at {dashboard.client.base_url}; "
                "running the scenario ...",
                file=sys.stderr,
            )
            outcome = run_scenario(served, scenario, prometheus, dashboard)
    except (SandboxError, TimeoutError, httpx.HTTPError, AssertionError) as exc:
        print(f"the sandbox could not run its scenario: {exc}", file=sys.stderr)
        return 2
    print(report(outcome))
    print(f"wall time including start and stop: {time.monotonic() - started:.0f} s")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
