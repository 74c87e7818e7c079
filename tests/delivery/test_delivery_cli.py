"""The CLI commands the chain's make targets call, in process: derive-params (the pipeline
job's inputs), gate --summary/--require-pass (the job summary and the stop), package and
verify-package, with their errors on bad input. (C13.5, C13.9)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from modelship.cli import main
from modelship.packaging import build_package, open_package
from modelship.params import load_params
from modelship.registry import Registry
from tests.delivery.conftest import JobRun

pytestmark = [
    pytest.mark.requirement("C13.5", "C13.9"),
    pytest.mark.catalogue(
        part="Delivery chain: CLI of the pipeline job",
        scope="integration",
        strategy="example-based",
        tool="pytest, modelship.cli",
    ),
]


@pytest.fixture
def checkout(pipeline_job: JobRun, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pipeline job's checkout as the working directory (its params hold relative paths).

    The tests read its registry through the checkout's own params.yaml, which names the same
    registry as the job's derived file: other tests rerun the job with stricter inputs."""
    assert pipeline_job.returncode == 0, pipeline_job.output[-3000:]
    monkeypatch.chdir(pipeline_job.root)
    return pipeline_job.root


def test_derive_params_applies_overrides_read_as_yaml(tmp_path, checkout, capsys):
    out = tmp_path / "run.yaml"
    assert main(["derive-params", "--set", "cv_folds=3 model=random_forest manifest=null", "--out", str(out)]) == 0
    params = load_params(out)
    assert (params.cv_folds, params.model, params.manifest) == (3, "random_forest", None)
    assert yaml.safe_load(Path("params.yaml").read_text())["cv_folds"] == 5  # the base is untouched
    assert "cv_folds=3" in capsys.readouterr().out


@pytest.mark.parametrize(
    "overrides, message",
    [("colour=red", "unknown key 'colour'"), ("cv_folds=1", "cv_folds"), ("cv_folds", "is not key=value")],
)
def test_derive_params_refuses_bad_overrides_and_writes_nothing(overrides, message, tmp_path, checkout, capsys):
    out = tmp_path / "run.yaml"
    assert main(["derive-params", "--set", overrides, "--out", str(out)]) == 1
    assert message in capsys.readouterr().err and not out.exists()


def test_gate_summary_and_require_pass(tmp_path, checkout, capsys):
    summary = tmp_path / "summary.md"
    args = ["--params", "params.yaml", "gate", "v0001", "--summary", str(summary), "--require-pass"]
    assert main(args) == 0
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## Evaluation gate: v0001 passed") and "| brier |" in text and "NO |" not in text
    # a stricter gate than the one the version passed: the same metrics, now outside it
    strict = tmp_path / "strict.yaml"
    assert main(["derive-params", "--set", "gate_min_recall=0.9999", "--out", str(strict)]) == 0
    registry = Registry("models/registry")
    meta = registry.metadata("v0001")
    backup = tmp_path / "metadata.json"
    shutil.copyfile(registry.version_dir("v0001") / "metadata.json", backup)
    try:
        registry.update_metadata("v0001", gate={"promote": False, "reasons": ["recall below the minimum"]})
        summary.unlink()
        assert main(["--params", str(strict), "gate", "v0001", "--summary", str(summary), "--require-pass"]) == 1
        text = summary.read_text(encoding="utf-8")
        assert "v0001 refused" in text and f"| recall | {meta['metrics']['recall']:.4f} | ≥ 0.9999 | NO |" in text
        assert "- recall below the minimum" in text and "The chain stops here" in text
        assert "the chain stops here" in capsys.readouterr().err
    finally:
        shutil.copyfile(backup, registry.version_dir("v0001") / "metadata.json")


def test_build_package_in_process_and_refusals(tmp_path, checkout, capsys):
    params = load_params("params.yaml")
    registry = Registry(params.registry)
    archive = build_package(registry, "v0001", params, tmp_path)
    with open_package(archive) as package:
        assert package.version == "v0001" and "SHA256SUMS" not in package.info["files"]
    assert main(["--params", "params.yaml", "package", "--out", str(tmp_path / "cli")]) == 0
    assert "every checksum verified" in capsys.readouterr().out
    assert main(["verify-package", str(tmp_path / "nothing.tar.gz")]) == 1
    assert "package not found" in capsys.readouterr().err
    (tmp_path / "junk.tar.gz").write_bytes(b"not gzip")
    assert main(["verify-package", str(tmp_path / "junk.tar.gz")]) == 1
    assert "not a readable package archive" in capsys.readouterr().err


def test_an_unevaluated_version_is_not_packaged(tmp_path, checkout):
    params = load_params("params.yaml")
    registry = Registry(tmp_path / "registry")
    shutil.copytree(Path(params.registry) / "versions" / "v0001", tmp_path / "registry/versions/v0001")
    meta_path = tmp_path / "registry/versions/v0001/metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.pop("gate")
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    from modelship.packaging import PackageError

    with pytest.raises(PackageError, match="has not been evaluated"):
        build_package(registry, "v0001", params, tmp_path / "out")
