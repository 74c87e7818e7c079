"""Property-based fuzzing of the served API with schemathesis v4, every check (C9.3, C9.5, C9.10).

Runs the same CLI as `make fuzz`, bounded so the suite stays short, with a fixed seed so a
failure reproduces. The one per-operation adjustment is in tests/live/schemathesis.toml, with
its reason. The fuzzing client holds predict, feedback and monitor (not admin: random admin
calls would switch the production model under the other tests; the admin route is covered by
tests/serve/routes/test_admin.py and here by its 401/403 answers).
"""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.5", "C9.10"),
    pytest.mark.catalogue(
        part="API: every operation of the OpenAPI document",
        scope="system",
        strategy="fuzzing, property-based",
        tool="schemathesis CLI, live Ray Serve",
    ),
]

HERE = Path(__file__).parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.slow
def test_schemathesis_finds_no_failure_with_every_check(served):
    token = served.token("fuzzer")
    cmd = [
        str(SCHEMATHESIS),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{served.base_url}/openapi.json",
        "-H",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        "30",
        "--seed",
        "20261129",
        "--workers",
        "2",
        "--no-color",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    report = result.stdout[-6000:].replace(token, "[token]")
    assert result.returncode == 0, report
    assert "passed" in report and "failures" not in report.split("SUMMARY")[-1], report
