"""Deploy a model package to a running Ray cluster, smoke-test it, roll back when it fails.

    python -m serve deploy PACKAGE [--config serve/config.yaml] [--address URL] [--url SERVE_URL]
    make deploy [VERSION=v0003] [SERVE_CONFIG=var/packages/serve-config.yaml]

1. The package is opened and every checksum verified (modelship/packaging.py); a package whose
   gate refused the model is not deployed.
2. Its model is installed into the registry the deployment reads (the params file named by the
   Serve config), or found there already with the same model checksum, and promoted.
3. The Serve config goes to the cluster with `serve deploy`, its `user_config.pinned_version` set
   to that version: the replicas running load it beside the old one and swap (a reconfigure, no
   restart); a first deploy starts them.
4. It waits, up to --timeout, until Serve reports the application RUNNING, /health/ready answers
   200 and the model card names the version; then runs the smoke tests (serve/smoke.py).
5. On a failure of 4, it rolls back: the registry's production pointer returns to the previous
   version and the config is deployed again pinned to it, then waited for and smoke-tested.
   Requests keep being answered throughout: by the old model, then the new, then the old again.

The cluster's address (its dashboard's HTTP address, as for `ray job submit`) is --address, else
RAY_ADDRESS, else the one serve/cluster.py wrote; Ray's token is RAY_AUTH_TOKEN, else the cluster's
token file. The smoke client's secret: MODELSHIP_SMOKE_CLIENT_SECRET (serve/smoke.py).

Exit status: 0 deployed; 1 the deploy failed and was rolled back (or could not be: the message
says what is served); 2 nothing was changed (package refused, cluster unreachable, bad usage).
A JSON report (durations, outcome) is written to --report; a Markdown summary is appended to
GITHUB_STEP_SUMMARY when that is set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from modelship.fileio import write_atomic
from modelship.packaging import (
    CONTRACT_FILE,
    DATA_MANIFEST_FILE,
    INFO_FILE,
    PackageError,
    VerifiedPackage,
    open_package,
)
from modelship.registry import METADATA_FILE, MODEL_FILE, Registry, RegistryError
from serve.cluster import CLUSTER_FILE, token_path
from serve.launcher import PROXY_PORT_OFFSET, load_config
from serve.settings import Settings, resolve
from serve.smoke import SmokeResult, credentials, report, run_smoke

APP = "modelship"
EXIT_ROLLED_BACK = 1
EXIT_UNCHANGED = 2


class DeployRefused(Exception):
    """Nothing was changed: the message says why."""


@dataclass
class Outcome:
    version: str
    previous: str | None
    deployed: bool = False
    rolled_back: bool = False
    served_version: str | None = None
    seconds_to_healthy: float | None = None
    smoke_seconds: float | None = None
    rollback_seconds: float | None = None
    total_seconds: float | None = None
    failures: list[str] = field(default_factory=list)
    message: str = ""


# -- the registry ---------------------------------------------------------------------------
def install(package: VerifiedPackage, registry: Registry) -> bool:
    """Put the package's version into the registry; False when it was there already (same model).

    The version keeps its name: it is the pipeline's, and the card, metrics and lineage refer to it."""
    version = package.version
    target = registry.version_dir(version)
    if target.is_dir():
        meta = registry.verify(version)
        packaged = json.loads((package.root / METADATA_FILE).read_text(encoding="utf-8"))
        if meta["model_sha256"] != packaged["model_sha256"]:
            raise DeployRefused(
                f"the registry {registry.root} already holds another model named {version}: "
                "deploy to a registry of its own or rebuild the package from this registry"
            )
        return False
    registry.versions_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=registry.versions_dir, prefix=".staging-"))
    try:
        meta = json.loads((package.root / METADATA_FILE).read_text(encoding="utf-8"))
        # what the registry held for the version; the rest describes the package or the data
        for name in set(package.info["files"]) - {INFO_FILE, CONTRACT_FILE, DATA_MANIFEST_FILE}:
            shutil.copyfile(package.root / name, staging / name)
        if missing := {MODEL_FILE, *meta.get("files", {})} - {p.name for p in staging.iterdir()}:
            raise DeployRefused(f"{version}: the package lacks {', '.join(sorted(missing))}")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    registry.verify(version)
    return True


# -- the cluster ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Cluster:
    address: str
    token: str | None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
        if self.token:
            env["RAY_AUTH_TOKEN"] = self.token
        return env

    def status(self, timeout_s: float = 30) -> dict[str, Any]:
        """Serve's view of the application (the dashboard's REST API, what `serve status` prints)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        r = httpx.get(f"{self.address.rstrip('/')}/api/serve/applications/", headers=headers, timeout=timeout_s)
        r.raise_for_status()
        return (r.json().get("applications") or {}).get(APP) or {}

    def serve_deploy(self, config_file: Path) -> None:
        serve_cli = Path(sys.executable).with_name("serve")
        cmd = [str(serve_cli) if serve_cli.exists() else "serve", "deploy", str(config_file), "--address", self.address]
        result = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise DeployRefused(f"serve deploy failed ({result.returncode}): {result.stderr.strip()[-1500:]}")


def find_cluster(address: str | None, ray_dir: Path) -> Cluster:
    info: dict[str, Any] = {}
    if (ray_dir / CLUSTER_FILE).is_file():
        info = json.loads((ray_dir / CLUSTER_FILE).read_text(encoding="utf-8"))
    address = address or os.environ.get("RAY_ADDRESS") or info.get("address") or "http://127.0.0.1:8265"
    if not address.startswith(("http://", "https://")):
        raise DeployRefused(
            f"RAY_ADDRESS={address} is not the dashboard's HTTP address (e.g. http://127.0.0.1:8265) "
            "that `serve deploy` talks to"
        )
    token = os.environ.get("RAY_AUTH_TOKEN")
    if not token and token_path(ray_dir).is_file():
        token = token_path(ray_dir).read_text(encoding="utf-8").strip()
    return Cluster(address, token)


def cluster_config(raw: dict[str, Any], version: str) -> dict[str, Any]:
    """The Serve config as deployed: pinned to `version`, with serve/launcher.py's port layout
    (the ingress replicas take http_options.port; Serve's proxy moves aside, on loopback)."""
    config = json.loads(json.dumps(raw))
    http = config.setdefault("http_options", {})
    http["port"] = int(http.get("port", 8000)) + PROXY_PORT_OFFSET
    http["host"] = "127.0.0.1"
    app = next((a for a in config.get("applications", []) if a.get("name") == APP), None)
    if app is None:
        raise DeployRefused(f"the Serve config has no application named {APP!r}")
    for deployment in app.get("deployments", []):
        deployment.setdefault("user_config", {})["pinned_version"] = version
    return config


def service_url_of(raw: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{int((raw.get('http_options') or {}).get('port', 8000))}"


# -- one deployment -------------------------------------------------------------------------
@dataclass
class Deployer:
    cluster: Cluster
    raw_config: dict[str, Any]
    registry: Registry
    params_file: Path
    url: str
    client_id: str
    secret: str
    work_dir: Path
    timeout_s: float

    def submit(self, version: str) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / f"serve-{version}.yaml"
        write_atomic(path, yaml.safe_dump(cluster_config(self.raw_config, version), sort_keys=False))
        self.cluster.serve_deploy(path)

    def wait_healthy(self, version: str) -> str | None:
        """None once the app runs and serves `version`; else what was last seen when time ran out."""
        deadline = time.monotonic() + self.timeout_s
        seen = "no answer yet"
        token: str | None = None
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while time.monotonic() < deadline:
                try:
                    app = self.cluster.status()
                    status = app.get("status", "NOT_STARTED")
                    if status == "DEPLOY_FAILED":
                        return f"Serve reports DEPLOY_FAILED: {app.get('message', '')[-1500:]}"
                    seen = f"Serve status {status}"
                    if status == "RUNNING" and http.get("/health/ready").status_code == 200:
                        if token is None:
                            token = self._token(http)
                        card = http.get("/v1/model", headers={"Authorization": f"Bearer {token}"})
                        served = card.json().get("version") if card.status_code == 200 else None
                        seen = f"Serve status RUNNING, ready, model card {card.status_code} version {served}"
                        if served == version:
                            return None
                except (httpx.HTTPError, ValueError) as exc:
                    seen = f"{type(exc).__name__}: {exc}"
                time.sleep(0.25)
        return f"not healthy with {version} after {self.timeout_s:g} s ({seen})"

    def _token(self, http: httpx.Client) -> str:
        r = http.post(
            "/v1/auth/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret},
        )
        if r.status_code != 200:
            raise ValueError(f"the smoke client cannot get a token ({r.status_code})")
        return str(r.json()["access_token"])

    def smoke(self, version: str) -> SmokeResult:
        result = run_smoke(self.url, self.client_id, self.secret, self.params_file, version)
        print(f"smoke tests of {version} against {self.url}:\n{report(result)}", flush=True)
        return result

    def roll_out(self, version: str) -> tuple[list[str], float, float]:
        """Deploy `version`, wait, smoke-test it: (failures, seconds to healthy, smoke seconds)."""
        started = time.monotonic()
        try:
            self.submit(version)
        except (DeployRefused, subprocess.TimeoutExpired) as exc:
            return [f"serve deploy: {exc}"], time.monotonic() - started, 0.0
        unhealthy = self.wait_healthy(version)
        healthy_s = time.monotonic() - started
        if unhealthy:
            return [f"health: {unhealthy}"], healthy_s, 0.0
        t0 = time.monotonic()
        result = self.smoke(version)
        return result.failed, healthy_s, time.monotonic() - t0


def deploy(deployer: Deployer, package_path: Path) -> Outcome:
    started = time.monotonic()
    try:
        with open_package(package_path) as package:
            gate = package.info.get("gate") or {}
            if not gate.get("promote"):
                raise DeployRefused(f"{package.version}: its evaluation gate refused it; it is not deployed")
            previous = deployer.registry.production()
            outcome = Outcome(version=package.version, previous=previous)
            installed = install(package, deployer.registry)
    except PackageError as exc:
        raise DeployRefused(f"package refused: {exc}") from None
    version = outcome.version
    print(
        f"deploy: {version} {'installed into' if installed else 'already in'} {deployer.registry.root}; "
        f"production was {previous or 'none'}",
        flush=True,
    )
    deployer.registry.promote(version, actor="deploy", reason=f"deploy of {package_path.name}")
    failures, healthy_s, smoke_s = deployer.roll_out(version)
    outcome.seconds_to_healthy, outcome.smoke_seconds = round(healthy_s, 2), round(smoke_s, 2)
    if not failures:
        outcome.deployed, outcome.served_version = True, version
        outcome.message = f"deployed {version}: healthy after {healthy_s:.1f} s, smoke tests passed"
        outcome.total_seconds = round(time.monotonic() - started, 2)
        return outcome
    outcome.failures = failures
    if previous is None or previous == version:
        outcome.message = (
            f"deploy of {version} FAILED ({'; '.join(failures)}) and there is no earlier version to roll back to: "
            f"{version} is left deployed; fix it or deploy another package"
        )
        outcome.total_seconds = round(time.monotonic() - started, 2)
        return outcome
    print(f"deploy: {version} failed ({'; '.join(failures)}); rolling back to {previous}", flush=True)
    t0 = time.monotonic()
    deployer.registry.rollback(actor="deploy", reason=f"{version} failed its smoke tests: {'; '.join(failures)}")
    back_failures, _, _ = deployer.roll_out(previous)
    outcome.rollback_seconds = round(time.monotonic() - t0, 2)
    outcome.rolled_back = True
    outcome.served_version = previous if not back_failures else None
    if back_failures:
        outcome.message = (
            f"deploy of {version} FAILED and the rollback to {previous} did not pass its own checks "
            f"({'; '.join(back_failures)}): the service needs attention now"
        )
    else:
        outcome.message = (
            f"deploy of {version} FAILED ({'; '.join(failures)}); ROLLED BACK to {previous} in "
            f"{outcome.rollback_seconds:.1f} s, which passes the smoke tests and is served"
        )
    outcome.total_seconds = round(time.monotonic() - started, 2)
    return outcome


def summary_markdown(outcome: Outcome) -> str:
    head = "deployed" if outcome.deployed else ("rolled back" if outcome.rolled_back else "failed")
    rows = [
        ("package version", outcome.version),
        ("previous version", outcome.previous or "none"),
        ("served now", outcome.served_version or "unknown"),
        ("time to healthy (s)", outcome.seconds_to_healthy),
        ("smoke tests (s)", outcome.smoke_seconds),
        ("rollback (s)", outcome.rollback_seconds if outcome.rolled_back else "-"),
    ]
    lines = [f"## Deployment of {outcome.version}: {head}", "", outcome.message, "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    if outcome.failures:
        lines += ["", "### Failed checks", *(f"- {f}" for f in outcome.failures)]
    return "\n".join(lines) + "\n"


def find_package(packages_dir: Path, version: str | None) -> Path:
    pattern = f"model-{version}.tar.gz" if version else "model-v*.tar.gz"
    found = sorted(packages_dir.glob(pattern))
    if len(found) != 1:
        names = ", ".join(p.name for p in sorted(packages_dir.glob("model-v*.tar.gz"))) or "none"
        raise DeployRefused(
            f"expected one package {pattern} in {packages_dir}, found {len(found)} (there: {names}); "
            "name it with VERSION=… or PACKAGE=…"
        )
    return found[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve deploy", description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", type=Path, help="model-vNNNN.tar.gz (default: the one in --packages)")
    parser.add_argument("--packages", type=Path, default=Path("var/packages"))
    parser.add_argument("--version", default=None, help="pick model-VERSION.tar.gz in --packages")
    parser.add_argument("--config", type=Path, default=Path("serve/config.yaml"))
    parser.add_argument("--address", default=None, help="the cluster's dashboard URL (default: RAY_ADDRESS)")
    parser.add_argument("--url", default=None, help="the service's URL (default: SERVE_URL, else the config's port)")
    parser.add_argument(
        "--ray-dir", type=Path, default=Path("var/ray-cluster"), help="where serve/cluster.py keeps a local cluster"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the application to be healthy")
    parser.add_argument("--report", type=Path, default=Path("var/deploy/report.json"))
    args = parser.parse_args(argv)
    try:
        package = args.package or find_package(args.packages, args.version or None)
        raw = load_config(args.config)
        settings = Settings.from_config(args.config)
        client_id, secret = credentials()
        deployer = Deployer(
            cluster=find_cluster(args.address, args.ray_dir),
            raw_config=raw,
            registry=Registry(settings.paths.registry),
            params_file=resolve(settings.paths.params),
            url=(args.url or os.environ.get("SERVE_URL") or service_url_of(raw)).rstrip("/"),
            client_id=client_id,
            secret=secret,
            work_dir=args.report.parent,
            timeout_s=args.timeout,
        )
        try:  # unreachable or refused: stop before anything changes
            deployer.cluster.status(timeout_s=60)
        except httpx.HTTPError as exc:
            raise DeployRefused(f"the Ray cluster at {deployer.cluster.address} does not answer: {exc!r}") from None
        outcome = deploy(deployer, package)
    except (DeployRefused, RegistryError, OSError, httpx.HTTPError) as exc:
        print(f"deploy: nothing deployed: {exc}", file=sys.stderr)
        return EXIT_UNCHANGED
    args.report.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.report, json.dumps(asdict(outcome), indent=2) + "\n")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write(summary_markdown(outcome))
    print(f"deploy: {outcome.message}", file=sys.stdout if outcome.deployed else sys.stderr, flush=True)
    return 0 if outcome.deployed else EXIT_ROLLED_BACK
