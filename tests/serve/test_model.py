"""serve/model.py: the model holder following the registry, and the in-process backend (C9.2, C9.3 API10).

A real registry (tests/api_support.py) copied per test: the holder loads production, follows
the pointer, refuses tampered files and models that need a feature the contract lacks.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import numpy as np
import pytest
import yaml
from api_support import CONTRACT, build_registry, training_data

from modelship.contract import load_contract
from modelship.registry import IntegrityError, Registry, RegistryError
from serve.model import LocalBackend, ModelHolder, card_of

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="Model holder and backend: production pointer, integrity, column order",
        scope="unit",
        strategy="example-based",
        tool="pytest, in-process (no Ray)",
    ),
]
# The marks each test brought from the module it was in before the layout followed the code.
EDGE_CASE = pytest.mark.requirement("C9.10")
ACROSS_REPLICAS = pytest.mark.catalogue(
    scope="integration", strategy="example-based, load", tool="pytest, multiprocessing, SQLite"
)
OWASP = pytest.mark.catalogue(part="API security: OWASP API Security Top 10 (2023), API10", strategy="attack")

ORDER = [f["name"] for f in yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))["features"]]


@EDGE_CASE
def test_the_holder_follows_the_production_pointer_when_synced(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    Registry(registry_root).promote("v0002", actor="tests")
    assert holder.sync() == "v0002" and holder.current.version == "v0002"


@EDGE_CASE
def test_a_sync_without_a_change_keeps_the_same_loaded_model(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    before = holder.current
    assert holder.sync() == "v0001" and holder.current is before


@EDGE_CASE
def test_a_pinned_version_wins_over_the_pointer(registry_root):
    holder = ModelHolder(registry_root, ORDER, pinned_version="v0002")
    Registry(registry_root).promote("v0001", actor="tests")
    assert holder.current.version == "v0002" and holder.sync() == "v0002"


@EDGE_CASE
def test_the_holder_refuses_to_start_without_a_production_model(registry_root):
    (registry_root / "production.json").unlink()
    with pytest.raises(RegistryError, match="make run"):
        ModelHolder(registry_root, ORDER)


@EDGE_CASE
def test_the_holder_refuses_to_start_on_a_tampered_model(registry_root):
    with pytest.raises(IntegrityError):
        ModelHolder(registry_root, ORDER, pinned_version="v0003")


@EDGE_CASE
def test_a_switch_to_a_model_tampered_after_promotion_is_refused_and_the_old_one_keeps_serving(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    reg = Registry(registry_root)
    reg.promote("v0002", actor="tests")
    model_file = reg.version_dir("v0002") / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"x")  # tampered after the registry checked it
    assert holder.sync() == "v0001"
    X, _, _ = training_data()
    assert holder.predict(X[:1]).version == "v0001"


@EDGE_CASE
def test_a_version_that_failed_to_load_is_not_reloaded_at_every_sync(registry_root, monkeypatch):
    holder = ModelHolder(registry_root, ORDER)
    reg = Registry(registry_root)
    reg.promote("v0002", actor="tests")
    model_file = reg.version_dir("v0002") / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"x")
    holder.sync()
    loads: list[str] = []
    monkeypatch.setattr(holder, "_load", lambda v: loads.append(v))
    assert holder.sync() == "v0001" and loads == []


@EDGE_CASE
def test_rows_in_contract_order_are_mapped_to_the_models_own_column_order(registry_root):
    X, _, features = training_data()
    as_trained = ModelHolder(registry_root, ORDER).predict(X[:3])
    # The API sends rows in the contract's order; here that order is the model's, reversed.
    mapped = ModelHolder(registry_root, feature_order=features[::-1]).predict(X[:3, ::-1].copy())
    assert mapped.probabilities == pytest.approx(as_trained.probabilities)


@EDGE_CASE
def test_a_version_that_failed_to_load_is_retried_when_asked_once_its_file_is_restored(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    reg = Registry(registry_root)
    reg.promote("v0002", actor="tests")
    model_file = reg.version_dir("v0002") / "model.skops"
    intact = model_file.read_bytes()
    model_file.write_bytes(intact + b"x")
    assert holder.sync() == "v0001"
    model_file.write_bytes(intact)  # the operator restores the file
    assert holder.sync() == "v0001"  # the poll does not retry on its own
    assert holder.sync(retry_failed=True) == "v0002"


@EDGE_CASE
def test_a_switch_to_a_model_needing_a_feature_the_contract_dropped_is_refused(registry_root):
    _, _, features = training_data()
    holder = ModelHolder(registry_root, feature_order=features)
    holder.feature_order = features[1:]  # the contract changed under the running replica
    Registry(registry_root).promote("v0002", actor="tests")
    assert holder.sync() == "v0001"


@EDGE_CASE
def test_an_unreadable_production_pointer_keeps_the_current_model(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    (registry_root / "production.json").write_text("{not json", encoding="utf-8")
    assert holder.sync() == "v0001"


@EDGE_CASE
def test_the_model_card_keeps_numeric_metrics_only_and_no_paths(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    loaded = holder.current
    loaded.metadata["metrics"] = {**loaded.metadata["metrics"], "passed_gate": True, "note": "text"}
    card = card_of(loaded)
    assert "passed_gate" not in card["metrics"] and "note" not in card["metrics"]
    assert all(isinstance(v, float) for v in card["metrics"].values())
    assert "model_file" not in card and str(registry_root) not in json.dumps(card)


@EDGE_CASE
def test_the_local_backend_scores_refreshes_and_is_ready(registry_root):
    backend = LocalBackend(ModelHolder(registry_root, ORDER))
    X, _, _ = training_data()

    async def run() -> tuple[Any, ...]:
        return (await backend.predict(X[:2]), await backend.card(), await backend.refresh(), await backend.ready())

    scores, card, version, ready = asyncio.run(run())
    assert len(scores.probabilities) == 2 and card["version"] == version == "v0001" and ready is True


def test_the_model_gets_its_columns_in_its_own_order_whatever_the_contract_order(tmp_path):
    build_registry(tmp_path / "reg", versions=1)
    X, _, features = training_data()
    reversed_order = list(reversed(features))
    as_is = ModelHolder(tmp_path / "reg", feature_order=features).predict(X[:3])
    shuffled = ModelHolder(tmp_path / "reg", feature_order=reversed_order).predict(X[:3, ::-1].copy())
    assert np.allclose(as_is.probabilities, shuffled.probabilities)


def test_a_model_needing_a_feature_outside_the_contract_is_refused(tmp_path):
    build_registry(tmp_path / "reg", versions=1)
    _, _, features = training_data()
    with pytest.raises(RegistryError, match="retrain it on the current contract"):
        ModelHolder(tmp_path / "reg", feature_order=features[1:])


@ACROSS_REPLICAS
def test_a_replica_sees_the_pointer_move_and_follows_it_before_scoring(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    registry = Registry(registry_root)
    assert not holder.pointer_moved()
    registry.promote("v0002", actor="tests", reason="pointer test")
    assert holder.pointer_moved()
    assert holder.sync() == "v0002" and not holder.pointer_moved()
    pinned = ModelHolder(registry_root, ORDER, pinned_version="v0001")
    registry.rollback(actor="tests", reason="pointer test")
    assert holder.pointer_moved() and not pinned.pointer_moved()  # a pinned replica ignores it


@ACROSS_REPLICAS
def test_while_a_new_version_loads_the_pointer_still_reads_as_moved(registry_root, monkeypatch):
    """The poller may be loading the new version when a request checks: the request must wait
    for that load (pointer_moved stays true until it is done), not score with the old model."""
    holder = ModelHolder(registry_root, ORDER)
    Registry(registry_root).promote("v0002", actor="tests", reason="slow load")
    real_load, loading, release = holder.registry.load, threading.Event(), threading.Event()

    def slow_load(version):
        loading.set()
        release.wait(10)
        return real_load(version)

    monkeypatch.setattr(holder.registry, "load", slow_load)
    poller = threading.Thread(target=holder.sync)
    poller.start()
    assert loading.wait(10)
    assert holder.pointer_moved() and holder.current.version == "v0001"
    release.set()
    poller.join(10)
    assert not holder.pointer_moved() and holder.current.version == "v0002"


@pytest.mark.requirement("C9.1")
@OWASP
def test_api10_a_tampered_production_model_refuses_to_load_with_a_clear_error(registry_root):
    copy = registry_root  # a copy of its own for this test
    reg = Registry(copy)
    model_file = reg.version_dir(reg.production()) / "model.skops"
    model_file.write_bytes(model_file.read_bytes()[:-10])
    with pytest.raises(IntegrityError, match="checksum mismatch.*restore it or re-run `make train`"):
        ModelHolder(copy, [f.name for f in load_contract(CONTRACT).features])
