"""Smoke tests of a running service, over HTTP only: what a deployment must pass to stay.

    python -m serve smoke [--url http://127.0.0.1:8000] [--version v0003] [--params params.yaml]
    make smoke SERVE_URL=... [VERSION=v0003]

The client is a service client with the scopes predict and feedback (`make client NAME=smoke`);
its id and secret come from MODELSHIP_SMOKE_CLIENT_ID (default "smoke") and
MODELSHIP_SMOKE_CLIENT_SECRET, never from the command line. Checks, in order:

1. health: GET /health/ready answers 200;
2. token: the client-credentials grant gives an access token;
3. model card: GET /v1/model names the expected version (when one is given);
4. predict: reference cases of the snapshot, far from any sensible decision boundary, get their
   confirmed diagnosis, from the expected version; a model that answers one class for all fails;
5. feedback: the confirmed diagnosis of one of them is recorded (201).

Exit status 0 when every check passed, 1 otherwise (each failure is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from modelship.contract import load_contract
from modelship.params import load_params

CLIENT_ID_ENV = "MODELSHIP_SMOKE_CLIENT_ID"
CLIENT_SECRET_ENV = "MODELSHIP_SMOKE_CLIENT_SECRET"
# Rows of the snapshot (0-based) that models of very different strength all classify with a
# probability beyond 0.99 or below 0.01: a model that misses one of them is broken, not weaker.
REFERENCE_ROWS = (461, 108, 352, 192, 175, 307)


@dataclass
class SmokeResult:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    served_version: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def reference_cases(params_file: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The reference records (contract features, contract order) and their confirmed labels."""
    params = load_params(params_file)
    contract = load_contract(params.contract)
    frame = pd.read_csv(params.snapshot).iloc[list(REFERENCE_ROWS)]
    records = [{name: float(row[name]) for name in contract.feature_names} for _, row in frame.iterrows()]
    return records, [str(label) for label in frame[contract.target.name]]


def run_smoke(
    url: str,
    client_id: str,
    secret: str,
    params_file: Path,
    expected_version: str | None = None,
    timeout_s: float = 15,
) -> SmokeResult:
    result = SmokeResult()

    def check(name: str, ok: bool, detail: str) -> bool:
        (result.passed if ok else result.failed).append(f"{name}: {detail}")
        return ok

    records, labels = reference_cases(params_file)
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s) as http:
        try:
            ready = http.get("/health/ready")
            if not check("health", ready.status_code == 200, f"GET /health/ready {ready.status_code}"):
                return result
            token = http.post(
                "/v1/auth/token",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            )
            if not check("token", token.status_code == 200, f"client {client_id}: {token.status_code}"):
                return result
            auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            card = http.get("/v1/model", headers=auth)
            if card.status_code == 200:
                result.served_version = card.json()["version"]
            deployed = expected_version or "any"
            check(
                "model card",
                card.status_code == 200 and expected_version in (None, result.served_version),
                f"GET /v1/model {card.status_code}, version {result.served_version} (deployed: {deployed})",
            )
            scored = http.post("/v1/predict", json={"records": records}, headers=auth)
            if not check("predict", scored.status_code == 200, f"POST /v1/predict {scored.status_code}"):
                return result
            body = scored.json()
            got = [p["label"] for p in body["predictions"]]
            wrong = sum(g != want for g, want in zip(got, labels, strict=True))
            check(
                "predict",
                wrong == 0,
                f"{len(labels) - wrong}/{len(labels)} reference cases get their confirmed diagnosis"
                + (f" (answers: {', '.join(got)})" if wrong else ""),
            )
            check(
                "predict",
                expected_version in (None, body["model_version"]),
                f"answered by {body['model_version']} (deployed: {deployed})",
            )
            sent = http.post(
                "/v1/feedback",
                json={"prediction_id": body["predictions"][0]["prediction_id"], "label": labels[0]},
                headers=auth,
            )
            check("feedback", sent.status_code == 201, f"POST /v1/feedback {sent.status_code}")
        except httpx.HTTPError as exc:
            check("connection", False, f"{type(exc).__name__}: {exc}")
    return result


def credentials() -> tuple[str, str]:
    secret = os.environ.get(CLIENT_SECRET_ENV, "")
    if not secret:
        raise SystemExit(
            f"smoke: set {CLIENT_SECRET_ENV} to the secret of a client with the scopes predict and feedback "
            "(make client NAME=smoke); in GitHub Actions it is the environment's secret of that name"
        )
    return os.environ.get(CLIENT_ID_ENV, "smoke"), secret


def report(result: SmokeResult) -> str:
    lines = [f"  ok    {line}" for line in result.passed] + [f"  FAIL  {line}" for line in result.failed]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SERVE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--version", default=None, help="the version that must be served")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="names the snapshot and contract")
    args = parser.parse_args(argv)
    client_id, secret = credentials()
    result = run_smoke(args.url, client_id, secret, args.params, args.version or None)
    print(f"smoke tests against {args.url}:\n{report(result)}")
    if not result.ok:
        print(f"smoke: {len(result.failed)} check(s) failed", file=sys.stderr)
        return 1
    return 0
