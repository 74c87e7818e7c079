"""serve/store.py: the SQLite store of predictions and feedback, and prediction ids (C9.2, C9.3).

On real SQLite files in tmp_path; two in-process apps on one database stand for two replicas.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from typing import Any

import numpy as np
import pytest

from serve.store import FeedbackExists, PredictionRow, Store, new_prediction_ids, prediction_id_age_s

pytestmark = [
    pytest.mark.requirement("C9.2", "C9.3"),
    pytest.mark.catalogue(
        part="Store: predictions buffered then flushed, feedback committed, prediction ids",
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


def _row(pid: str = "a" * 32, client: str = "c", features: Any = "[1.0]") -> PredictionRow:
    return PredictionRow(pid, client, "2026-01-01T00:00:00.000+00:00", "v0001", "benign", 0.1, 0.3, features)


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


@EDGE_CASE
def test_a_flush_with_nothing_pending_writes_nothing(tmp_path):
    assert Store(tmp_path / "s.sqlite3").flush() == 0


@EDGE_CASE
def test_a_failed_flush_rolls_back_and_keeps_the_rows_for_the_next_one(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    # A value SQLite cannot bind: the batch insert fails for real, mid-transaction.
    store.add_predictions([_row("a" * 32), _row("b" * 32, features={"not": "bindable"})])
    with pytest.raises(sqlite3.Error):
        store.flush()
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == 0
    assert store.get_prediction("a" * 32) is not None and store.get_prediction("b" * 32) is not None


@EDGE_CASE
def test_closing_the_store_flushes_the_pending_predictions(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    store.add_predictions([_row()])
    store.close()
    assert Store(tmp_path / "s.sqlite3").get_prediction("a" * 32)[0].features == "[1.0]"


@EDGE_CASE
def test_a_stored_row_gives_its_features_back_as_a_list(tmp_path):
    assert _row(features="[1.5, 2.0]").feature_values() == [1.5, 2.0]
    # Numeric records are stored as float64 bytes, and read back exactly.
    store = Store(tmp_path / "s.sqlite3")
    store.add_predictions([_row(features=np.array([0.1, 2.0, 1e-300]).tobytes())])
    store.flush()
    assert store.get_prediction("a" * 32)[0].feature_values() == [0.1, 2.0, 1e-300]


@EDGE_CASE
def test_the_store_creates_its_folder(tmp_path):
    Store(tmp_path / "deep" / "er" / "s.sqlite3")
    assert (tmp_path / "deep" / "er" / "s.sqlite3").exists()


@EDGE_CASE
def test_prediction_ids_are_32_hex_characters_ordered_by_time_and_random_after_the_timestamp():
    ids = [i for _ in range(100) for i in new_prediction_ids(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # The first 12 characters are the creation time in ms: they never go backwards.
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
    # The other 80 bits are random: ids of the same millisecond still differ there.
    assert len({i[12:] for i in ids}) == len(ids)


@EDGE_CASE
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


@ACROSS_REPLICAS
def test_a_prediction_id_tells_its_age():
    assert 0 <= prediction_id_age_s(new_prediction_ids(1)[0]) < 1
    assert prediction_id_age_s("0" * 32) > 1e9
    assert prediction_id_age_s("zz" + "0" * 30) == float("inf")


@ACROSS_REPLICAS
def test_a_prediction_buffered_by_another_replica_is_found_once_flushed(make_api):
    # two replicas: one database, two buffers; the first flushes only when the test says so
    made_here, elsewhere = make_api(prediction_flush_s=3600), make_api()
    pid = made_here.predict().json()["predictions"][0]["prediction_id"]
    assert elsewhere.store.get_prediction(pid) is None  # still in the first replica's buffer
    threading.Timer(0.2, made_here.store.flush).start()
    r = elsewhere.client.get(f"/v1/predictions/{pid}", headers=elsewhere.headers("clinic"))
    assert r.status_code == 200, r.text
    f = elsewhere.client.post(
        "/v1/feedback", json={"prediction_id": pid, "label": "benign"}, headers=elsewhere.headers("clinic")
    )
    assert f.status_code == 201, f.text


@ACROSS_REPLICAS
def test_an_old_or_invented_id_is_not_waited_for(api):
    for pid in ("0" * 32, "f" * 32):  # issued at the epoch; a stamp far in the future
        start = time.monotonic()
        r = api.client.get(f"/v1/predictions/{pid}", headers=api.headers("clinic"))
        assert r.status_code == 404
        assert time.monotonic() - start < 1.0  # a fresh id's wait is over a second
