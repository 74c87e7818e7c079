"""Model packages (modelship/packaging.py): built from the pipeline job's registry, loaded only
when every checksum matches; a changed, added, removed or swapped file is refused with a clear
message. The service wheel holds the packages the Serve config imports. (C13.9, C12.5)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from modelship.packaging import SUMS_FILE, PackageError, open_package, verify_package_dir
from tests.delivery.conftest import JobRun

pytestmark = [
    pytest.mark.requirement("C13.9", "C12.5"),
    pytest.mark.catalogue(
        part="Delivery chain: model package and service wheel",
        scope="integration",
        strategy="example-based, attack",
        tool="pytest, tarfile, skops",
    ),
]


@pytest.fixture(scope="module")
def archive(pipeline_job: JobRun) -> Path:
    assert pipeline_job.returncode == 0, pipeline_job.output[-3000:]
    return pipeline_job.root / "var/packages/model-v0001.tar.gz"


@pytest.fixture
def unpacked(archive: Path, tmp_path: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "model-v0001"


def test_a_package_loads_its_model_and_traces_its_data(archive, pipeline_job):
    with open_package(archive) as package:
        loaded = package.load()
        assert package.version == loaded.version == "v0001"
        assert 0 < loaded.threshold < 1 and len(loaded.feature_names) == 30
        manifest = json.loads((package.root / "data-manifest.json").read_text(encoding="utf-8"))
        assert manifest["sha256"] == loaded.metadata["data_sha256"] == package.info["data_sha256"]
        assert package.info["gate"]["promote"] is True


def test_sha256sums_is_what_coreutils_checks(unpacked):
    result = subprocess.run(
        ["sha256sum", "--check", "--strict", SUMS_FILE], cwd=unpacked, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda d: (d / "model_card.md").write_text("all good", encoding="utf-8"), "model_card.md does not match"),
        (lambda d: (d / "extra.py").write_text("print()", encoding="utf-8"), "files not in SHA256SUMS"),
        (lambda d: (d / "contract.yaml").unlink(), "are missing: contract.yaml"),
        (lambda d: (d / SUMS_FILE).unlink(), "no SHA256SUMS"),
        (lambda d: (d / SUMS_FILE).write_text("nonsense\n", encoding="utf-8"), "is not 'sha256  file name'"),
    ],
)
def test_a_tampered_package_is_refused(unpacked, tamper, message):
    tamper(unpacked)
    with pytest.raises(PackageError, match=message):
        verify_package_dir(unpacked)


def test_a_swapped_model_with_fresh_checksums_is_still_refused(unpacked):
    """Recomputing SHA256SUMS around another model does not help: the registry's record differs."""
    model = unpacked / "model.skops"
    model.write_bytes(model.read_bytes() + b"\0")
    sums = subprocess.run(
        ["sha256sum", *sorted(p.name for p in unpacked.iterdir() if p.name != SUMS_FILE)],
        cwd=unpacked,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (unpacked / SUMS_FILE).write_text(sums, encoding="utf-8")
    with pytest.raises(PackageError, match="not the model the registry recorded"):
        verify_package_dir(unpacked)


def test_an_archive_escaping_its_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    (tmp_path / "x").write_text("x", encoding="utf-8")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "x", arcname="model-v0001/SHA256SUMS")
        tar.add(tmp_path / "x", arcname="../outside")
    with pytest.raises(PackageError), open_package(evil):
        pass
    assert not (tmp_path.parent / "outside").exists()


def test_the_cli_refuses_a_tampered_archive_without_a_traceback(archive, unpacked, tmp_path, pipeline_job):
    (unpacked / "metadata.json").write_text("{}", encoding="utf-8")
    bad = tmp_path / "model-v0001.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(unpacked, arcname="model-v0001")
    cli = [sys.executable, "-m", "modelship", "verify-package"]
    ok = subprocess.run([*cli, str(archive)], capture_output=True, text=True, cwd=pipeline_job.root)
    assert ok.returncode == 0 and "every checksum verified" in ok.stdout
    refused = subprocess.run([*cli, str(bad)], capture_output=True, text=True, cwd=pipeline_job.root)
    assert refused.returncode == 1 and "metadata.json does not match its checksum" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_wheel_holds_the_service_and_the_pipeline(pipeline_job):
    wheel = next((pipeline_job.root / "var/packages").glob("modelship-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for module in ("serve/app.py", "serve/launcher.py", "modelship/packaging.py", "modelship/registry.py"):
        assert module in names
    assert not any(n.startswith("tests/") for n in names)
    assert "Requires-Dist: ray[serve]==2.60.0" in metadata
    config = (pipeline_job.root / "var/packages/serve-config.yaml").read_text(encoding="utf-8")
    assert "import_path: serve.app:build" in config
    # the alert rules the config names travel with it: a replica refuses to start without them
    assert "alert_rules: monitoring/alerts.yaml" in config
    shipped = (pipeline_job.root / "var/packages/alerts.yaml").read_bytes()
    assert shipped == (pipeline_job.root / "monitoring/alerts.yaml").read_bytes()


def test_packaging_an_unknown_version_is_a_clear_error(pipeline_job, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "modelship", "package", "v0042", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=pipeline_job.root,
    )
    assert result.returncode == 1 and "v0042 is not registered" in result.stderr
    assert "Traceback" not in result.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)
