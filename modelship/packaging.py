"""Versioned model packages: one archive per registered version, checked file by file on load.

    model-v0003.tar.gz
      model-v0003/
        model.skops        the estimator, as registered
        metadata.json      the registry's metadata (data sha256, params, metrics, gate, git commit)
        model_card.md      written by the evaluation step
        contract.yaml      the data contract the model was trained against
        data-manifest.json the snapshot's manifest (sha256, rows, source), when the params name one
        <extra files>      what the version registered beside the model (reference profile, ...)
        package.json       format, version, creation time and the names above
        SHA256SUMS         "sha256  name" for every other file (coreutils' `sha256sum -c` reads it)

A package is the unit the delivery chain hands from the pipeline to a deployment. Loading one
checks that SHA256SUMS lists exactly the files present, that each matches, and that the model file
matches the checksum the registry recorded: a changed, added or missing file is refused.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .params import Params
from .registry import CARD_FILE, METADATA_FILE, MODEL_FILE, LoadedModel, Registry, read_model, sha256_file

FORMAT = 1
SUMS_FILE = "SHA256SUMS"
INFO_FILE = "package.json"
CONTRACT_FILE = "contract.yaml"
DATA_MANIFEST_FILE = "data-manifest.json"


class PackageError(RuntimeError):
    """A package cannot be built or is not intact; the message says which file and why."""


@dataclass(frozen=True)
class VerifiedPackage:
    """An unpacked package whose every file matched its checksum."""

    root: Path
    info: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.info["model_version"])

    def load(self) -> LoadedModel:
        meta = json.loads((self.root / METADATA_FILE).read_text(encoding="utf-8"))
        return LoadedModel(version=self.version, model=read_model(self.root / MODEL_FILE, self.version), metadata=meta)


def package_name(version: str) -> str:
    return f"model-{version}"


def build_package(registry: Registry, version: str, params: Params, out_dir: str | Path) -> Path:
    """Write out_dir/model-<version>.tar.gz from a registered, evaluated version; return its path."""
    meta = registry.verify(version)  # a model that no longer matches its checksum is never packaged
    if "gate" not in meta:
        raise PackageError(f"{version} has not been evaluated: run `make evaluate` before packaging it")
    source = registry.version_dir(version)
    if not (source / CARD_FILE).is_file():
        raise PackageError(f"{version} has no model card: run `make evaluate` before packaging it")
    files: dict[str, Path] = {
        MODEL_FILE: source / meta.get("model_file", MODEL_FILE),
        METADATA_FILE: source / METADATA_FILE,
        CARD_FILE: source / CARD_FILE,
        CONTRACT_FILE: Path(params.contract),
    }
    for name in meta.get("files", {}):
        files[name] = source / name
    if params.manifest is not None:
        files[DATA_MANIFEST_FILE] = Path(params.manifest)
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise PackageError(f"cannot package {version}: missing {', '.join(missing)}")

    name = package_name(version)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".staging-") as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        for target, src in files.items():
            shutil.copyfile(src, staging / target)
        info = {
            "format": FORMAT,
            "model_version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data_sha256": meta.get("data_sha256"),
            "git_commit": meta.get("git_commit"),
            "gate": meta["gate"],
            "files": sorted([*files, INFO_FILE]),
        }
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        sums = "".join(f"{sha256_file(staging / f)}  {f}\n" for f in info["files"])
        (staging / SUMS_FILE).write_text(sums, encoding="utf-8")
        archive = out / f"{name}.tar.gz"
        partial = out / f".{name}.tar.gz.partial"
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(staging, arcname=name)
        partial.replace(archive)  # readers see no archive or a whole one
    return archive


def _read_sums(root: Path) -> dict[str, str]:
    path = root / SUMS_FILE
    if not path.is_file():
        raise PackageError(f"{root.name}: no {SUMS_FILE} manifest, so nothing in it can be trusted")
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or "/" in name or name in ("", ".", ".."):
            raise PackageError(f"{root.name}: line {number} of {SUMS_FILE} is not 'sha256  file name'")
        sums[name] = digest
    return sums


def verify_package_dir(root: str | Path) -> VerifiedPackage:
    """Check an unpacked package folder; raise PackageError naming the first problem found."""
    root = Path(root)
    sums = _read_sums(root)
    present = {p.name for p in root.iterdir()} - {SUMS_FILE}
    if extra := sorted(present - set(sums)):
        raise PackageError(f"{root.name}: files not in {SUMS_FILE} (added after packaging?): {', '.join(extra)}")
    if missing := sorted(set(sums) - present):
        raise PackageError(f"{root.name}: files listed in {SUMS_FILE} are missing: {', '.join(missing)}")
    for name, expected in sorted(sums.items()):
        path = root / name
        if not path.is_file():
            raise PackageError(f"{root.name}: {name} is not a regular file")
        actual = sha256_file(path)
        if actual != expected:
            raise PackageError(
                f"{root.name}: {name} does not match its checksum (expected {expected[:12]}…, got {actual[:12]}…): "
                "the package was modified after it was built; rebuild it with `make package`"
            )
    for required in (INFO_FILE, METADATA_FILE, MODEL_FILE):
        if required not in sums:
            raise PackageError(f"{root.name}: {required} is not in the package")
    info = json.loads((root / INFO_FILE).read_text(encoding="utf-8"))
    meta = json.loads((root / METADATA_FILE).read_text(encoding="utf-8"))
    # The registry's own record of the model closes the loop: a package rebuilt around another
    # model, with a fresh SHA256SUMS, still fails here.
    if meta.get("model_sha256") != sums[MODEL_FILE]:
        raise PackageError(f"{root.name}: {MODEL_FILE} is not the model the registry recorded for this version")
    if info.get("format") != FORMAT or info.get("model_version") != meta.get("version"):
        raise PackageError(f"{root.name}: {INFO_FILE} does not describe this package (format or version differ)")
    return VerifiedPackage(root=root, info=info)


def _single_folder(tar: tarfile.TarFile) -> str:
    """The single top-level folder of the archive; refuse anything else."""
    names = tar.getnames()
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1:
        raise PackageError(f"archive holds {len(tops)} top-level entries; a package holds one folder")
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()):
            raise PackageError(f"archive entry {member.name} is not a file or a folder")
    return tops.pop()


@contextmanager
def open_package(path: str | Path) -> Iterator[VerifiedPackage]:
    """Unpack (if an archive) into a temporary folder and verify; the folder is removed after."""
    path = Path(path)
    if path.is_dir():
        yield verify_package_dir(path)
        return
    if not path.is_file():
        raise PackageError(f"package not found: {path}")
    with tempfile.TemporaryDirectory(prefix="modelship-package-") as tmp:
        try:
            with tarfile.open(path, "r:gz") as tar:
                top = _single_folder(tar)
                tar.extractall(tmp, filter="data")  # "data" refuses absolute paths, links out, devices
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise PackageError(f"{path.name} is not a readable package archive: {exc}") from None
        yield verify_package_dir(Path(tmp) / top)
