"""The API client's renewal, retry and errors, against a real HTTP server on 127.0.0.1
(tests/stub_api.py) that hands out and checks tokens as the API's documentation says."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pathlab import model_api
from pathlab.model_api import ModelApi
from pathlab.settings import ModelApiSettings, SettingsError, load_settings
from stub_api import CLIENT_ID, SECRET, Injected, Stub, stub_api
from support import write_settings

pytestmark = [
    pytest.mark.requirement("C10.3", "C10.6"),
    pytest.mark.catalogue(
        part="Lab app: the model API client (tokens, renewal, retry, errors)",
        scope="unit",
        strategy="fault injection",
        tool="pytest, http.server, httpx",
    ),
]

T = TypeVar("T")
RECORD = {"mean_radius": 18.0, "mean_texture": 10.0}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stub() -> Iterator[Stub]:
    with stub_api() as s:
        yield s


def _client(url: str, clock: Clock | None = None, secret: str | None = SECRET, **kw: Any) -> ModelApi:
    settings = ModelApiSettings(enabled=True, base_url=url, client_id=CLIENT_ID, renew_before_s=60, **kw)
    return ModelApi(settings, secret, clock=clock or Clock())


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_first_call_authenticates_then_reuses_the_token(stub: Stub) -> None:
    async def go() -> None:
        api = _client(stub.url)
        first = await api.predict(RECORD)
        second = await api.predict(RECORD)
        await api.aclose()
        assert first.prediction_id != second.prediction_id
        assert first.label == "malignant" and first.threshold == 0.3 and first.model_version == "v0007"

    run(go())
    assert stub.state.count("/v1/auth/token") == 1
    token_request = next(r for r in stub.state.requests if r.path == "/v1/auth/token")
    assert token_request.content_type == "application/x-www-form-urlencoded"
    assert token_request.body["grant_type"] == "client_credentials"


def test_renews_before_expiry_with_the_refresh_token_and_keeps_the_newest(stub: Stub) -> None:
    clock = Clock()

    async def go() -> None:
        api = _client(stub.url, clock)
        for _ in range(4):
            await api.predict(RECORD)
            clock.now += 900 - 59  # within renew_before_s of the expiry: renew before the next call
        await api.aclose()
        assert api.renewals["refresh"] == 3 and api.renewals["refresh_refused"] == 0

    run(go())
    assert stub.state.count("/v1/auth/token") == 1
    assert stub.state.count("/v1/auth/refresh") == 3
    # each refresh presented a different token: the newest, never a used one
    presented = [r.body["refresh_token"] for r in stub.state.requests if r.path == "/v1/auth/refresh"]
    assert len(set(presented)) == 3
    assert not stub.state.revoked_families


def test_a_401_renews_once_and_repeats_once(stub: Stub) -> None:
    async def go() -> None:
        api = _client(stub.url)
        await api.predict(RECORD)
        stub.state.drop_access_tokens()
        await api.predict(RECORD)
        assert api.renewals["after_401"] == 1
        await api.aclose()

    run(go())
    assert stub.state.count("/v1/predict") == 3  # the first, the refused one, its single repeat


def test_a_401_after_renewal_is_an_error_not_a_loop(stub: Stub) -> None:
    async def go() -> None:
        api = _client(stub.url)
        await api.predict(RECORD)
        stub.state.inject["/v1/predict"] = [Injected(401), Injected(401), Injected(401)]
        with pytest.raises(model_api.Unauthorized):
            await api.predict(RECORD)
        await api.aclose()

    run(go())
    assert stub.state.count("/v1/predict") == 3  # one call, one repeat: not a third


def test_a_refused_refresh_falls_back_to_the_credentials(stub: Stub) -> None:
    clock = Clock()

    async def go() -> None:
        api = _client(stub.url, clock)
        await api.predict(RECORD)
        stub.state.refresh.clear()  # as when the session's 8 hours are over
        clock.now += 900
        await api.predict(RECORD)
        assert api.renewals == {"client_credentials": 2, "refresh": 0, "refresh_refused": 1, "after_401": 0}
        await api.aclose()

    run(go())


def test_concurrent_requests_share_one_renewal(stub: Stub) -> None:
    clock = Clock()

    async def go() -> None:
        api = _client(stub.url, clock)
        await asyncio.gather(*(api.predict(RECORD) for _ in range(12)))
        clock.now += 900
        await asyncio.gather(*(api.predict(RECORD) for _ in range(12)))
        stub.state.drop_access_tokens()
        await asyncio.gather(*(api.predict(RECORD) for _ in range(12)))
        await api.aclose()

    run(go())
    assert stub.state.count("/v1/auth/token") == 1
    # one refresh when the token expired, one after the 401s: two concurrent refreshes of one token
    # would count as reuse and end the family
    assert stub.state.count("/v1/auth/refresh") == 2
    assert not stub.state.revoked_families


def test_revoke_gives_the_refresh_token_back(stub: Stub) -> None:
    async def go() -> None:
        api = _client(stub.url)
        await api.predict(RECORD)
        await api.revoke()
        await api.predict(RECORD)  # a new session with the credentials
        await api.aclose()

    run(go())
    assert stub.state.count("/v1/auth/revoke") == 1 and len(stub.state.revoked_families) == 1
    assert stub.state.count("/v1/auth/token") == 2


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after", "transient"),
    [
        (403, {}, model_api.Forbidden, None, False),
        (422, {}, model_api.Invalid, None, False),
        (429, {"Retry-After": "7"}, model_api.RateLimited, 7, True),
        (503, {"Retry-After": "3"}, model_api.Unavailable, 3, True),
        (500, {}, model_api.BadAnswer, None, True),
    ],
)
def test_refusals_are_typed_errors(
    stub: Stub,
    status: int,
    headers: dict[str, str],
    error: type[model_api.ModelApiError],
    retry_after: int | None,
    transient: bool,
) -> None:
    async def go() -> model_api.ModelApiError:
        api = _client(stub.url)
        stub.state.inject["/v1/predict"] = [Injected(status, headers, {"status": status, "detail": "refused"})]
        with pytest.raises(error) as caught:
            await api.predict(RECORD)
        await api.aclose()
        return caught.value

    exc = run(go())
    assert exc.status == status and exc.retry_after == retry_after and exc.transient is transient
    assert exc.what and exc.todo
    if retry_after:
        assert str(retry_after) in exc.todo


def test_wrong_credentials(stub: Stub) -> None:
    async def go() -> None:
        api = _client(stub.url, secret="not-the-secret")
        with pytest.raises(model_api.Unauthorized):
            await api.model_card()
        await api.aclose()

    run(go())
    assert stub.state.count("/v1/auth/token") == 1 and stub.state.count("/v1/model") == 0


def test_no_secret_is_not_configured(stub: Stub) -> None:
    async def go() -> None:
        api = _client(stub.url, secret=None)
        with pytest.raises(model_api.NotConfigured):
            await api.model_card()
        await api.aclose()

    run(go())
    assert not stub.state.requests


def test_a_slow_service_times_out() -> None:
    with stub_api(delay_s=1.5) as slow:

        async def go() -> None:
            api = _client(slow.url, timeout_s=0.3)
            with pytest.raises(model_api.Timeout) as caught:
                await api.predict(RECORD)
            assert caught.value.transient
            await api.aclose()

        run(go())


def test_a_refused_connection_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the connection is refused

        async def go() -> None:
            api = _client(f"http://127.0.0.1:{port}")
            with pytest.raises(model_api.Unreachable):
                await api.model_card()
            await api.aclose()

        run(go())


def test_secret_from_environment_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ModelApiSettings(secret_file=tmp_path / "secret")
    monkeypatch.delenv(model_api.SECRET_ENV, raising=False)
    assert model_api.read_secret(settings) is None
    (tmp_path / "secret").write_text("from-file\n", encoding="utf-8")
    assert model_api.read_secret(settings) == "from-file"
    monkeypatch.setenv(model_api.SECRET_ENV, "from-env")
    assert model_api.read_secret(settings) == "from-env"


def test_the_settings_file_cannot_hold_the_secret(tmp_path: Path) -> None:
    path = write_settings(tmp_path, model_api={"client_secret": "in-a-file-under-git"})
    with pytest.raises(SettingsError, match="model_api.client_secret"):
        load_settings(path)
