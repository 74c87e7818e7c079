"""Token requests under a flood: per source address, globally, and a known client kept able to
authenticate (serve/api/routes/auth.py, admit_token_request; docs/auth.qmd, rate limits).

The flood comes from many source addresses, each an ASGI client address of its own, through the
real app and the real shared buckets. argon2 verifications are counted by wrapping the library's
own PasswordHasher.verify (the real hash still runs)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
from api_support import problem, sample_records
from argon2 import PasswordHasher, profiles

pytestmark = [
    pytest.mark.requirement("C9.3", "C9.9"),
    pytest.mark.catalogue(
        part="API: token endpoint limits under a flood",
        scope="integration",
        strategy="attack, load",
        tool="pytest, Starlette TestClient, real argon2",
    ),
]

USUAL = "testclient"  # the address Starlette's TestClient gives the known client's requests
REAL_ARGON2 = {
    "argon2_time_cost": profiles.RFC_9106_LOW_MEMORY.time_cost,
    "argon2_memory_cost": profiles.RFC_9106_LOW_MEMORY.memory_cost,
    "argon2_parallelism": profiles.RFC_9106_LOW_MEMORY.parallelism,
}


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The time of each argon2 verification made while the test runs."""
    calls: list[float] = []
    real = PasswordHasher.verify

    def counted(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        calls.append(time.monotonic())
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    yield calls


def guess(client_id: str, secret: str = "not-the-secret") -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}


def address(n: int) -> str:
    return f"198.51.100.{n}"  # TEST-NET-2: never a real client


async def flood(
    app, requests: list[tuple[str, dict[str, str]]], pace_s: float = 0.0, senders: int = 1
) -> list[httpx.Response]:
    """POST each (source address, form) to the token endpoint, from `senders` concurrent senders
    that each wait `pace_s` between requests; the answers in request order."""
    clients: dict[str, httpx.AsyncClient] = {}
    answers: list[httpx.Response | None] = [None] * len(requests)

    def client_of(source: str) -> httpx.AsyncClient:
        if source not in clients:
            clients[source] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(source, 40000)), base_url="http://testserver"
            )
        return clients[source]

    async def sender(first: int) -> None:
        for i in range(first, len(requests), senders):
            source, form = requests[i]
            answers[i] = await client_of(source).post("/v1/auth/token", data=form)
            await asyncio.sleep(pace_s)

    try:
        await asyncio.gather(*(sender(k) for k in range(senders)))
    finally:
        for client in clients.values():
            await client.aclose()
    return answers  # type: ignore[return-value]


def run(coro):
    return asyncio.run(coro)


def test_new_client_ids_from_one_address_are_limited_per_address(make_api):
    api = make_api(token_ip_rate_limit={"limit": 3, "window_s": 3600})
    answers = run(flood(api.app, [(address(1), guess(f"nobody-{i}")) for i in range(5)]))
    assert [r.status_code for r in answers] == [401, 401, 401, 429, 429]
    body = problem(answers[3], 429)
    assert "address" in body["detail"] and int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].headers["cache-control"] == "no-store"


def test_another_address_keeps_its_own_budget_while_one_is_limited(make_api):
    api = make_api(token_ip_rate_limit={"limit": 1, "window_s": 3600})
    answers = run(flood(api.app, [(address(1), guess("a")), (address(1), guess("b")), (address(2), guess("c"))]))
    assert [r.status_code for r in answers] == [401, 429, 401]


def test_a_flood_from_many_addresses_is_bounded_by_the_global_limit(make_api, verifications):
    api = make_api(
        token_ip_rate_limit={"limit": 2, "window_s": 3600}, token_global_rate_limit={"limit": 5, "window_s": 3600}
    )
    answers = run(flood(api.app, [(address(n), guess(f"nobody-{n}-{i}")) for n in range(20) for i in range(2)]))
    statuses = [r.status_code for r in answers]
    assert statuses.count(401) == 5 and statuses.count(429) == 35
    assert len(verifications) == 5  # no argon2 for a refused request
    assert "unknown" in problem(answers[-1], 429)["detail"]


def test_a_known_client_authenticates_from_its_usual_address_during_a_flood_on_its_id(make_api):
    api = make_api(
        token_ip_rate_limit={"limit": 2, "window_s": 3600},
        token_global_rate_limit={"limit": 3, "window_s": 3600},
        token_rate_limit={"limit": 3, "window_s": 3600},
    )
    assert api.token("clinic").status_code == 200  # its usual address is now known for it
    # Others guess its secret and spray unknown ids from many addresses: every budget they can
    # reach is used up.
    answers = run(flood(api.app, [(address(n), guess("clinic" if n % 2 else f"nobody-{n}")) for n in range(30)]))
    assert answers[-1].status_code == 429
    assert api.token("clinic").status_code == 200


def test_the_known_client_still_has_a_bounded_number_of_guesses_from_its_own_address(make_api):
    api = make_api(token_rate_limit={"limit": 2, "window_s": 3600})
    assert api.token("clinic").status_code == 200
    r = api.client.post("/v1/auth/token", data=guess("clinic"))
    assert r.status_code == 401
    r = api.client.post("/v1/auth/token", data=guess("clinic"))
    assert "this client" in problem(r, 429)["detail"]


def test_a_client_from_a_new_address_waits_while_the_global_budget_is_spent(make_api):
    # The price of the global bound, written down in docs/auth.qmd: a first authentication from
    # an address that is not known for that client waits for the flood to pass.
    api = make_api(token_global_rate_limit={"limit": 2, "window_s": 3600})
    run(flood(api.app, [(address(n), guess(f"nobody-{n}")) for n in range(3)]))
    problem(api.token("clinic"), 429)


def test_predictions_keep_their_latency_during_a_flood_of_token_requests(make_api, verifications):
    # Real argon2 cost: an unknown id costs a full dummy hash, as in production.
    budget = 2
    api = make_api(
        token_ip_rate_limit={"limit": 2, "window_s": 3600},
        token_global_rate_limit={"limit": budget, "window_s": 3600},
        rate_limit={"limit": 100_000, "window_s": 60},
        **REAL_ARGON2,
    )
    body = {"records": sample_records(1)}
    headers = api.headers("clinic")
    verifications.clear()  # the clinic's own token, issued just now

    async def scenario() -> tuple[list[float], list[float], list[httpx.Response]]:
        transport = httpx.ASGITransport(app=api.app, client=(USUAL, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def predict_once() -> float:
                t0 = time.perf_counter()
                r = await client.post("/v1/predict", json=body, headers=headers)
                assert r.status_code == 200, r.text
                return time.perf_counter() - t0

            before = [await predict_once() for _ in range(40)]
            requests = [(address(n), guess(f"nobody-{n}-{i}")) for n in range(40) for i in range(3)]
            attack = asyncio.ensure_future(flood(api.app, requests, pace_s=0.2, senders=8))
            during = []
            while not attack.done():
                during.append(await predict_once())
                await asyncio.sleep(0.005)
            return before, during, await attack

    before, during, answers = run(scenario())
    # Deterministic: the 120 requests of the flood caused no more argon2 work than the budget.
    assert len(verifications) <= budget
    assert sum(r.status_code == 401 for r in answers) == len(verifications)
    assert len(during) >= 50
    p50_before, p50_during = statistics.median(before), statistics.median(during)
    # Generous: a shared 2-core machine is noisy, and the flood's refused requests still take
    # their turns on the event loop. Without the limits every core is busy hashing and the
    # median grows by far more than this (docs/auth.qmd).
    assert p50_during < 4 * p50_before + 0.010, (p50_before, p50_during)


async def renewals(app, path: str, form: dict[str, str], sources: list[str]) -> list[httpx.Response]:
    """POST `form` to `path` once from each source address, in order."""
    answers = []
    for source in sources:
        transport = httpx.ASGITransport(app=app, client=(source, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answers.append(await client.post(path, data=form))
    return answers


@pytest.mark.parametrize(
    "path, form, refused",
    [
        ("/v1/auth/refresh", {"refresh_token": "not-a-token"}, 400),
        ("/v1/auth/token", {"grant_type": "refresh_token", "refresh_token": "not-a-token"}, 400),
        ("/v1/auth/revoke", {"token": "not-a-token"}, 200),
    ],
)
def test_renewals_and_revocations_are_limited_per_address_and_spare_other_addresses(make_api, path, form, refused):
    api = make_api(renew_ip_rate_limit={"limit": 2, "window_s": 3600})
    answers = run(renewals(api.app, path, form, [address(1)] * 3 + [address(2)]))
    assert [r.status_code for r in answers] == [refused, refused, 429, refused]
    body = problem(answers[2], 429)
    assert "renewals" in body["detail"] and int(answers[2].headers["retry-after"]) >= 1
    assert answers[2].headers["cache-control"] == "no-store"
