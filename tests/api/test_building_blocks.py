"""The API's building blocks without Ray: schema generation, problems, store, limits, guard (C9.2, C9.3).

Fast unit tests of the modules serve/app.py assembles; the endpoint tests run the real service.
"""
import sqlite3

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from modelship.contract import load_contract, parse_contract
from serve.guard import Guard
from serve.problems import validation_params
from serve.ratelimit import SharedTokenBuckets, retry_after_header
from serve.schemas import contract_models, record_model
from tests.serve.api.inproc_support import settings_of
from serve.store import FeedbackExists, PredictionRow, Store
from tests.api.builders import CONTRACT, sample_records

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="API building blocks: record schema, problems, store, limits, guard",
        scope="unit", strategy="example-based", tool="pytest, in-process (no Ray)",
    ),
]

TOY = parse_contract({
    "name": "toy", "target": {"name": "y", "classes": ["yes", "no"], "positive": "yes"},
    "features": [{"name": "count", "type": "int", "min": 0, "max": 10, "description": "a count"},
                 {"name": "colour", "type": "category", "categories": ["red", "blue"], "description": "a colour"}],
})


def test_the_record_model_has_every_contract_feature_required_in_order():
    model = record_model(load_contract(CONTRACT))
    schema = model.model_json_schema()
    assert list(schema["properties"]) == load_contract(CONTRACT).feature_names == schema["required"]
    # The API reads a validated record's values in this order, whatever order the client sent.
    shuffled = dict(reversed(list(sample_records(1)[0].items())))
    assert list(model.model_validate(shuffled).__dict__) == load_contract(CONTRACT).feature_names


def test_int_and_category_features_are_typed_from_the_contract():
    model = record_model(TOY)
    assert model.model_validate({"count": 3, "colour": "red"})
    for bad in ({"count": 3.5, "colour": "red"}, {"count": 3, "colour": "green"}, {"count": 11, "colour": "red"}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_the_batch_cap_becomes_max_items_in_the_schema():
    request = contract_models(load_contract(CONTRACT), max_rows=7).predict_request
    assert request.model_json_schema()["properties"]["records"]["maxItems"] == 7


def test_validation_params_name_the_field_and_the_bound_without_echoing_the_input():
    request = contract_models(TOY, max_rows=5).predict_request
    with pytest.raises(ValidationError) as info:
        request.model_validate({"records": [{"count": 99, "colour": "red", "secret": "s3cr3t"}]})
    params = validation_params(info.value.errors())
    assert {"name": "records.0.count", "reason": "Input should be less than or equal to 10"} in params
    assert all("s3cr3t" not in p["reason"] for p in params)


def test_settings_refuse_a_cors_wildcard():
    with pytest.raises(ValidationError, match="explicitly"):
        settings_of(cors_origins=["*"])


def test_per_client_limits_override_the_defaults():
    s = settings_of(clients={"big": {"row_quota": {"limit": 9, "window_s": 1}}}).limits
    assert s.for_client("big")[1].limit == 9 and s.for_client("other")[1].limit == s.row_quota.limit


def test_token_buckets_refill_over_time_and_say_how_long_to_wait(tmp_path):
    now = [0.0]
    buckets = SharedTokenBuckets(tmp_path / "l.sqlite3", "requests", clock=lambda: now[0])
    assert [buckets.take("c", 1, 2, 10) for _ in range(2)] == [0.0, 0.0]
    wait = buckets.take("c", 1, 2, 10)
    assert wait == pytest.approx(5.0)
    assert retry_after_header(wait) == {"Retry-After": "5"}
    now[0] = 5.0
    assert buckets.take("c", 1, 2, 10) == 0.0
    assert buckets.take("other", 1, 2, 10) == 0.0  # clients do not share a bucket


def test_a_cost_larger_than_the_limit_can_never_pass(tmp_path):
    assert SharedTokenBuckets(tmp_path / "l.sqlite3", "rows").take("c", 11, 10, 60) == 60


def _row(pid="a" * 32, client="c"):
    return PredictionRow(pid, client, "2026-01-01T00:00:00Z", "v0001", "benign", 0.1, 0.3, "[1.0]")


def test_predictions_are_visible_before_the_flush_and_stored_after_it(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    store.add_predictions([_row()])
    assert store.get_prediction("a" * 32)[0].client_id == "c"
    assert store.flush() == 1
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == 1


def test_feedback_is_committed_at_once_and_never_overwritten(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    store.add_predictions([_row()])
    store.add_feedback("a" * 32, "c", "malignant")  # flushes the pending prediction first
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:  # another connection sees it: committed
        assert db.execute("SELECT label FROM feedback").fetchone() == ("malignant",)
    with pytest.raises(FeedbackExists):
        store.add_feedback("a" * 32, "c", "benign")
    assert store.get_prediction("a" * 32)[1] == "malignant"


def test_the_store_runs_in_wal_mode(tmp_path):
    Store(tmp_path / "s.sqlite3")
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.fixture
def guarded():
    app = FastAPI()

    @app.post("/v1/echo")
    async def echo(body: dict) -> dict:
        return body

    app.add_middleware(Guard, max_body_bytes=100, cors_origins=["http://ok.test"])
    return TestClient(app)


def test_the_guard_passes_small_bodies_through_and_adds_security_headers(guarded):
    r = guarded.post("/v1/echo", json={"a": 1})
    assert r.json() == {"a": 1}
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def test_the_guard_refuses_a_body_over_the_limit_with_a_413_problem(guarded):
    r = guarded.post("/v1/echo", json={"a": "x" * 200})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_the_guard_answers_cors_only_for_allowed_origins(guarded):
    assert guarded.post("/v1/echo", json={}, headers={"Origin": "http://ok.test"}).headers[
        "access-control-allow-origin"] == "http://ok.test"
    assert "access-control-allow-origin" not in guarded.post("/v1/echo", json={}, headers={"Origin": "http://no.test"}).headers


def test_sample_records_fit_the_contract():
    record_model(load_contract(CONTRACT)).model_validate(sample_records(1)[0])


def test_the_model_gets_its_columns_in_its_own_order_whatever_the_contract_order(tmp_path):
    import numpy as np

    from serve.model import ModelHolder
    from tests.api.builders import build_registry, training_data

    build_registry(tmp_path / "reg", versions=1)
    X, _, features = training_data()
    reversed_order = list(reversed(features))
    as_is = ModelHolder(tmp_path / "reg", feature_order=features).predict(X[:3])
    shuffled = ModelHolder(tmp_path / "reg", feature_order=reversed_order).predict(X[:3, ::-1].copy())
    assert np.allclose(as_is.probabilities, shuffled.probabilities)


def test_a_model_needing_a_feature_outside_the_contract_is_refused(tmp_path):
    from modelship.registry import RegistryError
    from serve.model import ModelHolder
    from tests.api.builders import build_registry, training_data

    build_registry(tmp_path / "reg", versions=1)
    _, _, features = training_data()
    with pytest.raises(RegistryError, match="retrain it on the current contract"):
        ModelHolder(tmp_path / "reg", feature_order=features[1:])
