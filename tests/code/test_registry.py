"""Model registry: versions, checksums, atomic promote/rollback under concurrency. (C12.5, C9.3 API10)"""

from __future__ import annotations

import json
import multiprocessing as mp

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelship.registry import IntegrityError, Registry, RegistryError

pytestmark = [
    pytest.mark.requirement("C9.3", "C12.5"),
    pytest.mark.catalogue(
        part="Package: model registry (modelship.registry)",
        scope="unit",
        strategy="example-based, load",
        tool="pytest, skops, multiprocessing",
    ),
]


def tiny_model(seed: int = 0) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))


@pytest.fixture
def registry(tmp_path) -> Registry:
    reg = Registry(tmp_path / "registry")
    for seed in range(3):
        reg.register(tiny_model(seed), {"threshold": 0.5, "features": ["a", "b", "c"]})
    return reg


def test_versions_are_numbered_in_order(registry):
    assert registry.versions() == ["v0001", "v0002", "v0003"]
    assert registry.latest() == "v0003"
    meta = registry.metadata("v0002")
    assert meta["version"] == "v0002" and len(meta["model_sha256"]) == 64 and meta["created_at"]


def test_loaded_model_predicts_like_the_registered_one(registry):
    loaded = registry.load("v0001")
    X = np.ones((2, 3))
    assert np.allclose(loaded.model.predict_proba(X), tiny_model(0).predict_proba(X))
    assert loaded.threshold == 0.5 and loaded.feature_names == ["a", "b", "c"]


def test_no_production_before_first_promotion(registry):
    assert registry.production() is None


def test_promote_then_rollback_returns_to_previous(registry):
    registry.promote("v0001")
    registry.promote("v0003", actor="alice", reason="better recall")
    assert registry.production() == "v0003"
    assert registry.rollback(actor="bob") == "v0001"
    assert registry.production() == "v0001"
    actions = [(h["action"], h["version"], h["actor"]) for h in registry.history()]
    assert actions == [("promote", "v0001", "cli"), ("promote", "v0003", "alice"), ("rollback", "v0001", "bob")]


def test_rollback_without_earlier_version_is_refused(registry):
    with pytest.raises(RegistryError, match="no earlier production version"):
        registry.rollback()
    registry.promote("v0002")
    with pytest.raises(RegistryError, match="no earlier production version"):
        registry.rollback()


def test_tampered_model_file_is_refused_with_a_remedy(registry):
    path = registry.version_dir("v0002") / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"checksum mismatch for v0002 .*re-run `make train`"):
        registry.load("v0002")
    with pytest.raises(IntegrityError):
        registry.promote("v0002")  # never promote a damaged file


def test_truncated_model_file_is_refused(registry):
    path = registry.version_dir("v0001") / "model.skops"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        registry.load("v0001")


def test_missing_model_file_is_refused(registry):
    (registry.version_dir("v0001") / "model.skops").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        registry.load("v0001")


def test_file_with_matching_checksum_but_foreign_content_is_refused(registry):
    from modelship.registry import sha256_file

    path = registry.version_dir("v0001") / "model.skops"
    path.write_bytes(b"not a zip archive")
    registry.update_metadata("v0001", threshold=0.5)
    meta = registry.metadata("v0001")
    meta["model_sha256"] = sha256_file(path)
    (registry.version_dir("v0001") / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match="cannot be read"):
        registry.load("v0001")


def test_checksum_fields_cannot_be_overwritten(registry):
    with pytest.raises(RegistryError, match="cannot be changed"):
        registry.update_metadata("v0001", model_sha256="0" * 64)


def test_unknown_and_malformed_versions_are_refused(registry):
    with pytest.raises(RegistryError, match="not registered"):
        registry.metadata("v0042")
    with pytest.raises(RegistryError, match="not a version name"):
        registry.metadata("../etc")
    with pytest.raises(RegistryError, match="not registered"):
        registry.write_card("v0042", "x")


def test_empty_registry_has_no_latest(tmp_path):
    reg = Registry(tmp_path / "empty")
    assert reg.versions() == [] and reg.history() == []
    with pytest.raises(RegistryError, match="run `make train` first"):
        reg.latest()


def test_extra_files_are_stored_with_their_checksum(tmp_path):
    extra = tmp_path / "profile.bin"
    extra.write_bytes(b"profile")
    reg = Registry(tmp_path / "r")
    version = reg.register(tiny_model(), {"threshold": 0.5}, extra_files={"profile.bin": extra})
    assert (reg.version_dir(version) / "profile.bin").read_bytes() == b"profile"
    assert len(reg.metadata(version)["files"]["profile.bin"]) == 64


def _promote_many(root: str, versions: list[str], rounds: int) -> None:
    reg = Registry(root)
    for i in range(rounds):
        reg.promote(versions[i % len(versions)], actor=f"worker-{versions[0]}")


def _register_some(root: str, count: int) -> None:
    reg = Registry(root)
    for i in range(count):
        reg.register(tiny_model(i), {"threshold": 0.5})


def test_concurrent_promotions_never_corrupt_the_pointer(registry):
    ctx = mp.get_context("spawn")
    workers = [
        ctx.Process(target=_promote_many, args=(str(registry.root), vs, 15))
        for vs in (["v0001", "v0002"], ["v0002", "v0003"], ["v0003", "v0001"])
    ]
    for w in workers:
        w.start()
    seen = set()
    while any(w.is_alive() for w in workers):  # a reader never sees a half-written pointer
        seen.add(registry.production())
    for w in workers:
        w.join()
        assert w.exitcode == 0
    pointer = json.loads((registry.root / "production.json").read_text())
    assert pointer["version"] in {"v0001", "v0002", "v0003"}
    assert pointer["lineage"][-1] == pointer["version"]
    assert len(set(pointer["lineage"])) == len(pointer["lineage"])
    assert len(registry.history()) == 45
    assert seen <= {None, "v0001", "v0002", "v0003"}


def test_concurrent_registrations_get_distinct_versions(tmp_path):
    root = tmp_path / "r"
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_register_some, args=(str(root), 4)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        assert w.exitcode == 0
    reg = Registry(root)
    assert reg.versions() == [f"v{i:04d}" for i in range(1, 13)]
    for v in reg.versions():
        reg.load(v)


def test_a_candidate_with_a_known_fingerprint_is_not_registered_again(tmp_path):
    reg = Registry(tmp_path / "r")
    first, reused = reg.register_candidate(tiny_model(), {"threshold": 0.5, "fingerprint": "f1"})
    assert (first, reused) == ("v0001", False)
    reg.register_candidate(tiny_model(1), {"threshold": 0.5, "fingerprint": "f2"})
    again, reused = reg.register_candidate(tiny_model(), {"threshold": 0.5, "fingerprint": "f1"})
    assert (again, reused) == ("v0001", True)
    assert reg.versions() == ["v0001", "v0002"]


def test_latest_is_the_candidate_last_trained_even_when_it_was_matched(tmp_path):
    reg = Registry(tmp_path / "r")
    reg.register_candidate(tiny_model(), {"fingerprint": "f1"})
    reg.register_candidate(tiny_model(1), {"fingerprint": "f2"})
    assert reg.latest() == "v0002"
    reg.register_candidate(tiny_model(), {"fingerprint": "f1"})  # params of v0001 trained again
    assert reg.latest() == "v0001"  # so the evaluation step evaluates v0001, not v0002


def test_latest_falls_back_to_the_newest_version_when_its_pointer_is_stale(registry):
    (registry.root / "latest.json").write_text(json.dumps({"version": "v0042"}))
    assert registry.latest() == "v0003"


def test_history_records_whether_a_promotion_overrode_the_gate(registry):
    registry.promote("v0001")
    registry.promote("v0002", actor="alice", reason="gate too strict for this data", gate_overridden=True)
    first, second = registry.history()
    assert first["gate_overridden"] is False
    assert second["gate_overridden"] is True and second["reason"] == "gate too strict for this data"
