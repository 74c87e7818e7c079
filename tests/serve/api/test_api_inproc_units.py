"""Edge cases of the API's building blocks: model holder, problems, store, spec, settings, limits, guard (C9.2, C9.3, C9.10).

What the route tests cannot reach through HTTP: the model holder following the registry, the
problem handlers for statuses no route raises, a failed store flush, the OpenAPI export from a
config file, path resolution and the bounded token buckets. tests/api/test_building_blocks.py
covers the common cases of the same modules.
"""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from modelship.registry import IntegrityError, Registry, RegistryError
from serve.guard import Guard
from serve.model import LocalBackend, ModelHolder, card_of
from serve.problems import install, kind_for, validation_params
from serve.ratelimit import SharedTokenBuckets, retry_after_header
from serve.settings import ROOT_ENV, Settings, project_root, resolve
from serve.spec import openapi_document, render, write_openapi
from serve.store import PredictionRow, Store, new_prediction_ids
from support import write_params
from tests.api.builders import CONTRACT, training_data
from tests.serve.api.inproc_support import problem, settings_of

ORDER = [f["name"] for f in yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))["features"]]

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3", "C9.10"),
    pytest.mark.catalogue(
        part="Serve building blocks: model holder, problems, store, spec, settings, limits, guard",
        scope="unit", strategy="example-based", tool="pytest, in-process (no Ray)",
    ),
]

# -- the model holder --------------------------------------------------------------------------


def test_the_holder_follows_the_production_pointer_when_synced(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    Registry(registry_root).promote("v0002", actor="tests")
    assert holder.sync() == "v0002" and holder.current.version == "v0002"


def test_a_sync_without_a_change_keeps_the_same_loaded_model(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    before = holder.current
    assert holder.sync() == "v0001" and holder.current is before


def test_a_pinned_version_wins_over_the_pointer(registry_root):
    holder = ModelHolder(registry_root, ORDER, pinned_version="v0002")
    Registry(registry_root).promote("v0001", actor="tests")
    assert holder.current.version == "v0002" and holder.sync() == "v0002"


def test_the_holder_refuses_to_start_without_a_production_model(registry_root):
    (registry_root / "production.json").unlink()
    with pytest.raises(RegistryError, match="make run"):
        ModelHolder(registry_root, ORDER)


def test_the_holder_refuses_to_start_on_a_tampered_model(registry_root):
    with pytest.raises(IntegrityError):
        ModelHolder(registry_root, ORDER, pinned_version="v0003")


def test_a_switch_to_a_model_tampered_after_promotion_is_refused_and_the_old_one_keeps_serving(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    reg = Registry(registry_root)
    reg.promote("v0002", actor="tests")
    model_file = reg.version_dir("v0002") / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"x")  # tampered after the registry checked it
    assert holder.sync() == "v0001"
    X, _, _ = training_data()
    assert holder.predict(X[:1]).version == "v0001"


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


def test_rows_in_contract_order_are_mapped_to_the_models_own_column_order(registry_root):
    X, _, features = training_data()
    as_trained = ModelHolder(registry_root, ORDER).predict(X[:3])
    # The API sends rows in the contract's order; here that order is the model's, reversed.
    mapped = ModelHolder(registry_root, feature_order=features[::-1]).predict(X[:3, ::-1].copy())
    assert mapped.probabilities == pytest.approx(as_trained.probabilities)


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


def test_a_switch_to_a_model_needing_a_feature_the_contract_dropped_is_refused(registry_root):
    _, _, features = training_data()
    holder = ModelHolder(registry_root, feature_order=features)
    holder.feature_order = features[1:]  # the contract changed under the running replica
    Registry(registry_root).promote("v0002", actor="tests")
    assert holder.sync() == "v0001"


def test_an_unreadable_production_pointer_keeps_the_current_model(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    (registry_root / "production.json").write_text("{not json", encoding="utf-8")
    assert holder.sync() == "v0001"


def test_the_model_card_keeps_numeric_metrics_only_and_no_paths(registry_root):
    holder = ModelHolder(registry_root, ORDER)
    loaded = holder.current
    loaded.metadata["metrics"] = {**loaded.metadata["metrics"], "passed_gate": True, "note": "text"}
    card = card_of(loaded)
    assert "passed_gate" not in card["metrics"] and "note" not in card["metrics"]
    assert all(isinstance(v, float) for v in card["metrics"].values())
    assert "model_file" not in card and str(registry_root) not in json.dumps(card)


def test_the_local_backend_scores_refreshes_and_is_ready(registry_root):
    backend = LocalBackend(ModelHolder(registry_root, ORDER))
    X, _, _ = training_data()

    async def run() -> tuple[Any, ...]:
        return (await backend.predict(X[:2]), await backend.card(), await backend.refresh(), await backend.ready())

    scores, card, version, ready = asyncio.run(run())
    assert len(scores.probabilities) == 2 and card["version"] == version == "v0001" and ready is True


# -- problems ----------------------------------------------------------------------------------


@pytest.fixture
def bare() -> TestClient:
    """A bare app with only the problem handlers: routes raise what no route of the API raises."""
    app = FastAPI()
    install(app)

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, detail="short and stout")

    @app.get("/structured")
    async def structured() -> None:
        raise HTTPException(400, detail={"not": "a string"})

    return TestClient(app)


def test_an_http_error_with_an_unmapped_status_is_a_generic_problem_with_its_detail(bare):
    body = problem(bare.get("/teapot"), 418)
    assert body["type"].endswith("/http-error") and body["detail"] == "short and stout"


def test_an_http_error_with_a_structured_detail_shows_the_status_phrase_not_the_structure(bare):
    body = problem(bare.get("/structured"), 400)
    assert body["detail"] == "Bad Request" and body["type"].endswith("/bad-request")


def test_each_known_status_has_its_problem_kind():
    assert (kind_for(404), kind_for(429), kind_for(503), kind_for(599)) == (
        "not-found", "too-many-requests", "service-unavailable", "http-error")


def test_validation_params_keep_at_most_fifty_entries():
    errors = [{"loc": ("body", "records", i), "msg": "bad", "type": "x"} for i in range(500)]
    assert len(validation_params(errors)) == 50


def test_validation_params_add_the_constraint_when_the_message_lacks_it():
    (param,) = validation_params([{"loc": ("query", "n"), "msg": "too small", "type": "x", "ctx": {"ge": 3}}])
    assert param == {"name": "n", "reason": "too small (ge=3)"}


def test_validation_params_name_the_body_when_the_error_has_no_location():
    assert validation_params([{"loc": ("body",), "msg": "Field required", "type": "missing"}]) == [
        {"name": "body", "reason": "this field is required"}]


# -- store -------------------------------------------------------------------------------------


def _row(pid: str = "a" * 32, client: str = "c", features: Any = "[1.0]") -> PredictionRow:
    return PredictionRow(pid, client, "2026-01-01T00:00:00.000+00:00", "v0001", "benign", 0.1, 0.3, features)


def test_a_flush_with_nothing_pending_writes_nothing(tmp_path):
    assert Store(tmp_path / "s.sqlite3").flush() == 0


def test_a_failed_flush_rolls_back_and_keeps_the_rows_for_the_next_one(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    # A value SQLite cannot bind: the batch insert fails for real, mid-transaction.
    store.add_predictions([_row("a" * 32), _row("b" * 32, features={"not": "bindable"})])
    with pytest.raises(sqlite3.Error):
        store.flush()
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == 0
    assert store.get_prediction("a" * 32) is not None and store.get_prediction("b" * 32) is not None


def test_closing_the_store_flushes_the_pending_predictions(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    store.add_predictions([_row()])
    store.close()
    assert Store(tmp_path / "s.sqlite3").get_prediction("a" * 32)[0].features == "[1.0]"


def test_a_stored_row_gives_its_features_back_as_a_list(tmp_path):
    assert _row(features="[1.5, 2.0]").feature_values() == [1.5, 2.0]
    # Numeric records are stored as float64 bytes, and read back exactly.
    store = Store(tmp_path / "s.sqlite3")
    store.add_predictions([_row(features=np.array([0.1, 2.0, 1e-300]).tobytes())])
    store.flush()
    assert store.get_prediction("a" * 32)[0].feature_values() == [0.1, 2.0, 1e-300]


def test_the_store_creates_its_folder(tmp_path):
    Store(tmp_path / "deep" / "er" / "s.sqlite3")
    assert (tmp_path / "deep" / "er" / "s.sqlite3").exists()


# -- spec --------------------------------------------------------------------------------------


def _config(path: Path, args: dict[str, Any], name: str = "modelship") -> Path:
    path.write_text(yaml.safe_dump({"applications": [{"name": "other", "args": {}}, {"name": name, "args": args}]}),
                    encoding="utf-8")
    return path


def _params(tmp_path: Path) -> str:
    return str(write_params(tmp_path / "params.yaml", registry=str(tmp_path / "reg"), contract=str(CONTRACT)))


def test_settings_are_read_from_the_named_application_of_a_serve_config(tmp_path):
    config = _config(tmp_path / "c.yaml", {"service": {"max_batch_rows": 7}})
    assert Settings.from_config(config).service.max_batch_rows == 7


def test_a_config_without_the_application_is_refused_naming_it(tmp_path):
    with pytest.raises(KeyError, match="modelship"):
        Settings.from_config(_config(tmp_path / "c.yaml", {}, name="else"))


def test_a_missing_config_file_is_refused_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        Settings.from_config(tmp_path / "nowhere.yaml")


def test_the_openapi_document_is_built_without_a_model_or_a_service(tmp_path):
    spec = openapi_document(settings_of(params=_params(tmp_path), max_batch_rows=4))
    assert spec["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] == 4


def test_write_openapi_writes_a_stable_sorted_document(tmp_path):
    config = _config(tmp_path / "c.yaml", {"paths": {"params": _params(tmp_path)}})
    out = tmp_path / "out" / "openapi.json"
    write_openapi(config, out)
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n") and text == render(json.loads(text))


# -- settings ----------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_project_root_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({**yaml.safe_load(open(_params(tmp_path))),
                                                     "registry": "reg", "contract": "c.yaml"}))
    s = settings_of(params="p.yaml", state_dir="st", data_dir="d").paths
    assert (s.registry, s.contract, s.state, s.store, s.limits) == (
        tmp_path / "reg", tmp_path / "c.yaml", tmp_path / "st", tmp_path / "d" / "api.sqlite3",
        tmp_path / "d" / "limits.sqlite3")


def test_the_registry_and_contract_paths_come_from_the_params_file_only(tmp_path):
    with pytest.raises(ValidationError, match="extra"):
        settings_of(params=_params(tmp_path)).model_validate({"paths": {"registry": "models/registry"}})


def test_without_the_variable_relative_paths_resolve_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path and resolve("x") == tmp_path / "x"


def test_absolute_paths_are_kept(tmp_path):
    assert resolve(tmp_path / "x") == tmp_path / "x"


def test_a_cors_wildcard_is_refused():
    with pytest.raises(ValidationError, match="explicitly"):
        settings_of(cors_origins=["http://ok.test", "*"])


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValidationError, match="extra"):
        Settings.from_args({"service": {"max_rows": 5}})


def test_an_unknown_section_is_refused():
    with pytest.raises(ValidationError, match="extra"):
        Settings.from_args({"servise": {}})


def test_a_limit_must_be_positive():
    with pytest.raises(ValidationError):
        settings_of(rate_limit={"limit": 0, "window_s": 60})


def test_a_client_override_of_one_limit_keeps_the_default_of_the_other():
    s = settings_of(clients={"x": {"rate_limit": {"limit": 1, "window_s": 1}}}).limits
    rate, rows = s.for_client("x")
    assert rate.limit == 1 and rows == s.row_quota


def test_the_environment_overrides_a_field_of_the_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSHIP_PATHS__STATE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MODELSHIP_LIMITS__RATE_LIMIT__LIMIT", "5")
    config = _config(tmp_path / "c.yaml", {"paths": {"state_dir": "here"},
                                           "limits": {"rate_limit": {"limit": 600, "window_s": 60}}})
    s = Settings.from_config(config)
    assert s.paths.state == tmp_path / "elsewhere"
    assert (s.limits.rate_limit.limit, s.limits.rate_limit.window_s) == (5, 60)


def test_a_secret_written_in_the_config_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="MODELSHIP_JWT_SECRET"):
        Settings.from_config(_config(tmp_path / "c.yaml", {"jwt_secret": "x" * 40}))


def test_the_jwt_secret_comes_from_the_environment_into_the_auth_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSHIP_JWT_SECRET", "s" * 40)
    auth = Settings.from_args({}).auth_settings(tmp_path)
    assert auth.jwt_secret == "s" * 40 and auth.state_dir == tmp_path
    assert "s" * 40 not in repr(Settings.from_args({}))


def test_the_auth_section_sets_the_token_lifetimes(tmp_path):
    auth = Settings.from_args({"auth": {"access_ttl_s": 60, "refresh_ttl_s": 120}}).auth_settings(tmp_path)
    assert (auth.access_ttl_s, auth.refresh_ttl_s) == (60, 120)


# -- rate limits -------------------------------------------------------------------------------


def test_a_full_bucket_is_forgotten_when_the_file_is_pruned(tmp_path):
    now = [0.0]
    buckets = SharedTokenBuckets(tmp_path / "l.sqlite3", "requests", clock=lambda: now[0])
    buckets.PRUNE_EVERY = 2
    buckets.take("a", 1, 1, 60)
    now[0] = 120.0  # "a" has refilled: a bucket as good as none
    buckets.take("b", 1, 1, 60)
    keys = {k for (k,) in buckets._db.execute("SELECT key FROM buckets")}
    assert keys == {"requests:b"}
    buckets.close()


def test_retry_after_is_at_least_one_second_and_rounded_up():
    assert retry_after_header(0.01) == {"Retry-After": "1"} and retry_after_header(2.1) == {"Retry-After": "3"}


# -- guard -------------------------------------------------------------------------------------


def test_the_guard_hands_further_reads_to_the_server_after_replaying_the_body():
    reads: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reads.append(await receive())
        reads.append(await receive())  # as a streaming response does, listening for a disconnect
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    messages = [{"type": "http.request", "body": b"ab", "more_body": True},
                {"type": "http.request", "body": b"c", "more_body": False},
                {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": []}
    asyncio.run(Guard(app, max_body_bytes=10, cors_origins=[])(scope, receive, send))
    assert reads == [{"type": "http.request", "body": b"abc", "more_body": False}, {"type": "http.disconnect"}]
    assert (b"cache-control", b"no-store") in sent[0]["headers"]



def test_prediction_ids_are_32_hex_characters_ordered_by_time_and_random_after_the_timestamp():
    ids = [i for _ in range(100) for i in new_prediction_ids(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # The first 12 characters are the creation time in ms: they never go backwards.
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
    # The other 80 bits are random: ids of the same millisecond still differ there.
    assert len({i[12:] for i in ids}) == len(ids)


def test_a_reader_sees_a_prediction_while_its_flush_is_writing_and_after(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    store.add_predictions([_row("a" * 32)])
    entered, release = threading.Event(), threading.Event()
    real = store._writer

    class SlowWriter:
        # Holds the flush mid-write, so the test can read while the write is under way.
        def execute(self, sql, *args):
            if sql == "COMMIT":
                entered.set()
                release.wait(5)
            return real.execute(sql, *args)

        def executemany(self, sql, rows):
            return real.executemany(sql, rows)

    store._writer = SlowWriter()
    flusher = threading.Thread(target=store.flush)
    flusher.start()
    assert entered.wait(5)
    # The flush holds no lock readers or writers of the request path need while it writes.
    store.add_predictions([_row("b" * 32)])
    assert store.get_prediction("a" * 32) is not None
    release.set()
    flusher.join(5)
    assert store.get_prediction("a" * 32) is not None and store.get_prediction("b" * 32) is not None
    store._writer = real
    assert store.flush() == 1


def test_the_application_is_one_deployment_holding_the_model():
    from serve.app import Ingress, build
    app = build({})
    assert app._bound_deployment.name == "Ingress"
    assert app._bound_deployment.func_or_class is Ingress.func_or_class
    # No handle argument: the model is in the replica, not in another deployment.
    assert not any(hasattr(a, "_bound_deployment") for a in app._bound_deployment.init_args)


def test_the_application_refuses_invalid_settings_before_deploying():
    from serve.app import build
    with pytest.raises(ValidationError):
        build({"topology": "split"})
