"""Deployment (serve/deploy.py) to a real Ray cluster started with `ray start` on 127.0.0.1: a good
package deploys; a package whose model answers one class for everything passes its checksums and
gate but fails the smoke tests, and is rolled back to the good one while a client polling
/v1/predict gets no failed request; the deploy workflow's job, run by scripts/ci_job.py, deploys
a third. One cluster for the module, stopped at the end with every process it started.
(C13.2, C13.3, C13.9)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from api_support import build_registry, training_data
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelship.packaging import build_package
from modelship.params import load_params
from modelship.registry import Registry
from serve import cluster
from serve.auth import AuthService
from serve.settings import Settings
from support import ROOT, write_params
from tests.delivery.conftest import fresh_copy, run_job
from tests.live.service import free_port, free_port_block, write_config

pytestmark = [
    pytest.mark.requirement("C13.2", "C13.3", "C13.9"),
    pytest.mark.catalogue(
        part="Delivery chain: deployment, smoke tests and rollback",
        scope="system",
        strategy="example-based, fault injection",
        tool="pytest, Ray (ray start, serve deploy), httpx, scripts/ci_job.py",
    ),
]
GOOD, CONSTANT, NEXT = "v0001", "v0002", "v0003"


@dataclass
class Stage:
    base: Path
    packages: Path
    registry: Registry
    config: Path
    ray_dir: Path
    address: str
    url: str
    secrets: dict[str, str]
    token: str

    def deploy(self, package: Path, timeout_s: float = 180) -> tuple[subprocess.CompletedProcess, dict]:
        report = self.base / f"report-{package.stem}.json"
        result = subprocess.run(
            [sys.executable, "-m", "serve", "deploy", str(package), "--config", str(self.config)]
            + ["--ray-dir", str(self.ray_dir), "--report", str(report), "--timeout", str(timeout_s)],
            cwd=ROOT,
            env={**os.environ, "MODELSHIP_SMOKE_CLIENT_SECRET": self.secrets["smoke"], "RAY_ADDRESS": self.address},
            capture_output=True,
            text=True,
            timeout=600,
        )
        return result, (json.loads(report.read_text()) if report.exists() else {})

    def served_version(self) -> str:
        r = httpx.get(self.url + "/v1/model", headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["version"]


def source_packages(base: Path, params: Path) -> Path:
    """The pipeline's side: a registry of three evaluated versions (the second a constant model
    that the gate, fed wrong metrics, let through) and their packages."""
    registry = build_registry(base / "source", versions=1)
    X, y, _ = training_data()
    meta = registry.metadata(GOOD)
    kept = {k: meta[k] for k in ("threshold", "features", "contract", "positive_label", "negative_label", "metrics")}
    for model in (
        DummyClassifier(strategy="prior"),
        make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000)),
    ):
        registry.register(model.fit(X, y), {**kept, "data_sha256": meta["data_sha256"]})
    out = base / "packages"
    for version in (GOOD, CONSTANT, NEXT):
        registry.update_metadata(version, gate={"promote": True, "reasons": []})
        registry.write_card(version, f"# Model card {version}\n")
        build_package(registry, version, load_params(params), out)
    return out


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("deploy")
    params = write_params(base / "params.yaml", registry=str(base / "registry"))
    packages = source_packages(base, params)
    port = free_port_block()
    config = base / "serve.yaml"
    write_config(config, port=port, params=params, state_dir=base / "state", data_dir=base / "data")
    auth = AuthService(Settings.from_config(config).auth_settings())
    secrets = {cid: auth.create_client(cid, ["predict", "feedback"]) for cid in ("smoke", "loader")}
    # Ray's Unix sockets live below it and must fit in 107 characters: a short path.
    ray_dir = Path(tmp_path_factory.getbasetemp()) / "rc"
    dashboard_port = free_port()
    while port <= dashboard_port <= port + 10:
        dashboard_port = free_port()
    started = time.monotonic()
    try:
        info = cluster.start(config, ray_dir, dashboard_port)
        print(f"\nray start --head: {time.monotonic() - started:.1f} s")
        s = Stage(
            base,
            packages,
            Registry(base / "registry"),
            config,
            ray_dir,
            info["address"],
            info["service_url"],
            secrets,
            "",
        )
        yield s
    finally:
        cluster.stop(ray_dir)
        left = cluster.processes(ray_dir)
        assert not left, f"Ray processes left after the cluster's stop: {left}"


def test_a_good_package_deploys_and_passes_its_smoke_tests(stage: Stage):
    # a first deploy starts the replicas: on a loaded machine that takes minutes
    result, report = stage.deploy(stage.packages / f"model-{GOOD}.tar.gz", timeout_s=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert report["deployed"] and report["served_version"] == GOOD and report["previous"] is None
    assert "ok    predict: 6/6 reference cases get their confirmed diagnosis" in result.stdout
    assert "ok    feedback: POST /v1/feedback 201" in result.stdout
    print(
        f"\nfirst deploy of {GOOD}: healthy after {report['seconds_to_healthy']} s, smoke {report['smoke_seconds']} s"
    )
    stage.token = httpx.post(
        stage.url + "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "loader", "client_secret": stage.secrets["loader"]},
    ).json()["access_token"]
    assert stage.served_version() == GOOD
    assert stage.registry.production() == GOOD


def test_a_tampered_package_is_refused_before_anything_changes(stage: Stage, tmp_path: Path):
    with tarfile.open(stage.packages / f"model-{NEXT}.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    card = tmp_path / f"model-{NEXT}" / "model_card.md"
    card.write_text(card.read_text() + "edited\n")
    result, _ = stage.deploy(tmp_path / f"model-{NEXT}")
    assert result.returncode == 2
    assert "nothing deployed: package refused" in result.stderr and "model_card.md does not match" in result.stderr
    assert NEXT not in stage.registry.versions() and stage.registry.production() == GOOD


def test_a_package_failing_the_smoke_tests_is_rolled_back_with_no_failed_request(stage: Stage):
    assert stage.token, "the first deploy test runs first"
    counts: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    stop = threading.Event()

    def poll() -> None:
        record = {"records": [dict(zip(training_data()[2], map(float, training_data()[0][0]), strict=True))]}
        headers = {"Authorization": f"Bearer {stage.token}"}
        with httpx.Client(base_url=stage.url, timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.post("/v1/predict", json=record, headers=headers)
                    counts[str(r.status_code)] += 1
                    if r.status_code == 200:
                        versions[r.json()["model_version"]] += 1
                except httpx.HTTPError as exc:
                    counts[type(exc).__name__] += 1
                time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        result, report = stage.deploy(stage.packages / f"model-{CONSTANT}.tar.gz")
    finally:
        stop.set()
        poller.join(timeout=30)
    print(
        f"\ndeploy of {CONSTANT}: healthy after {report.get('seconds_to_healthy')} s, rolled back in "
        f"{report.get('rollback_seconds')} s; the poller's answers: {dict(counts)} by version {dict(versions)}"
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"ROLLED BACK to {GOOD}" in result.stderr
    assert "FAIL  predict: 3/6 reference cases get their confirmed diagnosis" in result.stdout
    assert report["rolled_back"] and report["served_version"] == GOOD and report["previous"] == GOOD
    assert stage.served_version() == GOOD and stage.registry.production() == GOOD
    history = [(h["action"], h["version"]) for h in stage.registry.history()]
    assert history[-2:] == [("promote", CONSTANT), ("rollback", GOOD)]
    # every request answered, by the good model, then the constant one, then the good one again
    assert set(counts) == {"200"} and counts["200"] > 20, counts
    assert versions[CONSTANT] > 0 and versions[GOOD] > 0


def test_the_deploy_workflow_job_runs_here_against_the_cluster(stage: Stage, tmp_path: Path):
    """deploy / deploy by the local job runner in a fresh copy, as on a runner: the pipeline run's
    artifact is the one a model-pipeline job uploaded here; the secrets come from the environment."""
    root = fresh_copy(tmp_path / "checkout")
    artifact = root / "var/ci-artifacts/model-pipeline/artifacts/model-package/var/packages"
    artifact.mkdir(parents=True)
    for name in (f"model-{GOOD}.tar.gz", f"model-{NEXT}.tar.gz"):
        shutil.copy(stage.packages / name, artifact / name)
    env = {
        "CI_SECRET_RAY_ADDRESS": stage.address,
        "CI_SECRET_SERVE_URL": stage.url,
        "CI_SECRET_RAY_AUTH_TOKEN": cluster.token_path(stage.ray_dir).read_text().strip(),
        "CI_SECRET_MODELSHIP_SMOKE_CLIENT_SECRET": stage.secrets["smoke"],
        "DEPLOY_CONFIG": str(stage.config),  # what a self-hosted runner's .env sets
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run = run_job(root, "deploy", "deploy", f"version={NEXT}", "environment=production", "pipeline-run=1")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert run.returncode == 0, run.output[-4000:]
    record = json.loads((root / "var/ci-artifacts/deploy/deploy/job.json").read_text())
    outcomes = {s["name"]: s["outcome"] for s in record["steps"]}
    deployed = json.loads((root / "var/deploy/report.json").read_text())
    print(f"\ndeploy/deploy in a fresh copy: {record['seconds']} s, healthy after {deployed['seconds_to_healthy']} s")
    assert outcomes["Download the release's package"] == "skipped"
    assert outcomes["Download the pipeline run's package"] == "success" and outcomes["Deploy"] == "success"
    summary = (root / "var/ci-artifacts/deploy/deploy/step-summary.md").read_text()
    assert f"## Deployment of {NEXT}: deployed" in summary and f"| previous version | {GOOD} |" in summary
    assert stage.served_version() == NEXT and stage.registry.production() == NEXT


def test_make_smoke_runs_alone_against_serve_url(stage: Stage):
    def smoke(version: str, secret: str | None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
        env.pop("MODELSHIP_SMOKE_CLIENT_SECRET", None)
        if secret:
            env["MODELSHIP_SMOKE_CLIENT_SECRET"] = secret
        args = ["make", "-s", "smoke", f"SERVE_URL={stage.url}", f"VERSION={version}"]
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    served = smoke(NEXT, stage.secrets["smoke"])
    assert served.returncode == 0, served.stdout + served.stderr
    assert "ok    model card" in served.stdout and "ok    feedback: POST /v1/feedback 201" in served.stdout
    other = smoke(GOOD, stage.secrets["smoke"])
    assert (
        other.returncode != 0
        and f"FAIL  model card: GET /v1/model 200, version {NEXT} (deployed: {GOOD})" in other.stdout
    )
    unset = smoke(NEXT, None)
    assert unset.returncode != 0 and "set MODELSHIP_SMOKE_CLIENT_SECRET" in unset.stderr


def test_the_cluster_listens_on_loopback_only(stage: Stage):
    listening = set()
    for proc in cluster.processes(stage.ray_dir):
        try:
            listening |= {c.laddr.ip for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr}
        except psutil.NoSuchProcess:
            continue
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening
