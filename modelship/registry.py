"""A file-system model registry: one folder per version, an atomic production pointer.

Layout under the registry root:

    versions/v0001/model.skops      the fitted estimator (skops format, no pickle)
    versions/v0001/metadata.json    version, created_at, checksums, params, metrics, ...
    versions/v0001/model_card.md    written by the evaluation step
    production.json                 {"version": ..., "lineage": [...]} replaced by rename
    latest.json                     the candidate the last training run registered or matched
    history.jsonl                   append-only audit of every promote and rollback

Every write that others may read happens in a temporary file that is then
renamed into place, so a reader sees the old state or the new one, never half.
A lock file serialises writers across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .fileio import write_atomic

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
CARD_FILE = "model_card.md"
POINTER_FILE = "production.json"
LATEST_FILE = "latest.json"
HISTORY_FILE = "history.jsonl"
_VERSION_RE = re.compile(r"^v(\d{4,})$")
# Types a model of ours may contain; anything else in a file is refused.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class RegistryError(RuntimeError):
    """A registry operation could not be done; the message says what to do."""


class IntegrityError(RegistryError):
    """A stored model does not match its recorded checksum (tampered or truncated)."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    model: Any
    metadata: dict[str, Any]

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    @property
    def feature_names(self) -> list[str]:
        return list(self.metadata["features"])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Registry:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- paths -------------------------------------------------------------
    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def version_dir(self, version: str) -> Path:
        if not _VERSION_RE.match(version):
            raise RegistryError(f"{version!r} is not a version name (expected e.g. v0001)")
        return self.versions_dir / version

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- reading -----------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.versions_dir.is_dir():
            return []
        names = [p.name for p in self.versions_dir.iterdir() if _VERSION_RE.match(p.name)]
        return sorted(names, key=lambda n: int(n[1:]))

    def latest(self) -> str:
        """The newest candidate: the version the last training run registered, or matched."""
        return self.latest_candidate()[0]

    def latest_candidate(self) -> tuple[str, bool]:
        """(version, reused): reused when the last training run matched an existing version."""
        versions = self.versions()
        if not versions:
            raise RegistryError(f"no model is registered in {self.root}: run `make train` first")
        path = self.root / LATEST_FILE
        if path.exists():
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("version") in versions:
                return record["version"], bool(record.get("reused"))
        return versions[-1], False

    def find(self, fingerprint: str) -> str | None:
        """The newest version whose metadata carries this training fingerprint, if any."""
        for version in reversed(self.versions()):
            if self.metadata(version).get("fingerprint") == fingerprint:
                return version
        return None

    def metadata(self, version: str) -> dict[str, Any]:
        path = self.version_dir(version) / METADATA_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RegistryError(f"model version {version} is not registered in {self.root}") from None

    def _pointer(self) -> dict[str, Any]:
        path = self.root / POINTER_FILE
        if not path.exists():
            return {"version": None, "lineage": []}
        return json.loads(path.read_text(encoding="utf-8"))

    def production(self) -> str | None:
        """The production version, or None before the first promotion."""
        return self._pointer()["version"]

    def history(self) -> list[dict[str, Any]]:
        path = self.root / HISTORY_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    # -- writing -----------------------------------------------------------
    def register(self, model: Any, metadata: dict[str, Any], extra_files: dict[str, Path] | None = None) -> str:
        """Store a fitted model as the next version and return its name."""
        with self._locked():
            return self._register(model, metadata, extra_files)

    def register_candidate(
        self, model: Any, metadata: dict[str, Any], extra_files: dict[str, Path] | None = None
    ) -> tuple[str, bool]:
        """Register a trained candidate unless a version with its fingerprint exists.

        Returns (version, reused): reused is True when an identical candidate was found
        and nothing was written but the latest-candidate pointer.
        """
        with self._locked():
            version = self.find(metadata["fingerprint"])
            if version is None:
                return self._register(model, metadata, extra_files), False
            self._set_latest(version, reused=True)
            return version, True

    def _register(self, model: Any, metadata: dict[str, Any], extra_files: dict[str, Path] | None) -> str:
        import skops.io as sio  # slow to import: only the commands that write or read a model pay for it

        self.versions_dir.mkdir(parents=True, exist_ok=True)
        existing = self.versions()
        version = f"v{(int(existing[-1][1:]) + 1 if existing else 1):04d}"
        staging = Path(tempfile.mkdtemp(dir=self.versions_dir, prefix=".staging-"))
        try:
            sio.dump(model, staging / MODEL_FILE)
            meta = dict(metadata)
            meta.update(
                version=version,
                created_at=meta.get("created_at") or _now(),
                model_file=MODEL_FILE,
                model_sha256=sha256_file(staging / MODEL_FILE),
            )
            for name, src in (extra_files or {}).items():
                shutil.copyfile(src, staging / name)
                meta.setdefault("files", {})[name] = sha256_file(staging / name)
            (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
            os.rename(staging, self.version_dir(version))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._set_latest(version, reused=False)
        return version

    def _set_latest(self, version: str, reused: bool) -> None:
        write_atomic(
            self.root / LATEST_FILE, json.dumps({"version": version, "reused": reused, "at": _now()}, indent=2)
        )

    def write_card(self, version: str, text: str) -> Path:
        path = self.version_dir(version) / CARD_FILE
        if not path.parent.is_dir():
            raise RegistryError(f"model version {version} is not registered in {self.root}")
        write_atomic(path, text)
        return path

    def update_metadata(self, version: str, **fields: Any) -> dict[str, Any]:
        """Add evaluation results to a version's metadata (checksums are never changed)."""
        with self._locked():
            meta = self.metadata(version)
            for key in ("version", "model_sha256", "model_file"):
                if key in fields:
                    raise RegistryError(f"metadata field {key!r} cannot be changed")
            meta.update(fields)
            write_atomic(self.version_dir(version) / METADATA_FILE, json.dumps(meta, indent=2, sort_keys=True))
            return meta

    def _audit(self, record: dict[str, Any]) -> None:
        with open(self.root / HISTORY_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def promote(
        self, version: str, actor: str = "cli", reason: str = "", gate_overridden: bool = False
    ) -> dict[str, Any]:
        """Make `version` the production model (after checking its file is intact).

        gate_overridden records in the history that the evaluation gate had refused it.
        """
        self.verify(version)
        with self._locked():
            pointer = self._pointer()
            previous = pointer["version"]
            lineage = [v for v in pointer["lineage"] if v != version] + [version]
            new = {"version": version, "lineage": lineage, "updated_at": _now()}
            write_atomic(self.root / POINTER_FILE, json.dumps(new, indent=2))
            self._audit(
                {
                    "at": new["updated_at"],
                    "action": "promote",
                    "version": version,
                    "from": previous,
                    "actor": actor,
                    "reason": reason,
                    "gate_overridden": gate_overridden,
                }
            )
            return new

    def rollback(self, actor: str = "cli", reason: str = "") -> str:
        """Return production to the version promoted before the current one."""
        with self._locked():
            pointer = self._pointer()
            lineage = list(pointer["lineage"])
            if len(lineage) < 2:
                raise RegistryError("there is no earlier production version to roll back to")
            current = lineage.pop()
            target = lineage[-1]
            self.verify(target)
            new = {"version": target, "lineage": lineage, "updated_at": _now()}
            write_atomic(self.root / POINTER_FILE, json.dumps(new, indent=2))
            self._audit(
                {
                    "at": new["updated_at"],
                    "action": "rollback",
                    "version": target,
                    "from": current,
                    "actor": actor,
                    "reason": reason,
                }
            )
            return target

    # -- loading -----------------------------------------------------------
    def verify(self, version: str) -> dict[str, Any]:
        """Check the model file against its recorded checksum; return the metadata."""
        meta = self.metadata(version)
        path = self.version_dir(version) / meta.get("model_file", MODEL_FILE)
        if not path.exists():
            raise IntegrityError(f"model file for {version} is missing ({path}): restore it or re-run `make train`")
        actual = sha256_file(path)
        if actual != meta["model_sha256"]:
            raise IntegrityError(
                f"model file checksum mismatch for {version} (expected {meta['model_sha256'][:12]}…, "
                f"got {actual[:12]}…): the file was modified or truncated; restore it or re-run "
                "`make train`"
            )
        return meta

    def load(self, version: str) -> LoadedModel:
        meta = self.verify(version)
        path = self.version_dir(version) / meta.get("model_file", MODEL_FILE)
        return LoadedModel(version=version, model=read_model(path, version), metadata=meta)


def read_model(path: Path, version: str) -> Any:
    """Load a skops model file whose checksum was already verified, refusing types we do not trust."""
    import skops.io as sio  # slow to import: only the commands that read a model pay for it

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # not a skops archive, though it matched its checksum
        raise IntegrityError(f"model file for {version} cannot be read: {exc}") from None
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise IntegrityError(f"model file for {version} holds types this project does not trust: {foreign}")
    return sio.load(path, trusted=untrusted)
