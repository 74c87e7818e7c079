"""Smoke tests of the benchmark's pieces (`make bench`), without Ray and without timing targets.

The baseline server really starts (one uvicorn worker) and answers; wrk really runs against
it for a second. Speed is judged by the benchmark itself, never here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bench import monitoring_load, run, servers, workspace, wrk
from serve.settings import Settings

pytestmark = [
    pytest.mark.requirement("C9.6", "C12.4"),
    pytest.mark.catalogue(
        part="Benchmark harness (make bench): workspace, baseline server, wrk runner, report",
        scope="integration",
        strategy="example-based",
        tool="pytest, uvicorn baseline server, wrk",
    ),
]

WRK_LINE = (
    'BENCH_RESULT {"requests": 1200, "duration_us": 2000000, "bytes": 1, "p50_us": 800, "p90_us": 900, '
    '"p99_us": 2500, "max_us": 4000, "mean_us": 810.5, "connect": 0, "read": 0, "write": 0, '
    '"status": 3, "timeout": 0}'
)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> workspace.Workspace:
    built = workspace.build(tmp_path_factory.mktemp("bench"))
    workspace.issue_token(built)
    return built


@pytest.fixture(scope="module")
def baseline(ws: workspace.Workspace) -> Iterator[servers.Server]:
    port = servers.free_port(18700)
    config = workspace.write_serve_config(ws, ws.root / "baseline.yaml", port=port, data_dir="baseline-data")
    server = servers.start_baseline(config, port, ws.root / "baseline.log", workers=1)
    try:
        server.wait_ready(60)
        yield server
    finally:
        server.stop()
        assert server.process.poll() is not None


def test_workspace_builds_a_production_model_a_client_and_both_bodies(ws: workspace.Workspace) -> None:
    assert (ws.registry / "production.json").exists()
    assert ws.secret and ws.token_path().read_text().count(".") == 2
    assert all(ws.body_path(n).exists() for n in workspace.BATCH_SIZES)


def test_serve_config_copy_points_at_the_workspace_and_lifts_the_bench_clients_limits(ws: workspace.Workspace) -> None:
    path = workspace.write_serve_config(
        ws, ws.root / "cfg.yaml", port=18999, deployments={"Ingress": {"user_config": {"max_batch_size": 4}}}
    )
    config = yaml.safe_load(path.read_text())
    app = config["applications"][0]
    assert config["http_options"] == {**config["http_options"], "host": "127.0.0.1", "port": 18999}
    assert app["args"]["paths"]["params"] == str(ws.params_path)
    assert Settings.from_config(path).paths.registry == ws.registry
    assert app["args"]["limits"]["clients"][workspace.CLIENT] == workspace.UNLIMITED
    ingress = next(d for d in app["deployments"] if d["name"] == "Ingress")
    assert ingress["user_config"]["max_batch_size"] == 4
    assert ingress["user_config"]["batch_wait_timeout_s"] == 0.0  # other keys of the block kept


@pytest.mark.slow
def test_baseline_answers_a_predict_with_a_valid_token(ws: workspace.Workspace, baseline: servers.Server) -> None:
    r = httpx.post(
        baseline.base_url + "/v1/predict",
        content=ws.body_path(1).read_bytes(),
        timeout=10,
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + ws.token_path().read_text()},
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 1


@pytest.mark.slow
def test_baseline_rejects_a_predict_without_a_token(ws: workspace.Workspace, baseline: servers.Server) -> None:
    r = httpx.post(
        baseline.base_url + "/v1/predict",
        content=ws.body_path(1).read_bytes(),
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 401
    assert r.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.slow
def test_a_tiny_wrk_run_against_the_baseline_parses_with_no_errors(
    ws: workspace.Workspace, baseline: servers.Server
) -> None:
    assert shutil.which("wrk"), "wrk is not installed: `make system-deps` installs it"
    result = wrk.run(baseline.base_url + "/v1/predict", ws.body_path(1), ws.token_path(), connections=2, seconds=1)
    assert result.requests > 0
    assert result.errors == 0  # every answer was a 2xx: token and body were sent as meant


@pytest.mark.catalogue(scope="unit", tool="pytest")
def test_wrk_result_line_parses_into_throughput_latency_and_errors() -> None:
    result = wrk.parse("Running 2s test\n" + WRK_LINE + "\n")
    assert result.rps == pytest.approx(600.0)
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(0.8), pytest.approx(2.5))
    assert result.errors == 3


@pytest.mark.catalogue(scope="unit", tool="pytest")
def test_wrk_output_without_the_result_line_is_an_error_that_names_the_script() -> None:
    with pytest.raises(ValueError, match="predict.lua"):
        wrk.parse("Running 2s test\n")


@pytest.mark.catalogue(scope="unit", tool="pytest")
def test_wrk_refuses_a_non_loopback_address_before_sending_anything(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        wrk.run("http://192.0.2.1:8000/v1/predict", tmp_path / "b", tmp_path / "t", connections=1, seconds=1)


def _cell(rps: float, p50: float, p99: float, rows: int = 1, errors: float = 0.0) -> run.Cell:
    return run.Cell(rps, rps * rows, p50, p99, errors)


@pytest.mark.catalogue(scope="unit", tool="pytest")
def test_table_shows_the_ratio_of_serve_to_uvicorn_for_each_cell() -> None:
    names = ("serve", "uvicorn")
    cells = {("serve", 1, 32): _cell(3000, 10, 40), ("uvicorn", 1, 32): _cell(1500, 20, 20)}
    text = run.table(cells, names, [1], [32], {})
    row = next(line for line in text.splitlines() if line.startswith("| 1 | 32 |"))
    assert "| 2.00 |" in row  # throughput a/b
    assert "| 0.50 |" in row  # p50 a/b


@pytest.mark.catalogue(scope="unit", tool="pytest")
def test_targets_pass_and_fail_on_the_ratios_and_flag_a_collapse() -> None:
    names = ("serve", "uvicorn")
    cells = {
        ("serve", 1, 1): _cell(500, 3.0, 5),
        ("uvicorn", 1, 1): _cell(1000, 1.0, 2),
        ("serve", 1, 8): _cell(2000, 4.0, 30),
        ("uvicorn", 1, 8): _cell(2000, 4.0, 20),
        ("serve", 1, 32): _cell(2200, 14, 45),
        ("uvicorn", 1, 32): _cell(2000, 16, 40),
        ("serve", 1, 64): _cell(300, 200, 900),
        ("uvicorn", 1, 64): _cell(2000, 32, 60),
    }
    results = {what: ok for what, ok, _ in run.targets(cells, names, [1], [1, 8, 32, 64])}
    assert results["1-row throughput at c=32 >= 1.0x uvicorn"] is True
    assert results["1-row p50 at c=1 within 2x uvicorn's"] is False  # 3.0x
    assert results["1-row p99 at c=8 < 50 ms"] is True
    collapse = next(k for k in results if k.startswith("1-row: no collapse"))
    assert results[collapse] is False  # 300 req/s at c=64 after 2,200 at c=32


@pytest.mark.catalogue(scope="unit", tool="pytest")
def test_monitoring_targets_compare_on_with_off_and_with_uvicorn() -> None:
    on, off, base = "serve", run.off_name(18020), "uvicorn"
    cells = {
        (on, 1, 1): _cell(500, 2.04, 5),
        (off, 1, 1): _cell(510, 2.00, 5),
        (on, 1, 32): _cell(1800, 14, 45),
        (off, 1, 32): _cell(2000, 13, 40),
        (base, 1, 32): _cell(1700, 16, 40),
    }
    results = {what: (ok, detail) for what, ok, detail in run.monitoring_targets(cells, on, off, base)}
    assert results["1-row p50 at c=1, on/off within 5%"] == (True, "1.020")
    assert results["1-row throughput at c=32, on/off within 5%"] == (False, "0.900")
    assert results["1-row throughput at c=32 with monitoring on >= 1.0x uvicorn"] == (True, "1.06x")
    figures = monitoring_load.CollectorFigures(
        seconds=5.0,
        requests=9000,
        collector_cpu_s=0.5,
        serve_cpu_s=8.0,
        counted_lag_s=0.4,
        profile_lag_s=None,
        dropped_rows=0,
        window_s=60,
    )
    text = run.monitoring_section(cells, on, off, base, figures)
    assert "| 1 row, c=32 | 1,800 | 2,000 | 0.900 |" in text
    assert "10.0% of one core and 6.2% of the CPU" in text and "in a written window profile after not reached" in text


def test_the_workspace_has_a_monitor_client_whose_token_reads_the_monitoring_routes(ws: workspace.Workspace) -> None:
    import jwt

    claims = jwt.decode(workspace.monitor_token(ws), options={"verify_signature": False})
    assert claims["sub"] == workspace.MONITOR_CLIENT and "monitor" in claims["scope"].split()
    path = workspace.write_serve_config(ws, ws.root / "mon.yaml", port=18998)
    clients = yaml.safe_load(path.read_text())["applications"][0]["args"]["limits"]["clients"]
    assert clients[workspace.MONITOR_CLIENT] == workspace.UNLIMITED
