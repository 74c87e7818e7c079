"""Login throttling against the running app: per username, per address, and the wait it announces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import LiveApp, add_user, init_db, post_form, serve, write_settings

pytestmark = [
    pytest.mark.requirement("C10.1"),
    pytest.mark.catalogue(
        part="Lab app: login throttling", scope="system", strategy="attack", tool="pytest + httpx, uvicorn"
    ),
]


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    path: Path = write_settings(
        tmp_path_factory.mktemp("throttle"),
        login={"window_minutes": 15, "max_failures_per_user": 3, "max_failures_per_address": 6},
    )
    init_db(path)
    with serve(path) as app:
        yield app


def test_a_username_is_locked_after_repeated_failures_even_for_the_right_password(strict: LiveApp) -> None:
    add_user(strict.settings, "ivan")
    add_user(strict.settings, "jane")
    client = strict.client()
    for _ in range(3):
        assert post_form(client, "/login", {"username": "ivan", "password": "a wrong passphrase"}).status_code == 401
    locked = post_form(client, "/login", {"username": "ivan", "password": "a long test passphrase"})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert "Too many failed sign-ins. Wait 15 minutes" in locked.text
    # another account from the same address is not locked by ivan's failures
    assert post_form(client, "/login", {"username": "jane", "password": "a long test passphrase"}).status_code == 303


def test_an_address_is_locked_after_failures_across_usernames(strict: LiveApp) -> None:
    add_user(strict.settings, "kim")
    client = strict.client()
    statuses = [
        post_form(client, "/login", {"username": f"guess{n}", "password": "a wrong passphrase"}).status_code
        for n in range(6)
    ]
    # ivan's three failures from the first test count for this address too
    assert statuses[:3] == [401, 401, 401] and set(statuses[3:]) == {429}
    assert post_form(client, "/login", {"username": "kim", "password": "a long test passphrase"}).status_code == 429
